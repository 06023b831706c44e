"""PutRecord/PutRecords routing and GetShardIterator/GetRecords positions, through boto3."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kinesis_helpers import drain, iterator, put_batch, shard_ids

from tule.clock import ManualClock


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def _message(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Message"]


def test_records_go_to_the_shard_whose_range_holds_the_md5_of_their_key(kinesis: Any, stream: str):
    shards = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"]
    for key in ["pk", "alpha", "beta", "gamma", "δέλτα"]:
        put = kinesis.put_record(StreamName=stream, PartitionKey=key, Data=b"x")
        h = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
        (expected,) = [
            s["ShardId"]
            for s in shards
            if int(s["HashKeyRange"]["StartingHashKey"])
            <= h
            <= int(s["HashKeyRange"]["EndingHashKey"])
        ]
        assert put["ShardId"] == expected
    # The spec's worked example: MD5("pk") falls in the first of four shards.
    assert kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=b"")["ShardId"] == (
        "shardId-000000000000"
    )


def test_explicit_hash_key_overrides_the_partition_key(kinesis: Any, stream: str):
    last = str((1 << 128) - 1)
    put = kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=b"x", ExplicitHashKey=last)
    assert put["ShardId"] == "shardId-000000000003"
    with pytest.raises(ClientError) as err:
        kinesis.put_record(
            StreamName=stream, PartitionKey="pk", Data=b"x", ExplicitHashKey=str(1 << 128)
        )
    assert _code(err) == "InvalidArgumentException"


def test_every_record_is_read_exactly_once_and_in_put_order_per_key(
    kinesis: Any, stream: str, clock: ManualClock
):
    sent: dict[str, list[bytes]] = defaultdict(list)
    seqs: dict[str, list[int]] = defaultdict(list)
    for batch in range(6):
        items = []
        for i in range(400):
            key = f"user-{(i * 7 + batch) % 97}"
            data = f"{key}:{batch}:{i}".encode()
            items.append((key, data))
            sent[key].append(data)
        result = put_batch(kinesis, stream, items)
        assert result["FailedRecordCount"] == 0
        for (key, _), r in zip(items, result["Records"], strict=True):
            seqs[key].append(int(r["SequenceNumber"]))
        clock.advance(1)  # stay under 1,000 records per shard per second
    received: dict[str, list[bytes]] = defaultdict(list)
    total = 0
    for shard in shard_ids(kinesis, stream):
        records, _ = drain(kinesis, iterator(kinesis, stream, shard), limit=333)
        numbers = [int(r["SequenceNumber"]) for r in records]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        for r in records:
            received[r["PartitionKey"]].append(r["Data"])
        total += len(records)
    assert total == 2400
    assert received == sent
    for numbers in seqs.values():
        assert numbers == sorted(numbers)


def test_sequence_numbers_are_long_decimal_strings_unique_across_shards(kinesis: Any, stream: str):
    result = put_batch(kinesis, stream, [(f"k{i}", b"v") for i in range(200)])
    numbers = [r["SequenceNumber"] for r in result["Records"]]
    assert all(n.isdigit() and 50 <= len(n) <= 60 for n in numbers)
    assert len(set(numbers)) == 200


def test_get_records_honours_limit_and_returns_arrival_times(
    kinesis: Any, stream: str, clock: ManualClock
):
    when = clock.time()
    put_batch(kinesis, stream, [("same", f"{i}".encode()) for i in range(10)])
    shard = kinesis.put_record(StreamName=stream, PartitionKey="same", Data=b"10")["ShardId"]
    page = kinesis.get_records(ShardIterator=iterator(kinesis, stream, shard), Limit=4)
    assert [r["Data"] for r in page["Records"]] == [b"0", b"1", b"2", b"3"]
    arrival = page["Records"][0]["ApproximateArrivalTimestamp"]
    assert arrival == datetime.fromtimestamp(when, UTC)
    clock.advance(2)
    behind = kinesis.get_records(ShardIterator=page["NextShardIterator"], Limit=4)
    assert behind["MillisBehindLatest"] == 2000
    rest, last = drain(kinesis, behind["NextShardIterator"])
    assert [r["Data"] for r in rest] == [b"8", b"9", b"10"]
    assert last["MillisBehindLatest"] == 0


def test_at_and_after_sequence_number_start_at_and_after_that_record(kinesis: Any, stream: str):
    result = put_batch(kinesis, stream, [("k", f"{i}".encode()) for i in range(5)])
    shard = result["Records"][0]["ShardId"]
    third = result["Records"][2]["SequenceNumber"]
    at = iterator(kinesis, stream, shard, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=third)
    after = iterator(kinesis, stream, shard, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=third)
    assert [r["Data"] for r in drain(kinesis, at)[0]] == [b"2", b"3", b"4"]
    assert [r["Data"] for r in drain(kinesis, after)[0]] == [b"3", b"4"]


def test_a_sequence_number_from_another_shard_is_refused(kinesis: Any, stream: str):
    put = kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=b"x")
    assert put["ShardId"] == "shardId-000000000000"
    with pytest.raises(ClientError) as err:
        iterator(
            kinesis,
            stream,
            "shardId-000000000001",
            "AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=put["SequenceNumber"],
        )
    assert _code(err) == "InvalidArgumentException"
    assert "It encodes shardId-000000000000" in _message(err)


def test_sequence_number_iterators_need_their_sequence_number(kinesis: Any, stream: str):
    with pytest.raises(ClientError) as err:
        iterator(kinesis, stream, "shardId-000000000000", "AT_SEQUENCE_NUMBER")
    assert _code(err) == "InvalidArgumentException"
    with pytest.raises(ClientError) as err:
        iterator(kinesis, stream, "shardId-000000000000", "AT_TIMESTAMP")
    assert _code(err) == "InvalidArgumentException"


def test_latest_sees_only_records_put_after_it(kinesis: Any, stream: str):
    kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=b"before")
    latest = iterator(kinesis, stream, "shardId-000000000000", "LATEST")
    kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=b"after")
    assert [r["Data"] for r in drain(kinesis, latest)[0]] == [b"after"]


def test_at_timestamp_starts_at_the_first_record_that_arrived_then(
    kinesis: Any, stream: str, clock: ManualClock
):
    kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=b"old")
    clock.advance(10)
    middle = clock.time()
    kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=b"new")
    at = iterator(kinesis, stream, "shardId-000000000000", "AT_TIMESTAMP", Timestamp=middle - 5)
    assert [r["Data"] for r in drain(kinesis, at)[0]] == [b"new"]
    early = iterator(kinesis, stream, "shardId-000000000000", "AT_TIMESTAMP", Timestamp=0)
    assert [r["Data"] for r in drain(kinesis, early)[0]] == [b"old", b"new"]
    future = iterator(
        kinesis, stream, "shardId-000000000000", "AT_TIMESTAMP", Timestamp=middle + 3600
    )
    assert drain(kinesis, future)[0] == []


def test_iterators_expire_after_five_minutes(kinesis: Any, stream: str, clock: ManualClock):
    it = iterator(kinesis, stream, "shardId-000000000000")
    clock.advance(299)
    page = kinesis.get_records(ShardIterator=it)  # still valid, and the old one stays usable
    clock.advance(2)
    with pytest.raises(ClientError) as err:
        kinesis.get_records(ShardIterator=it)
    assert _code(err) == "ExpiredIteratorException"
    assert "tolerated delay of 300000 milliseconds" in _message(err)
    # The iterator handed out 2 s ago is still good.
    kinesis.get_records(ShardIterator=page["NextShardIterator"])


def test_garbage_iterators_are_invalid(kinesis: Any, stream: str):
    with pytest.raises(ClientError) as err:
        kinesis.get_records(ShardIterator="not-an-iterator")
    assert _code(err) == "InvalidArgumentException"
    assert _message(err) == "Invalid ShardIterator."


def test_iterators_of_a_deleted_and_recreated_stream_are_refused(kinesis: Any, names: Any):
    name = names("recreated")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    it = iterator(kinesis, name, "shardId-000000000000")
    kinesis.delete_stream(StreamName=name)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    with pytest.raises(ClientError) as err:
        kinesis.get_records(ShardIterator=it)
    assert _code(err) == "ResourceNotFoundException"


def test_stream_arn_is_accepted_in_place_of_the_name(kinesis: Any, stream: str):
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    assert arn == f"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"
    put = kinesis.put_record(StreamARN=arn, PartitionKey="pk", Data=b"by-arn")
    it = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    page = kinesis.get_records(ShardIterator=it, StreamARN=arn)
    assert [r["Data"] for r in page["Records"]] == [b"by-arn"]


def test_unknown_shard_is_reported_with_aws_wording(kinesis: Any, stream: str):
    with pytest.raises(ClientError) as err:
        iterator(kinesis, stream, "shardId-000000000099")
    assert _code(err) == "ResourceNotFoundException"
    assert _message(err) == (
        f"Shard shardId-000000000099 in stream {stream} under account 000000000000 does not exist"
    )
