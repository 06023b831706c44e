"""Helpers the CloudWatch Logs tests share: names, the current time, putting and reading events."""

from __future__ import annotations

import time
from typing import Any

GROUP = "/aws/sagemaker/TrainingJobs"
STREAM = "job-1/algo-1-1700000000"
REGIONS = ("us-east-1", "eu-west-1")  # the regions tests use; `fresh` empties both


def now_ms() -> int:
    return int(time.time() * 1000)


def put(logs: Any, events: list[tuple[int, str]], group: str = GROUP, stream: str = STREAM) -> dict:
    return logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": ts, "message": msg} for ts, msg in events],
    )


def messages(response: dict) -> list[str]:
    return [e["message"] for e in response["events"]]
