"""FilterLogEvents: the filter-pattern syntax, stream selection, time bounds and paging."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from logs_helpers import GROUP, messages, now_ms, put

from tule.testing import TuleServer

LINES = [
    "[ERROR] Caught IllegalArgumentException",
    "[WARN] disk almost full",
    "[INFO] epoch 1: loss=0.31",
    "[ERROR] INTERNAL SERVER ERROR on /invocations",
    "[INFO] ARGUMENTS parsed",
    "[ERROR] bad ARGUMENTS given",
]


@pytest.fixture(scope="module")
def filled(server: TuleServer) -> tuple[Any, int]:
    """Two streams, LINES spread over them alternately, one millisecond apart. Every test here
    only reads, so they share these events."""
    logs = server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    for stream in ("a", "b"):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    t = now_ms() - 100
    for stream, parity in (("a", 0), ("b", 1)):
        picked = [(t + i, line) for i, line in enumerate(LINES) if i % 2 == parity]
        put(logs, picked, stream=stream)
    return logs, t


def _filter(logs, **kwargs) -> dict:
    return logs.filter_log_events(logGroupName=GROUP, **kwargs)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", [0, 1, 2, 3, 4, 5]),
        ("ERROR", [0, 3, 5]),
        ("ERROR ARGUMENTS", [5]),
        ("?WARN ?loss", [1, 2]),
        ("ERROR -ARGUMENTS", [0, 3]),
        ("-ERROR", [1, 2, 4]),
        ("ERROR ?Caught ?INTERNAL", [0, 3]),  # all plain terms, and one of the ? terms
        ('"INTERNAL SERVER ERROR"', [3]),
        ('"loss=0.31"', [2]),
        ("error", []),  # terms are case-sensitive
        ("%ARG[Uu]MENTS%", [4, 5]),
        ("%^\\[WARN\\]%", [1]),
    ],
)
def test_filter_pattern_syntax(filled, pattern, expected):
    logs, _ = filled
    found = _filter(logs, filterPattern=pattern)
    assert messages(found) == [LINES[i] for i in expected]


def test_results_interleave_streams_in_time_order_with_stream_names(filled):
    logs, _ = filled
    events = _filter(logs)["events"]
    assert [e["logStreamName"] for e in events] == ["a", "b", "a", "b", "a", "b"]
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert len({e["eventId"] for e in events}) == 6
    assert all(e["ingestionTime"] > 0 for e in events)


def test_filter_by_stream_names_or_prefix(filled):
    logs, _ = filled
    assert messages(_filter(logs, logStreamNames=["b"])) == LINES[1::2]
    assert messages(_filter(logs, logStreamNamePrefix="a")) == LINES[0::2]
    searched = _filter(logs, logStreamNames=["a"])["searchedLogStreams"]
    assert searched == [{"logStreamName": "a", "searchedCompletely": True}]
    with pytest.raises(ClientError) as err:
        _filter(logs, logStreamNames=["a"], logStreamNamePrefix="a")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_start_and_end_time_are_both_inclusive(filled):
    logs, t = filled
    assert messages(_filter(logs, startTime=t + 1, endTime=t + 3)) == LINES[1:4]


def test_paging_with_limit_and_next_token_visits_every_match_once(filled):
    logs, _ = filled
    first = _filter(logs, limit=2)
    assert messages(first) == LINES[:2]
    assert {s["searchedCompletely"] for s in first["searchedLogStreams"]} == {False}
    second = _filter(logs, limit=2, nextToken=first["nextToken"])
    assert messages(second) == LINES[2:4]
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, filterPattern="ERROR", PaginationConfig={"PageSize": 1}
    )
    assert [m for page in pages for m in messages(page)] == [LINES[i] for i in (0, 3, 5)]


def test_last_page_has_no_next_token(filled):
    logs, _ = filled
    assert "nextToken" not in _filter(logs, limit=6)


def test_json_patterns_are_refused_clearly(filled):
    logs, _ = filled
    with pytest.raises(ClientError) as err:
        _filter(logs, filterPattern='{ $.level = "ERROR" }')
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "not supported" in err.value.response["Error"]["Message"]


@pytest.mark.parametrize("pattern", ['"unterminated', "ERROR ?", "%[%"])
def test_malformed_patterns_are_invalid(filled, pattern):
    logs, _ = filled
    with pytest.raises(ClientError) as err:
        _filter(logs, filterPattern=pattern)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_filter_on_missing_group_is_not_found(filled):
    logs, _ = filled
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName="none")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
