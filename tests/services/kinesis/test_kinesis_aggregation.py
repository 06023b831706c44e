"""KPL-aggregated records: stored as sent, and unpacked by tule's `deaggregate`."""

from __future__ import annotations

import hashlib
from typing import Any

from aws_kinesis_agg.aggregator import RecordAggregator
from kinesis_helpers import drain, iterator

from tule.services.kinesis.aggregation import MAGIC, UserRecord, deaggregate, is_aggregated


def _aggregate(users: list[tuple[str, str | None, bytes]]) -> tuple[str, str | None, bytes]:
    aggregator = RecordAggregator()
    for key, explicit, data in users:
        assert aggregator.add_user_record(key, data, explicit_hash_key=explicit) is None
    return aggregator.clear_and_get().get_contents()


def test_records_from_the_kpl_aggregator_round_trip_through_a_stream(kinesis: Any, stream: str):
    users = [
        (f"user-{i % 7}", str(i * 1000) if i % 3 == 0 else None, f"event {i}".encode())
        for i in range(40)
    ]
    key, explicit, blob = _aggregate(users)
    assert blob.startswith(MAGIC)
    put = (
        kinesis.put_record(StreamName=stream, PartitionKey=key, ExplicitHashKey=explicit, Data=blob)
        if explicit
        else kinesis.put_record(StreamName=stream, PartitionKey=key, Data=blob)
    )
    (record,) = drain(kinesis, iterator(kinesis, stream, put["ShardId"]))[0]
    assert record["Data"] == blob  # stored as sent
    unpacked = deaggregate(record["Data"])
    assert unpacked == [UserRecord(k, e, d, i) for i, (k, e, d) in enumerate(users)]


def test_a_plain_record_comes_back_as_one_user_record():
    assert deaggregate(b"just bytes", partition_key="pk") == [
        UserRecord("pk", None, b"just bytes", 0)
    ]


def test_a_record_failing_the_md5_check_comes_back_as_is():
    _, _, blob = _aggregate([("a", None, b"1"), ("b", None, b"2")])
    broken = blob[:-1] + bytes([blob[-1] ^ 0xFF])
    assert not is_aggregated(broken)
    assert deaggregate(broken, partition_key="outer") == [UserRecord("outer", None, broken, 0)]


def test_a_record_with_good_md5_but_bad_protobuf_comes_back_as_is():
    body = b"\x1a\xff\xff"  # field 3, length-delimited, claims more bytes than there are
    blob = MAGIC + body + hashlib.md5(body).digest()
    assert is_aggregated(blob)
    assert deaggregate(blob, partition_key="outer") == [UserRecord("outer", None, blob, 0)]
