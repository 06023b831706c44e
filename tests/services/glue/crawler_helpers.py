"""Helpers for the Glue crawler tests: running a crawl to the end, writing test data."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROLE = "arn:aws:iam::000000000000:role/service-role/AWSGlueServiceRole-test"


def crawl(glue: Any, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """Start crawler `name` and poll GetCrawler until that crawl is over (there is no waiter
    for crawlers); returns the crawler as GetCrawler then shows it."""
    before = glue.get_crawler(Name=name)["Crawler"].get("LastCrawl", {}).get("MessagePrefix")
    glue.start_crawler(Name=name)
    return wait_ready(glue, name, before, timeout)


def wait_ready(
    glue: Any, name: str, previous_prefix: str | None, timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        crawler = glue.get_crawler(Name=name)["Crawler"]
        last = crawler.get("LastCrawl") or {}
        if crawler["State"] == "READY" and last.get("MessagePrefix") not in (None, previous_prefix):
            return crawler
        if time.monotonic() > deadline:
            raise AssertionError(f"crawler {name} still {crawler['State']} after {timeout}s")
        time.sleep(0.02)


def make_crawler(glue: Any, name: str, database: str, *paths: str, **extra: Any) -> None:
    targets = [{"Path": p} for p in paths]
    if "Exclusions" in extra:
        for t in targets:
            t["Exclusions"] = extra.pop("Exclusions")
    glue.create_crawler(
        Name=name, Role=ROLE, DatabaseName=database, Targets={"S3Targets": targets}, **extra
    )


def columns(table: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def json_lines(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


# A minimal Avro object container writer (no Avro library in the environment): header with
# the schema, one block of records encoded by hand for the simple types used in the tests.


def _zigzag(n: int) -> bytes:
    value = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _avro_string(s: str | bytes) -> bytes:
    data = s.encode() if isinstance(s, str) else s
    return _zigzag(len(data)) + data


def avro_bytes(schema: dict[str, Any], rows: list[list[bytes]]) -> bytes:
    """An Avro file with `schema`; each row is its fields already Avro-encoded."""
    sync = b"0123456789abcdef"
    meta = {"avro.schema": json.dumps(schema).encode(), "avro.codec": b"null"}
    header = b"Obj\x01" + _zigzag(len(meta))
    for key, value in meta.items():
        header += _avro_string(key) + _avro_string(value)
    header += _zigzag(0) + sync
    body = b"".join(b"".join(fields) for fields in rows)
    return header + _zigzag(len(rows)) + _zigzag(len(body)) + body + sync


def avro_long(n: int) -> bytes:
    return _zigzag(n)


def avro_str(s: str) -> bytes:
    return _avro_string(s)
