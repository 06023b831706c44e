"""De-aggregating Kinesis Producer Library (KPL) records (spec §6.8): public, for any consumer.

An aggregated record is the magic bytes F3 89 9A C2, a protobuf `AggregatedRecord`, and the MD5
digest of that protobuf. Its messages, with the fields used here:

    AggregatedRecord { repeated string partition_key_table = 1;
                       repeated string explicit_hash_key_table = 2;
                       repeated Record records = 3; }
    Record { required uint64 partition_key_index = 1;
             optional uint64 explicit_hash_key_index = 2;
             required bytes data = 3;
             repeated Tag tags = 4; }           // skipped

The wire format is decoded here by hand: only varints and length-delimited fields occur, and
unknown fields are skipped by their wire type, as protobuf readers do. Stored records stay as
they were sent; `deaggregate` is what KCL, Lambda and Firehose do when they read them. A record
that is not aggregated, or fails the magic or MD5 check, or does not parse, comes back as one
user record holding the bytes as they are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST = 16


@dataclass(frozen=True)
class UserRecord:
    """One user record: from an aggregated record, or a plain record standing for itself."""

    partition_key: str
    explicit_hash_key: str | None
    data: bytes
    sub_sequence_number: int


class _Malformed(ValueError):
    pass


def _varint(buf: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(buf) or shift > 63:
            raise _Malformed("bad varint")
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(buf: memoryview) -> list[tuple[int, int | memoryview]]:
    """(field number, value) pairs: ints for varints, views for length-delimited fields."""
    out: list[tuple[int, int | memoryview]] = []
    at = 0
    while at < len(buf):
        key, at = _varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(buf, at)
            out.append((number, value))
        elif wire == 2:
            length, at = _varint(buf, at)
            if at + length > len(buf):
                raise _Malformed("truncated field")
            out.append((number, buf[at : at + length]))
            at += length
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        if at > len(buf):
            raise _Malformed("truncated field")
    return out


def _text(value: int | memoryview) -> str:
    if not isinstance(value, memoryview):
        raise _Malformed("expected a string")
    return bytes(value).decode("utf-8")


def _parse(body: memoryview) -> list[UserRecord]:
    keys: list[str] = []
    hash_keys: list[str] = []
    raw_records: list[memoryview] = []
    for number, value in _fields(body):
        if number == 1:
            keys.append(_text(value))
        elif number == 2:
            hash_keys.append(_text(value))
        elif number == 3:
            if not isinstance(value, memoryview):
                raise _Malformed("expected a record")
            raw_records.append(value)
    out: list[UserRecord] = []
    for sub, raw in enumerate(raw_records):
        key_index: int | None = None
        hash_index: int | None = None
        data: bytes | None = None
        for number, value in _fields(raw):
            if number == 1 and isinstance(value, int):
                key_index = value
            elif number == 2 and isinstance(value, int):
                hash_index = value
            elif number == 3 and isinstance(value, memoryview):
                data = bytes(value)
        if key_index is None or data is None or key_index >= len(keys):
            raise _Malformed("record without a valid partition key or data")
        if hash_index is not None and hash_index >= len(hash_keys):
            raise _Malformed("explicit hash key index out of range")
        explicit = hash_keys[hash_index] if hash_index is not None else None
        out.append(UserRecord(keys[key_index], explicit, data, sub))
    return out


def is_aggregated(data: bytes) -> bool:
    """Whether `data` has the magic bytes and a matching MD5 trailer."""
    if len(data) < len(MAGIC) + _DIGEST or not data.startswith(MAGIC):
        return False
    body = memoryview(data)[len(MAGIC) : -_DIGEST]
    return hashlib.md5(body).digest() == data[-_DIGEST:]


def deaggregate(
    data: bytes, *, partition_key: str = "", explicit_hash_key: str | None = None
) -> list[UserRecord]:
    """The user records in one Kinesis record's data. `partition_key` and
    `explicit_hash_key` (the Kinesis record's own) label a record that is not aggregated."""
    if is_aggregated(data):
        try:
            found = _parse(memoryview(data)[len(MAGIC) : -_DIGEST])
        except (_Malformed, UnicodeDecodeError):
            found = None
        if found:
            return found
    return [UserRecord(partition_key, explicit_hash_key, bytes(data), 0)]
