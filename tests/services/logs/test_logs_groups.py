"""Log groups: CreateLogGroup, DeleteLogGroup, DescribeLogGroups, retention policies."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from logs_helpers import now_ms, put


def _names(response: dict) -> list[str]:
    return [g["logGroupName"] for g in response["logGroups"]]


def test_create_log_group_is_described_with_arn_and_creation_time(fresh):
    logs = fresh
    before = now_ms()
    logs.create_log_group(logGroupName="/app/web", tags={"team": "ml"})
    (group,) = logs.describe_log_groups()["logGroups"]
    assert group["logGroupName"] == "/app/web"
    assert group["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/app/web:*"
    assert group["logGroupArn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/app/web"
    assert before - 1000 <= group["creationTime"] <= now_ms() + 1000
    assert group["storedBytes"] == 0
    assert group["logGroupClass"] == "STANDARD"
    assert "retentionInDays" not in group


def test_create_existing_log_group_fails(fresh):
    logs = fresh
    logs.create_log_group(logGroupName="dup")
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName="dup")
    assert err.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"


def test_log_group_name_is_validated_against_the_model(fresh):
    logs = fresh
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName="bad name!")
    assert "logGroupName" in err.value.response["Error"]["Message"]
    assert logs.describe_log_groups()["logGroups"] == []


def test_delete_log_group_removes_it_and_its_streams(fresh):
    logs = fresh
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    put(logs, [(now_ms(), "old life")], group="g", stream="s")
    logs.delete_log_group(logGroupName="g")
    assert _names(logs.describe_log_groups()) == []
    # A group created again under the same name starts empty.
    logs.create_log_group(logGroupName="g")
    assert logs.describe_log_streams(logGroupName="g")["logStreams"] == []
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    events = logs.get_log_events(logGroupName="g", logStreamName="s")["events"]
    assert events == []


def test_delete_missing_log_group_is_not_found(fresh):
    with pytest.raises(ClientError) as err:
        fresh.delete_log_group(logGroupName="nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["Error"]["Message"] == "The specified log group does not exist."


def test_describe_log_groups_by_prefix_in_ascii_order(fresh):
    logs = fresh
    for name in ["/aws/lambda/b", "/aws/lambda/a", "/aws/sagemaker/x", "Z"]:
        logs.create_log_group(logGroupName=name)
    assert _names(logs.describe_log_groups()) == [
        "/aws/lambda/a",
        "/aws/lambda/b",
        "/aws/sagemaker/x",
        "Z",
    ]
    assert _names(logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")) == [
        "/aws/lambda/a",
        "/aws/lambda/b",
    ]


def test_describe_log_groups_by_pattern_is_a_case_sensitive_substring(fresh):
    logs = fresh
    for name in ["DataLogs", "aws/DataLogs", "GroupDataLogs", "datalogs", "Groupdata"]:
        logs.create_log_group(logGroupName=name)
    found = logs.describe_log_groups(logGroupNamePattern="DataLogs")
    assert sorted(_names(found)) == ["DataLogs", "GroupDataLogs", "aws/DataLogs"]
    # AWS reports only arn, creationTime and logGroupName for a pattern query.
    assert set(found["logGroups"][0]) == {"arn", "creationTime", "logGroupName"}


def test_describe_log_groups_by_identifiers_takes_names_and_arns(fresh):
    for name in ["a", "b", "c"]:
        fresh.create_log_group(logGroupName=name)
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:c"
    found = fresh.describe_log_groups(logGroupIdentifiers=["a", arn, "missing"])
    assert _names(found) == ["a", "c"]


def test_describe_log_groups_prefix_and_pattern_are_exclusive(fresh):
    with pytest.raises(ClientError) as err:
        fresh.describe_log_groups(logGroupNamePrefix="a", logGroupNamePattern="b")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_describe_log_groups_pages_with_limit_and_token(fresh):
    logs = fresh
    names = [f"group-{i:02d}" for i in range(7)]
    for name in names:
        logs.create_log_group(logGroupName=name)
    first = logs.describe_log_groups(limit=3)
    assert _names(first) == names[:3]
    second = logs.describe_log_groups(limit=3, nextToken=first["nextToken"])
    assert _names(second) == names[3:6]
    third = logs.describe_log_groups(limit=3, nextToken=second["nextToken"])
    assert _names(third) == names[6:]
    assert "nextToken" not in third
    paged = logs.get_paginator("describe_log_groups").paginate(PaginationConfig={"PageSize": 2})
    assert [n for page in paged for n in _names(page)] == names


def test_describe_log_groups_rejects_a_forged_token(fresh):
    with pytest.raises(ClientError) as err:
        fresh.describe_log_groups(nextToken="not-a-token")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_log_groups_are_scoped_by_region(server, fresh):
    east, west = fresh, server.client("logs", region_name="eu-west-1")
    east.create_log_group(logGroupName="shared-name")
    assert west.describe_log_groups()["logGroups"] == []
    west.create_log_group(logGroupName="shared-name")  # no conflict across regions
    (group,) = west.describe_log_groups()["logGroups"]
    assert group["arn"].startswith("arn:aws:logs:eu-west-1:")


def test_retention_policy_is_set_reported_and_removed(fresh):
    logs = fresh
    logs.create_log_group(logGroupName="r")
    logs.put_retention_policy(logGroupName="r", retentionInDays=30)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 30
    logs.delete_retention_policy(logGroupName="r")
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]


def test_retention_policy_accepts_only_aws_periods(fresh):
    logs = fresh
    logs.create_log_group(logGroupName="r")
    with pytest.raises(ClientError) as err:
        logs.put_retention_policy(logGroupName="r", retentionInDays=2)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "retentionInDays" in err.value.response["Error"]["Message"]


def test_retention_policy_on_missing_group_is_not_found(fresh):
    logs = fresh
    for call in (
        lambda: logs.put_retention_policy(logGroupName="none", retentionInDays=7),
        lambda: logs.delete_retention_policy(logGroupName="none"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stored_bytes_counts_message_bytes(fresh):
    logs = fresh
    logs.create_log_group(logGroupName="b")
    logs.create_log_stream(logGroupName="b", logStreamName="s")
    put(logs, [(now_ms(), "héllo"), (now_ms(), "world")], group="b", stream="s")
    assert logs.describe_log_groups()["logGroups"][0]["storedBytes"] == len("héllo".encode()) + 5


def test_retention_policy_deletes_events_it_no_longer_keeps(clocked, clock):
    logs = clocked.client("logs")
    logs.create_log_group(logGroupName="r")
    logs.create_log_stream(logGroupName="r", logStreamName="s")
    t = int(clock.time() * 1000)
    put(logs, [(t, "three days old")], group="r", stream="s")
    clock.advance(days=3)
    put(logs, [(t + 3 * 86_400_000, "new")], group="r", stream="s")
    logs.put_retention_policy(logGroupName="r", retentionInDays=1)
    assert logs.describe_log_groups()["logGroups"][0]["storedBytes"] == len("new")
    # Gone for good: removing the policy does not bring the old event back.
    logs.delete_retention_policy(logGroupName="r")
    events = logs.get_log_events(logGroupName="r", logStreamName="s", startFromHead=True)
    assert [e["message"] for e in events["events"]] == ["new"]
