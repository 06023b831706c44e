"""`application/jsonlines`: one instance object per line in requests, one per-row object per
line in responses (no wrapper), as the IM-family containers and batch transform use them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tule.algorithms.base import DataError
from tule.algorithms.formats.dataset import Dataset, ReadOptions
from tule.algorithms.formats.json import instances_to_dataset, rows


def decode(body: bytes, opts: ReadOptions) -> Dataset:
    instances = []
    for number, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            instances.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"Unable to parse JSON Lines request: line {number}: {exc}.") from None
    return instances_to_dataset(instances, opts)


def encode(outputs: Mapping[str, Any]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows(outputs))
