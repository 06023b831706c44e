"""Size limits and per-shard throughput limits (spec §6.3), and boto3 retrying throttles."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from kinesis_helpers import iterator, put_batch

from tule.clock import ManualClock
from tule.testing import TuleServer

MIB = 1 << 20


def _quarter(key: str) -> int:
    """Which of four even shards a partition key goes to."""
    return int.from_bytes(hashlib.md5(key.encode()).digest(), "big") * 4 >> 128


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    e = err.value.response["Error"]
    return e["Code"], e["Message"]


def test_a_record_over_one_mib_is_refused(kinesis: Any, stream: str):
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"x" * (MIB - 1))
    with pytest.raises(ClientError) as err:
        kinesis.put_record(StreamName=stream, PartitionKey="kk", Data=b"x" * (MIB - 1))
    assert _error(err) == (
        "ValidationException",
        "1 validation error detected: Value at 'data' failed to satisfy constraint: Member "
        "must have length less than or equal to 1048576",
    )


def test_put_records_refuses_more_than_500_records(kinesis: Any, stream: str):
    with pytest.raises(ClientError) as err:
        put_batch(kinesis, stream, [(f"k{i}", b"x") for i in range(501)])
    code, message = _error(err)
    assert code == "ValidationException"
    assert "Member must have length less than or equal to 500" in message


def test_put_records_refuses_more_than_five_mib_in_all(kinesis: Any, stream: str):
    with pytest.raises(ClientError) as err:
        put_batch(kinesis, stream, [(f"k{i}", b"x" * (MIB - 10)) for i in range(6)])
    assert _error(err) == ("InvalidArgumentException", "Records size exceeds 5 MB limit")
    with pytest.raises(ClientError) as err:
        put_batch(kinesis, stream, [("k", b"x" * (MIB + 1))])
    code, message = _error(err)
    assert code == "ValidationException" and "records.1.member.data" in message


def test_the_1001st_record_in_a_second_on_one_shard_is_throttled(
    kinesis: Any, stream: str, clock: ManualClock
):
    first = put_batch(kinesis, stream, [("hot", b"x")] * 500)
    second = put_batch(kinesis, stream, [("hot", b"x")] * 500)
    assert first["FailedRecordCount"] == second["FailedRecordCount"] == 0
    shard = first["Records"][0]["ShardId"]
    cold = next(k for k in (f"c{i}" for i in range(100)) if _quarter(k) != _quarter("hot"))
    mixed = put_batch(kinesis, stream, [("hot", b"x"), (cold, b"y")])
    assert mixed["FailedRecordCount"] == 1
    refused, other = mixed["Records"]
    assert refused == {
        "ErrorCode": "ProvisionedThroughputExceededException",
        "ErrorMessage": f"Rate exceeded for shard {shard} in stream {stream} under account "
        "000000000000.",
    }
    assert "SequenceNumber" in other  # another shard's record goes through
    with pytest.raises(ClientError) as err:
        kinesis.put_record(StreamName=stream, PartitionKey="hot", Data=b"x")
    assert _error(err)[0] == "ProvisionedThroughputExceededException"
    clock.advance(1)
    assert kinesis.put_record(StreamName=stream, PartitionKey="hot", Data=b"x")["ShardId"] == shard


def test_more_than_one_mib_in_a_second_on_one_shard_is_throttled(
    kinesis: Any, stream: str, clock: ManualClock
):
    half = b"x" * (MIB // 2 - 10)
    assert put_batch(kinesis, stream, [("hot", half), ("hot", half)])["FailedRecordCount"] == 0
    assert put_batch(kinesis, stream, [("hot", b"x" * 100)])["FailedRecordCount"] == 1
    clock.advance(1)
    assert put_batch(kinesis, stream, [("hot", b"x" * 100)])["FailedRecordCount"] == 0


def test_a_sixth_get_records_call_in_a_second_is_throttled(
    kinesis: Any, stream: str, clock: ManualClock
):
    it = iterator(kinesis, stream, "shardId-000000000000")
    for _ in range(5):
        it = kinesis.get_records(ShardIterator=it)["NextShardIterator"]
    with pytest.raises(ClientError) as err:
        kinesis.get_records(ShardIterator=it)
    assert _error(err)[0] == "ProvisionedThroughputExceededException"
    clock.advance(1)
    kinesis.get_records(ShardIterator=it)


def test_reads_over_two_mib_per_second_are_throttled_until_repaid(
    kinesis: Any, stream: str, clock: ManualClock
):
    big = b"x" * (MIB - 100)
    for _ in range(5):
        assert put_batch(kinesis, stream, [("hot", big)])["FailedRecordCount"] == 0
        clock.advance(1)
    shard = kinesis.put_record(StreamName=stream, PartitionKey="hot", Data=b"")["ShardId"]
    page = kinesis.get_records(ShardIterator=iterator(kinesis, stream, shard))
    assert len(page["Records"]) == 6  # one call may return more than the per-second budget
    with pytest.raises(ClientError) as err:
        kinesis.get_records(ShardIterator=page["NextShardIterator"])
    assert _error(err)[0] == "ProvisionedThroughputExceededException"
    clock.advance(1)  # 5 MiB read against 2 MiB/s: still in debt after one second
    with pytest.raises(ClientError):
        kinesis.get_records(ShardIterator=page["NextShardIterator"])
    clock.advance(1)
    kinesis.get_records(ShardIterator=page["NextShardIterator"])


def test_boto3_retries_absorb_throttling_on_the_real_clock(tmp_path: Any):
    with TuleServer(tmp_path, fsync=False) as real:
        plain = real.client("kinesis")
        plain.create_stream(StreamName="busy", ShardCount=1)
        retrying = real.client(
            "kinesis", config=Config(retries={"mode": "standard", "max_attempts": 10})
        )
        throttled = False
        for _ in range(5):  # fill a second's 1,000 records until a plain put is refused
            put_batch(plain, "busy", [("k", b"x")] * 500)
            put_batch(plain, "busy", [("k", b"x")] * 500)
            try:
                plain.put_record(StreamName="busy", PartitionKey="k", Data=b"x")
            except ClientError as err:
                assert err.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
                throttled = True
                break
        assert throttled
        put = retrying.put_record(StreamName="busy", PartitionKey="k", Data=b"made it")
        assert put["SequenceNumber"]
        records = plain.get_records(ShardIterator=iterator(plain, "busy", "shardId-000000000000"))
        assert records["Records"][-1]["Data"] == b"made it"


def test_limits_can_be_turned_off(tmp_path: Any):
    clock = ManualClock(start=1_700_000_000.0)
    with TuleServer(tmp_path, clock=clock, fsync=False, kinesis_throughput_limits=False) as free:
        k = free.client("kinesis")
        k.create_stream(StreamName="bulk", ShardCount=1)
        for _ in range(4):
            assert put_batch(k, "bulk", [("k", b"x")] * 500)["FailedRecordCount"] == 0
        it = iterator(k, "bulk", "shardId-000000000000")
        for _ in range(8):
            it = k.get_records(ShardIterator=it, Limit=1)["NextShardIterator"]


def test_a_record_without_partition_key_is_a_validation_error(kinesis: Any, stream: str) -> None:
    # The model lets PartitionKey be omitted; tule routes by key, so it asks for one.
    with pytest.raises(ClientError) as excinfo:
        kinesis.put_record(StreamName=stream, Data=b"x")
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert "partitionKey" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as excinfo:
        kinesis.put_records(
            StreamName=stream, Records=[{"Data": b"x", "PartitionKey": "k"}, {"Data": b"y"}]
        )
    assert "records.2.member.partitionKey" in excinfo.value.response["Error"]["Message"]
