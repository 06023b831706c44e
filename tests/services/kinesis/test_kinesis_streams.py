"""Stream lifecycle, listings, tags, limits and consumers, through boto3."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

MAX = (1 << 128) - 1


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    e = err.value.response["Error"]
    return e["Code"], e["Message"]


def test_a_new_stream_is_active_at_once_so_the_waiter_returns_promptly(kinesis: Any, names: Any):
    name = names("waited")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    started = time.monotonic()
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    assert time.monotonic() - started < 2  # the waiter polls every 10 s
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2
    assert summary["RetentionPeriodHours"] == 24
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}


def test_initial_shards_split_the_hash_key_space_evenly(kinesis: Any, stream: str):
    shards = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"]
    assert [s["ShardId"] for s in shards] == [f"shardId-00000000000{i}" for i in range(4)]
    ranges = [
        (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
        for s in shards
    ]
    step = (1 << 128) // 4
    assert ranges == [
        (0, step - 1),
        (step, 2 * step - 1),
        (2 * step, 3 * step - 1),
        (3 * step, MAX),
    ]
    assert ranges[1][0] == 85070591730234615865843651857942052864  # the spec's table
    assert all("EndingSequenceNumber" not in s["SequenceNumberRange"] for s in shards)


def test_on_demand_streams_start_with_four_shards(kinesis: Any, names: Any):
    name = names("ondemand")
    kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert summary["OpenShardCount"] == 4
    with pytest.raises(ClientError) as err:
        kinesis.update_shard_count(
            StreamName=name, TargetShardCount=8, ScalingType="UNIFORM_SCALING"
        )
    assert _error(err)[0] == "ValidationException"


def test_update_stream_mode_switches_the_mode_and_refuses_the_current_one(kinesis: Any, names: Any):
    name = names("modes")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    with pytest.raises(ClientError) as err:
        kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert _error(err)[0] == "InvalidArgumentException"


def test_provisioned_streams_need_a_shard_count(kinesis: Any, names: Any):
    with pytest.raises(ClientError) as err:
        kinesis.create_stream(StreamName=names("noshards"))
    assert _error(err)[0] == "InvalidArgumentException"


def test_creating_an_existing_stream_is_refused(kinesis: Any, stream: str):
    with pytest.raises(ClientError) as err:
        kinesis.create_stream(StreamName=stream, ShardCount=1)
    assert _error(err)[0] == "ResourceInUseException"


def test_unknown_streams_are_reported_with_aws_wording(kinesis: Any):
    with pytest.raises(ClientError) as err:
        kinesis.describe_stream(StreamName="nope")
    assert _error(err) == (
        "ResourceNotFoundException",
        "Stream nope under account 000000000000 not found.",
    )
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.put_record(StreamName="nope", PartitionKey="k", Data=b"x")


def test_deleted_streams_are_gone(kinesis: Any, names: Any):
    name = names("doomed")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.put_record(StreamName=name, PartitionKey="k", Data=b"x")
    kinesis.delete_stream(StreamName=name)
    kinesis.get_waiter("stream_not_exists").wait(StreamName=name)
    assert name not in kinesis.list_streams()["StreamNames"]
    kinesis.create_stream(StreamName=name, ShardCount=1)
    it = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert kinesis.get_records(ShardIterator=it)["Records"] == []


def test_list_streams_pages_in_name_order(kinesis: Any, names: Any):
    made = sorted(names(f"list{i}") for i in range(5))
    for name in made:
        kinesis.create_stream(StreamName=name, ShardCount=1)
    seen: list[str] = []
    for page in kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2}):
        seen.extend(page["StreamNames"])
        assert len(page["StreamSummaries"]) == len(page["StreamNames"])
    assert seen == sorted(seen)
    assert set(made) <= set(seen)
    first = kinesis.list_streams(Limit=1, ExclusiveStartStreamName=made[0])
    assert first["StreamNames"] == [made[1]] and first["HasMoreStreams"]


def test_list_shards_pages_with_next_token(kinesis: Any, names: Any):
    name = names("many")
    kinesis.create_stream(StreamName=name, ShardCount=5)
    page = kinesis.list_shards(StreamName=name, MaxResults=2)
    ids = [s["ShardId"] for s in page["Shards"]]
    while "NextToken" in page:
        page = kinesis.list_shards(NextToken=page["NextToken"], MaxResults=2)
        ids += [s["ShardId"] for s in page["Shards"]]
    assert ids == [f"shardId-00000000000{i}" for i in range(5)]
    after = kinesis.list_shards(StreamName=name, ExclusiveStartShardId="shardId-000000000003")
    assert [s["ShardId"] for s in after["Shards"]] == ["shardId-000000000004"]
    with pytest.raises(ClientError) as err:
        kinesis.list_shards(StreamName=name, NextToken=page.get("NextToken", "x"))
    assert _error(err)[0] == "InvalidArgumentException"


def test_list_shards_filters_open_and_closed_shards(kinesis: Any, names: Any, clock: Any):
    name = names("filtered")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    clock.advance(10)
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey="1000"
    )

    def ids(**f: Any) -> list[str]:
        shards = kinesis.list_shards(StreamName=name, ShardFilter=f)["Shards"]
        return [s["ShardId"] for s in shards]

    assert ids(Type="AT_LATEST") == [f"shardId-00000000000{i}" for i in (1, 2, 3)]
    assert ids(Type="AT_TRIM_HORIZON") == ["shardId-000000000000", "shardId-000000000001"]
    assert len(ids(Type="FROM_TRIM_HORIZON")) == 4
    assert ids(Type="AFTER_SHARD_ID", ShardId="shardId-000000000001") == [
        "shardId-000000000002",
        "shardId-000000000003",
    ]
    assert ids(Type="AT_TIMESTAMP", Timestamp=clock.time() - 5) == [
        "shardId-000000000000",
        "shardId-000000000001",
    ]


def test_tags_through_both_apis(kinesis: Any, names: Any):
    name = names("tagged")
    kinesis.create_stream(StreamName=name, ShardCount=1, Tags={"team": "ml"})
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    kinesis.add_tags_to_stream(StreamName=name, Tags={"env": "dev", "cost": "1"})
    kinesis.tag_resource(ResourceARN=arn, Tags={"owner": "me"})
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["cost"])
    kinesis.untag_resource(ResourceARN=arn, TagKeys=["owner"])
    expected = [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "ml"}]
    assert kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"] == expected
    page = kinesis.list_tags_for_stream(StreamName=name, Limit=1)
    assert page["Tags"] == expected[:1] and page["HasMoreTags"]
    rest = kinesis.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="env")
    assert rest["Tags"] == expected[1:] and not rest["HasMoreTags"]


def test_describe_limits_counts_open_shards(kinesis: Any, names: Any):
    before = kinesis.describe_limits()["OpenShardCount"]
    kinesis.create_stream(StreamName=names("counted"), ShardCount=3)
    limits = kinesis.describe_limits()
    assert limits["OpenShardCount"] == before + 3
    assert limits["ShardLimit"] == 500
    with pytest.raises(ClientError) as err:
        kinesis.create_stream(StreamName=names("toomany"), ShardCount=501)
    assert _error(err)[0] == "LimitExceededException"


def test_consumers_register_describe_list_and_deregister(kinesis: Any, names: Any):
    name = names("fanout")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app")["Consumer"]
    assert consumer["ConsumerARN"].startswith(f"{arn}/consumer/app:")
    described = kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])
    assert described["ConsumerDescription"]["StreamARN"] == arn
    assert described["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE"
    listed = kinesis.list_stream_consumers(StreamARN=arn)["Consumers"]
    assert [c["ConsumerName"] for c in listed] == ["app"]
    with pytest.raises(ClientError) as err:
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app")
    assert _error(err)[0] == "ResourceInUseException"
    with pytest.raises(ClientError) as err:
        kinesis.delete_stream(StreamName=name)
    assert _error(err)[0] == "ResourceInUseException"
    kinesis.deregister_stream_consumer(StreamARN=arn, ConsumerName="app")
    assert kinesis.list_stream_consumers(StreamARN=arn)["Consumers"] == []
    kinesis.delete_stream(StreamName=name)
