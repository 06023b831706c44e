"""PutLogEvents: ordering, batch limits, rejected events, sequence tokens, missing resources."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from logs_helpers import GROUP, STREAM, messages, now_ms, put

DAY = 86_400_000
HOUR = 3_600_000


def _read_all(logs) -> list[str]:
    return messages(logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM))


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def test_put_log_events_stores_events_and_returns_a_sequence_token(logs):
    t = now_ms()
    first = put(logs, [(t, "one"), (t + 1, "two")])
    second = put(logs, [(t + 2, "three")])
    assert first["nextSequenceToken"] != second["nextSequenceToken"]
    assert "rejectedLogEventsInfo" not in first
    assert _read_all(logs) == ["one", "two", "three"]


def test_sequence_tokens_are_accepted_and_ignored(logs):
    t = now_ms()
    put(logs, [(t, "first")])
    # Any token, stale or made up, is accepted: AWS stopped checking them in 2023.
    tokens = ["49000000000000000000000000000000000000000000000000000000", "junk"]
    for token in tokens:
        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName=STREAM,
            logEvents=[{"timestamp": t + 1, "message": token}],
            sequenceToken=token,
        )
    assert _read_all(logs) == ["first", *tokens]


def test_events_out_of_chronological_order_fail_the_whole_batch(logs):
    t = now_ms()
    with pytest.raises(ClientError) as err:
        put(logs, [(t, "later"), (t - 1, "earlier")])
    assert _code(err) == "InvalidParameterException"
    assert "chronological order" in err.value.response["Error"]["Message"]
    assert _read_all(logs) == []


def test_equal_timestamps_are_in_order_and_keep_their_batch_order(logs):
    t = now_ms()
    put(logs, [(t, "a"), (t, "b"), (t, "c")])
    assert _read_all(logs) == ["a", "b", "c"]


def test_batch_over_one_mebibyte_counting_26_bytes_per_event_fails(logs):
    t = now_ms()
    # 4 events of 262,118 bytes are exactly 1,048,576 bytes with the overhead: accepted.
    body = "x" * (262_144 - 26)
    put(logs, [(t, body)] * 4)
    with pytest.raises(ClientError) as err:
        put(logs, [(t, body)] * 3 + [(t, body + "y")])
    assert _code(err) == "InvalidParameterException"
    assert "1048576" in err.value.response["Error"]["Message"]


def test_more_than_ten_thousand_events_are_refused(logs):
    with pytest.raises(ClientError):
        put(logs, [(now_ms(), "e")] * 10_001)
    assert _read_all(logs) == []


def test_too_old_and_too_new_events_are_rejected_not_errors(logs):
    t = now_ms()
    response = put(
        logs,
        [
            (t - 15 * DAY, "too old 1"),
            (t - 14 * DAY - HOUR, "too old 2"),
            (t - 1000, "kept 1"),
            (t, "kept 2"),
            (t + 3 * HOUR, "too new"),
        ],
    )
    info = response["rejectedLogEventsInfo"]
    assert info == {"tooOldLogEventEndIndex": 2, "tooNewLogEventStartIndex": 4}
    assert _read_all(logs) == ["kept 1", "kept 2"]


def test_a_batch_of_only_rejected_events_succeeds_and_stores_nothing(logs):
    t = now_ms()
    response = put(logs, [(t + 5 * HOUR, "future")])
    assert response["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 0}
    assert _read_all(logs) == []


def test_events_older_than_retention_are_rejected_as_expired(logs):
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=1)
    t = now_ms()
    response = put(logs, [(t - 2 * DAY, "expired"), (t - 1000, "kept")])
    assert response["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    assert _read_all(logs) == ["kept"]


def test_valid_events_may_not_span_more_than_a_day(logs):
    t = now_ms()
    with pytest.raises(ClientError) as err:
        put(logs, [(t - 25 * HOUR, "a"), (t, "b")])
    assert _code(err) == "InvalidParameterException"
    assert "24 hours" in err.value.response["Error"]["Message"]


def test_put_to_missing_group_or_stream_is_not_found(logs):
    t = now_ms()
    with pytest.raises(ClientError) as err:
        put(logs, [(t, "x")], group="none")
    assert err.value.response["Error"]["Message"] == "The specified log group does not exist."
    with pytest.raises(ClientError) as err:
        put(logs, [(t, "x")], stream="none")
    assert _code(err) == "ResourceNotFoundException"
    assert err.value.response["Error"]["Message"] == "The specified log stream does not exist."


def test_parallel_puts_to_one_stream_all_land(logs):
    t = now_ms()
    batches = [[(t + i, f"w{w}-{i}") for i in range(10)] for w in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda batch: put(logs, batch), batches))
    stored = _read_all(logs)
    assert sorted(stored) == sorted(m for batch in batches for _, m in batch)
    assert [int(m.split("-")[1]) for m in stored] == sorted(int(m.split("-")[1]) for m in stored)
