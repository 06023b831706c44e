"""Shared values and small helpers for the Firehose tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

ROLE = "arn:aws:iam::000000000000:role/firehose"
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def s3_destination(bucket: str, **extra: Any) -> dict[str, Any]:
    return {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}", **extra}


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return out


def wait_keys(s3: Any, bucket: str, count: int, timeout: float = 10.0) -> list[str]:
    """The bucket's keys once there are at least `count` (the flusher runs on its own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        found = keys(s3, bucket)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def body(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
