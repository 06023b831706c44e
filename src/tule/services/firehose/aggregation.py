"""De-aggregation of KPL aggregated records (the Kinesis Producer Library's packing format).

An aggregated record is the magic bytes F3 89 9A C2, a protobuf `AggregatedRecord`
(1: partition key table, 2: explicit hash key table, 3: records, each with 1: partition key
index, 2: explicit hash key index, 3: data, 4: tags) and the MD5 digest of the protobuf bytes.
A record without the magic, or whose digest does not match, is an ordinary record and passes
through as it is, as consumers of Kinesis do.

This is a small decoder of our own rather than a call into the Kinesis service package:
services reach each other only through their public domain object, and the format is tiny.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST = 16


@dataclass(frozen=True)
class UserRecord:
    """One record packed in an aggregated record, with its index (the sub-sequence number)."""

    partition_key: str | None
    data: bytes
    sub_sequence: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one protobuf message."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("truncated field")
            out.append((number, buf[pos : pos + size]))
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def is_aggregated(data: bytes) -> bool:
    if len(data) <= len(MAGIC) + _DIGEST or not data.startswith(MAGIC):
        return False
    body = data[len(MAGIC) : -_DIGEST]
    return hashlib.md5(body).digest() == data[-_DIGEST:]


def deaggregate(data: bytes) -> list[UserRecord] | None:
    """The user records packed in `data`, or None when it is not a valid aggregated record."""
    if not is_aggregated(data):
        return None
    try:
        message = _fields(data[len(MAGIC) : -_DIGEST])
        keys = [bytes(v).decode() for n, v in message if n == 1 and isinstance(v, bytes)]
        records: list[UserRecord] = []
        for number, value in message:
            if number != 3 or not isinstance(value, bytes):
                continue
            fields = dict(_fields(value))
            index = fields.get(1)
            payload = fields.get(3, b"")
            key = keys[index] if isinstance(index, int) and index < len(keys) else None
            records.append(
                UserRecord(key, bytes(payload) if isinstance(payload, bytes) else b"", len(records))
            )
        return records
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
