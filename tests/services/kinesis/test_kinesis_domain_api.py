"""The in-process API Firehose and other services read streams through (no HTTP, no limits)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tule.clock import ManualClock
from tule.config import Settings
from tule.errors import AwsError
from tule.services.base import ServiceEnv
from tule.services.kinesis import Kinesis, ShardView
from tule.services.kinesis.records import Entries

ACCOUNT, REGION = "000000000000", "us-east-1"


@pytest.fixture
def domain(tmp_path: Path):
    clock = ManualClock(start=1_700_000_000.0)
    env = ServiceEnv(Settings(data_dir=tmp_path, fsync=False), clock, tmp_path / "kinesis")
    kinesis = Kinesis(env)
    yield kinesis, clock
    kinesis.close()


def test_stream_arn_shards_and_read_shard(domain):
    kinesis, clock = domain
    kinesis.create_stream(ACCOUNT, REGION, "clicks", shard_count=1, mode=None)
    arn = kinesis.stream_arn(ACCOUNT, REGION, "clicks")
    assert arn == "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
    assert kinesis.stream_arn(ACCOUNT, REGION, arn) == arn
    # In-process writers may exceed the per-shard rate; in-process readers are never throttled.
    entries = Entries(["k"] * 400, [f"{i}".encode() for i in range(400)], [None] * 400)
    for _ in range(3):
        put = kinesis.put(ACCOUNT, REGION, arn, entries, whole=False)
        assert all(r.error_code is None for r in asyncio.run(put))
        clock.advance(1)
    (shard,) = kinesis.shards(ACCOUNT, REGION, arn)
    assert shard == ShardView("shardId-000000000000", None, None, False)
    first = kinesis.read_shard(
        ACCOUNT, REGION, arn, shard.shard_id, after_sequence_number=None, limit=500
    )
    assert len(first) == 500 and first[0].data == b"0" and first[0].partition_key == "k"
    assert first[0].approximate_arrival_timestamp == 1_700_000_000.0
    rest = kinesis.read_shard(
        ACCOUNT, REGION, arn, shard.shard_id, after_sequence_number=first[-1].sequence_number
    )
    assert len(rest) == 700 and rest[0].data == b"100"
    assert int(rest[0].sequence_number) > int(first[-1].sequence_number)


def test_shards_shows_lineage_after_a_split(domain):
    kinesis, _ = domain
    kinesis.create_stream(ACCOUNT, REGION, "s", shard_count=1, mode=None)
    kinesis.reshard(ACCOUNT, REGION, "s", "split", "shardId-000000000000", str(1 << 127))
    views = kinesis.shards(ACCOUNT, REGION, "s")
    assert views == [
        ShardView("shardId-000000000000", None, None, True),
        ShardView("shardId-000000000001", "shardId-000000000000", None, False),
        ShardView("shardId-000000000002", "shardId-000000000000", None, False),
    ]


def test_unknown_streams_and_shards_raise_resource_not_found(domain):
    kinesis, _ = domain
    with pytest.raises(AwsError) as err:
        kinesis.stream_arn(ACCOUNT, REGION, "missing")
    assert err.value.code == "ResourceNotFoundException"
    kinesis.create_stream(ACCOUNT, REGION, "s", shard_count=1, mode=None)
    with pytest.raises(AwsError) as err:
        kinesis.read_shard(ACCOUNT, REGION, "s", "shardId-000000000007", after_sequence_number=None)
    assert err.value.code == "ResourceNotFoundException"
