"""Log streams: CreateLogStream, DeleteLogStream, DescribeLogStreams."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from logs_helpers import GROUP, STREAM, now_ms, put


def _names(response: dict) -> list[str]:
    return [s["logStreamName"] for s in response["logStreams"]]


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    e = err.value.response["Error"]
    return e["Code"], e["Message"]


def test_create_log_stream_in_missing_group_is_not_found(fresh):
    with pytest.raises(ClientError) as err:
        fresh.create_log_stream(logGroupName="none", logStreamName="s")
    assert _error(err) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_create_existing_log_stream_fails(logs):
    with pytest.raises(ClientError) as err:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    assert _error(err)[0] == "ResourceAlreadyExistsException"


def test_new_stream_is_described_without_event_stats(logs):
    (stream,) = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert stream["logStreamName"] == STREAM
    assert stream["arn"] == (
        f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:log-stream:{STREAM}"
    )
    assert stream["storedBytes"] == 0
    for absent in ("firstEventTimestamp", "lastEventTimestamp", "lastIngestionTime"):
        assert absent not in stream


def test_stream_stats_follow_its_events(logs):
    t = now_ms()
    put(logs, [(t - 5000, "a"), (t - 4000, "b")])
    put(logs, [(t - 9000, "earlier"), (t - 1000, "later")])
    (stream,) = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert stream["firstEventTimestamp"] == t - 9000
    assert stream["lastEventTimestamp"] == t - 1000
    assert stream["lastIngestionTime"] >= t - 1000
    assert stream["uploadSequenceToken"].isdigit()


def test_delete_log_stream_removes_it_and_its_events(logs):
    put(logs, [(now_ms(), "gone soon")])
    logs.delete_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    assert logs.describe_log_streams(logGroupName=GROUP)["logStreams"] == []
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM)
    assert _error(err) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    # The same name again is a new, empty stream.
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    assert logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM)["events"] == []


def test_delete_missing_log_stream_is_not_found(logs):
    with pytest.raises(ClientError) as err:
        logs.delete_log_stream(logGroupName=GROUP, logStreamName="nope")
    assert _error(err) == ("ResourceNotFoundException", "The specified log stream does not exist.")


def test_describe_log_streams_by_prefix_and_pages(fresh):
    logs = fresh
    logs.create_log_group(logGroupName="g")
    names = [f"job/algo-{i}" for i in range(5)] + ["other"]
    for name in names:
        logs.create_log_stream(logGroupName="g", logStreamName=name)
    assert _names(logs.describe_log_streams(logGroupName="g", logStreamNamePrefix="job/")) == [
        f"job/algo-{i}" for i in range(5)
    ]
    first = logs.describe_log_streams(logGroupName="g", logStreamNamePrefix="job/", limit=2)
    assert _names(first) == ["job/algo-0", "job/algo-1"]
    rest = logs.describe_log_streams(
        logGroupName="g", logStreamNamePrefix="job/", limit=50, nextToken=first["nextToken"]
    )
    assert _names(rest) == ["job/algo-2", "job/algo-3", "job/algo-4"]
    assert "nextToken" not in rest


def test_describe_log_streams_by_name_descending(fresh):
    logs = fresh
    logs.create_log_group(logGroupName="g")
    for name in ["a", "c", "b"]:
        logs.create_log_stream(logGroupName="g", logStreamName=name)
    paged = logs.get_paginator("describe_log_streams").paginate(
        logGroupName="g", descending=True, PaginationConfig={"PageSize": 1}
    )
    assert [n for page in paged for n in _names(page)] == ["c", "b", "a"]


def test_describe_log_streams_by_last_event_time(fresh):
    logs = fresh
    logs.create_log_group(logGroupName="g")
    t = now_ms()
    for name, offset in [("old", 3000), ("new", 1000), ("mid", 2000)]:
        logs.create_log_stream(logGroupName="g", logStreamName=name)
        put(logs, [(t - offset, name)], group="g", stream=name)
    logs.create_log_stream(logGroupName="g", logStreamName="empty")
    newest_first = logs.describe_log_streams(
        logGroupName="g", orderBy="LastEventTime", descending=True, limit=2
    )
    assert _names(newest_first) == ["new", "mid"]
    rest = logs.describe_log_streams(
        logGroupName="g",
        orderBy="LastEventTime",
        descending=True,
        nextToken=newest_first["nextToken"],
    )
    assert _names(rest) == ["old", "empty"]
    oldest_first = logs.describe_log_streams(logGroupName="g", orderBy="LastEventTime")
    assert _names(oldest_first) == ["empty", "old", "mid", "new"]


def test_order_by_last_event_time_refuses_a_prefix(logs):
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(
            logGroupName=GROUP, orderBy="LastEventTime", logStreamNamePrefix="job"
        )
    assert _error(err)[0] == "InvalidParameterException"


def test_describe_log_streams_by_group_identifier_arn(logs):
    # An identifier ARN is the bare logGroupArn: the model's pattern has no room for ":*".
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
    assert _names(logs.describe_log_streams(logGroupIdentifier=arn)) == [STREAM]
    assert _names(logs.describe_log_streams(logGroupIdentifier=GROUP)) == [STREAM]


def test_describe_log_streams_needs_exactly_one_group_reference(logs):
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(logGroupName=GROUP, logGroupIdentifier=GROUP)
    assert _error(err)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams()
    assert _error(err)[0] == "InvalidParameterException"


def test_describe_log_streams_of_missing_group_is_not_found(fresh):
    with pytest.raises(ClientError) as err:
        fresh.describe_log_streams(logGroupName="none")
    assert _error(err) == ("ResourceNotFoundException", "The specified log group does not exist.")
