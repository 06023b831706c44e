"""GetLogEvents: head and tail reads, time ranges, paging both ways, and the SDK reader loop."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError
from logs_helpers import GROUP, STREAM, messages, now_ms, put


def _get(logs, **kwargs) -> dict:
    return logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, **kwargs)


def _fill(logs, n: int) -> int:
    """Put events "e0".."e{n-1}", one millisecond apart; returns the first timestamp."""
    t = now_ms() - n
    put(logs, [(t + i, f"e{i}") for i in range(n)])
    return t


def test_tokens_have_the_aws_shape(logs):
    _fill(logs, 3)
    response = _get(logs)
    assert re.fullmatch(r"f/\d{56}/s", response["nextForwardToken"])
    assert re.fullmatch(r"b/\d{56}/s", response["nextBackwardToken"])
    assert all(e["ingestionTime"] >= e["timestamp"] for e in response["events"])


def test_default_read_is_the_tail_and_start_from_head_the_head(logs):
    _fill(logs, 10)
    assert messages(_get(logs, limit=3)) == ["e7", "e8", "e9"]
    assert messages(_get(logs, limit=3, startFromHead=True)) == ["e0", "e1", "e2"]


def test_start_time_is_inclusive_and_end_time_exclusive(logs):
    t = _fill(logs, 10)
    response = _get(logs, startTime=t + 2, endTime=t + 5, startFromHead=True)
    assert messages(response) == ["e2", "e3", "e4"]


def test_forward_paging_reads_everything_then_repeats_its_token(logs):
    _fill(logs, 10)
    page = _get(logs, startFromHead=True, limit=4)
    seen = messages(page)
    while True:
        token = page["nextForwardToken"]
        page = _get(logs, nextToken=token, limit=4)
        if page["nextForwardToken"] == token:
            break
        seen += messages(page)
    assert seen == [f"e{i}" for i in range(10)]
    assert page["events"] == []


def test_backward_paging_reads_everything_then_repeats_its_token(logs):
    _fill(logs, 10)
    page = _get(logs, limit=4)
    seen = messages(page)
    while True:
        token = page["nextBackwardToken"]
        page = _get(logs, nextToken=token, limit=4)
        if page["nextBackwardToken"] == token:
            break
        seen = messages(page) + seen
    assert seen == [f"e{i}" for i in range(10)]
    assert page["events"] == []


def test_turning_back_from_the_end_rereads_the_last_events(logs):
    _fill(logs, 5)
    end = _get(logs, startFromHead=True)
    empty = _get(logs, nextToken=end["nextForwardToken"])
    assert empty["events"] == []
    assert messages(_get(logs, nextToken=empty["nextBackwardToken"], limit=2)) == ["e3", "e4"]


def test_a_forward_token_at_the_end_picks_up_later_events(logs):
    _fill(logs, 2)
    token = _get(logs, startFromHead=True)["nextForwardToken"]
    assert _get(logs, nextToken=token)["nextForwardToken"] == token
    put(logs, [(now_ms(), "late arrival")])
    assert messages(_get(logs, nextToken=token)) == ["late arrival"]


def test_an_empty_stream_gives_tokens_that_later_read_new_events(logs):
    first = _get(logs, startFromHead=True)
    assert first["events"] == []
    put(logs, [(now_ms(), "hello")])
    assert messages(_get(logs, nextToken=first["nextForwardToken"])) == ["hello"]


def test_default_limit_is_ten_thousand_events(logs):
    t = now_ms() - 20_000
    put(logs, [(t + i, f"a{i}") for i in range(5_001)])
    put(logs, [(t + 5_001 + i, f"b{i}") for i in range(5_000)])
    tail = _get(logs)
    assert len(tail["events"]) == 10_000
    assert messages(tail)[0] == "a1"  # the oldest of 10,001 is left for the backward token
    assert messages(_get(logs, nextToken=tail["nextBackwardToken"])) == ["a0"]


def test_a_page_holds_at_most_one_mebibyte(logs):
    body = "x" * (262_144 - 26)  # 256 KiB with the per-event overhead
    t = now_ms()
    put(logs, [(t, body)] * 3)
    put(logs, [(t + 1, body + "!"), (t + 2, "small")])
    head = _get(logs, startFromHead=True)
    assert len(head["events"]) == 3  # a fourth would exceed 1,048,576 bytes
    rest = _get(logs, nextToken=head["nextForwardToken"])
    assert [m[-1] for m in messages(rest)] == ["!", "l"]


def test_a_forged_token_is_invalid(logs):
    with pytest.raises(ClientError) as err:
        _get(logs, nextToken="f/123/s")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_get_log_events_by_group_identifier(logs):
    put(logs, [(now_ms(), "via identifier")])
    response = logs.get_log_events(logGroupIdentifier=GROUP, logStreamName=STREAM)
    assert messages(response) == ["via identifier"]


def test_events_past_retention_are_no_longer_read(clocked, clock):
    logs = clocked.client("logs")
    logs.create_log_group(logGroupName="r")
    logs.create_log_stream(logGroupName="r", logStreamName="s")
    logs.put_retention_policy(logGroupName="r", retentionInDays=1)
    t = int(clock.time() * 1000)
    put(logs, [(t - 1000, "aging"), (t, "fresh")], group="r", stream="s")
    clock.advance(days=1, seconds=-0.5)  # "aging" is now past the 1-day retention
    response = logs.get_log_events(logGroupName="r", logStreamName="s", startFromHead=True)
    assert messages(response) == ["fresh"]


def test_sagemaker_sdk_reader_loop_reads_every_instance_stream(tule):
    """What `sagemaker.logs` does: list the job's streams by prefix, then follow each stream's
    nextForwardToken (startFromHead=True, startTime=0) until a call returns no events."""
    logs = tule.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    t = now_ms() - 1000
    expected = {}
    for stream in ["my-job/algo-1-1700000000", "my-job/algo-2-1700000000"]:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        lines = [f"{stream} line {i}" for i in range(25)]
        put(logs, [(t + i, line) for i, line in enumerate(lines)], stream=stream)
        expected[stream] = lines
    logs.create_log_stream(logGroupName=GROUP, logStreamName="my-job-2/algo-1-1700000000")

    streams = logs.describe_log_streams(
        logGroupName=GROUP, logStreamNamePrefix="my-job/", orderBy="LogStreamName", limit=50
    )["logStreams"]
    read = {}
    for s in streams:
        name, token, lines = s["logStreamName"], None, []
        while True:
            extra = {"nextToken": token} if token else {}
            response = logs.get_log_events(
                logGroupName=GROUP, logStreamName=name, startTime=0, startFromHead=True, **extra
            )
            lines += messages(response)
            if response["nextForwardToken"] == token:
                break
            token = response["nextForwardToken"]
        read[name] = lines
    assert read == expected
