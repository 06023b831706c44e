"""Retention: increase and decrease, and records older than the period trimmed."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from kinesis_helpers import drain, iterator

from tule.clock import ManualClock


def _data(kinesis: Any, stream: str) -> list[bytes]:
    return [r["Data"] for r in drain(kinesis, iterator(kinesis, stream, "shardId-000000000000"))[0]]


def test_decreasing_retention_trims_records_older_than_the_new_period(
    kinesis: Any, names: Any, clock: ManualClock
):
    stream = names("kept")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=72)
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"old")
    clock.advance(30 * 3600)
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"new")
    assert _data(kinesis, stream) == [b"old", b"new"]
    kinesis.decrease_stream_retention_period(StreamName=stream, RetentionPeriodHours=24)
    assert _data(kinesis, stream) == [b"new"]
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 24


def test_records_expire_as_time_passes(kinesis: Any, names: Any, clock: ManualClock):
    stream = names("expiring")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"soon gone")
    clock.advance(23 * 3600)
    assert _data(kinesis, stream) == [b"soon gone"]
    clock.advance(2 * 3600)
    assert _data(kinesis, stream) == []


def test_retention_changes_are_checked(kinesis: Any, names: Any):
    stream = names("checked")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    for call, hours in (
        (kinesis.increase_stream_retention_period, 8761),
        (kinesis.decrease_stream_retention_period, 23),
    ):
        with pytest.raises(ClientError) as err:
            call(StreamName=stream, RetentionPeriodHours=hours)
        assert err.value.response["Error"]["Code"] in (
            "InvalidArgumentException",
            "ValidationException",
        )
    kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=48)
    with pytest.raises(ClientError) as err:
        kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=36)
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert "can not be shorter" in err.value.response["Error"]["Message"]
