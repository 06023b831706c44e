"""SplitShard, MergeShards and UpdateShardCount: lineage, and every record read exactly once."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kinesis_helpers import drain, iterator, put_batch, read_lineage

from tule.clock import ManualClock

HALF = 1 << 127


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    e = err.value.response["Error"]
    return e["Code"], e["Message"]


def _put_round(kinesis: Any, stream: str, clock: ManualClock, tag: str, sent: dict) -> None:
    items = [(f"key-{i % 50}", f"{tag}:{i}".encode()) for i in range(300)]
    assert put_batch(kinesis, stream, items)["FailedRecordCount"] == 0
    for key, data in items:
        sent[key].append(data)
    clock.advance(1)


def test_after_a_split_and_a_merge_every_record_is_read_once_in_key_order(
    kinesis: Any, names: Any, clock: ManualClock
):
    stream = names("reshard")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    sent: dict[str, list[bytes]] = defaultdict(list)
    _put_round(kinesis, stream, clock, "a", sent)
    kinesis.split_shard(
        StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(HALF // 2)
    )
    _put_round(kinesis, stream, clock, "b", sent)
    kinesis.merge_shards(
        StreamName=stream,
        ShardToMerge="shardId-000000000003",
        AdjacentShardToMerge="shardId-000000000001",
    )
    _put_round(kinesis, stream, clock, "c", sent)

    shards = {s["ShardId"]: s for s in kinesis.list_shards(StreamName=stream)["Shards"]}
    assert shards["shardId-000000000002"]["ParentShardId"] == "shardId-000000000000"
    assert shards["shardId-000000000004"]["ParentShardId"] == "shardId-000000000003"
    assert shards["shardId-000000000004"]["AdjacentParentShardId"] == "shardId-000000000001"
    for closed in ("shardId-000000000000", "shardId-000000000001", "shardId-000000000003"):
        assert "EndingSequenceNumber" in shards[closed]["SequenceNumberRange"]
    assert int(shards["shardId-000000000004"]["HashKeyRange"]["StartingHashKey"]) == HALF // 2

    received: dict[str, list[bytes]] = defaultdict(list)
    records = read_lineage(kinesis, stream)
    for r in records:
        received[r["PartitionKey"]].append(r["Data"])
    assert len(records) == 900
    assert received == sent


def test_a_closed_shard_ends_with_its_children(kinesis: Any, names: Any):
    stream = names("ended")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"in parent")
    it = iterator(kinesis, stream, "shardId-000000000000")
    kinesis.split_shard(
        StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(HALF)
    )
    records, last = drain(kinesis, it)
    assert [r["Data"] for r in records] == [b"in parent"]
    assert "NextShardIterator" not in last
    assert [c["ShardId"] for c in last["ChildShards"]] == [
        "shardId-000000000001",
        "shardId-000000000002",
    ]
    assert all(c["ParentShards"] == ["shardId-000000000000"] for c in last["ChildShards"])
    # A record put after the split lands in a child, never in the closed parent.
    put = kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"in child")
    assert put["ShardId"] in ("shardId-000000000001", "shardId-000000000002")
    latest = iterator(kinesis, stream, "shardId-000000000000", "LATEST")
    assert "NextShardIterator" not in kinesis.get_records(ShardIterator=latest)


def test_update_shard_count_closes_the_open_shards_and_links_the_children(
    kinesis: Any, names: Any, clock: ManualClock
):
    stream = names("scaled")
    kinesis.create_stream(StreamName=stream, ShardCount=3)
    sent: dict[str, list[bytes]] = defaultdict(list)
    _put_round(kinesis, stream, clock, "before", sent)
    out = kinesis.update_shard_count(
        StreamName=stream, TargetShardCount=2, ScalingType="UNIFORM_SCALING"
    )
    assert (out["CurrentShardCount"], out["TargetShardCount"]) == (3, 2)
    _put_round(kinesis, stream, clock, "after", sent)
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2
    records = read_lineage(kinesis, stream)
    received: dict[str, list[bytes]] = defaultdict(list)
    for r in records:
        received[r["PartitionKey"]].append(r["Data"])
    assert received == sent
    with pytest.raises(ClientError) as err:
        kinesis.update_shard_count(
            StreamName=stream, TargetShardCount=5, ScalingType="UNIFORM_SCALING"
        )
    assert _error(err)[0] == "LimitExceededException"


def test_bad_resharding_requests_are_refused(kinesis: Any, names: Any):
    stream = names("refused")
    kinesis.create_stream(StreamName=stream, ShardCount=3)
    with pytest.raises(ClientError) as err:
        kinesis.split_shard(
            StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey="0"
        )
    assert _error(err)[0] == "InvalidArgumentException"
    with pytest.raises(ClientError) as err:
        kinesis.merge_shards(
            StreamName=stream,
            ShardToMerge="shardId-000000000000",
            AdjacentShardToMerge="shardId-000000000002",
        )
    assert _error(err)[0] == "InvalidArgumentException"
    with pytest.raises(ClientError) as err:
        kinesis.split_shard(
            StreamName=stream, ShardToSplit="shardId-000000000042", NewStartingHashKey="5"
        )
    assert _error(err)[0] == "ResourceNotFoundException"
    # Nothing changed.
    assert len(kinesis.list_shards(StreamName=stream)["Shards"]) == 3
