"""The in-process API other services use (ensure_stream, append), seen through boto3."""

from __future__ import annotations

import pytest
from logs_helpers import messages, now_ms

from tule.errors import AwsError
from tule.services.logs import Logs

ACCOUNT, REGION = "000000000000", "us-east-1"
GROUP = "/aws/lambda/my-function"
STREAM = "2024/01/01/[$LATEST]abc123"


def _domain(server) -> Logs:
    return server.app.domains["logs"]


def test_ensure_stream_creates_group_and_stream_once(server, fresh):
    domain = _domain(server)
    first = domain.ensure_stream(ACCOUNT, REGION, GROUP, STREAM)
    again = domain.ensure_stream(ACCOUNT, REGION, GROUP, STREAM)
    assert first.uid == again.uid
    (group,) = fresh.describe_log_groups()["logGroups"]
    assert group["logGroupName"] == GROUP
    (stream,) = fresh.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert stream["logStreamName"] == STREAM


def test_appended_events_are_read_in_time_order_over_the_api(server, fresh):
    domain = _domain(server)
    domain.ensure_stream(ACCOUNT, REGION, GROUP, STREAM)
    t = now_ms()
    stored = domain.append(ACCOUNT, REGION, GROUP, STREAM, [(t + 2, "c"), (t, "a"), (t + 1, "b")])
    assert stored == 3
    response = fresh.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startFromHead=True)
    assert messages(response) == ["a", "b", "c"]
    (found,) = fresh.filter_log_events(logGroupName=GROUP, filterPattern="b")["events"]
    assert (found["logStreamName"], found["message"]) == (STREAM, "b")


def test_append_to_a_missing_stream_is_not_found(server, fresh):
    domain = _domain(server)
    domain.ensure_group(ACCOUNT, REGION, GROUP)
    with pytest.raises(AwsError) as err:
        domain.append(ACCOUNT, REGION, GROUP, "missing", [(now_ms(), "x")])
    assert err.value.code == "ResourceNotFoundException"
    assert err.value.message == "The specified log stream does not exist."
