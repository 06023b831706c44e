"""A training job's status model: TrainingJobStatus, SecondaryStatus and their transitions.

Records are the DescribeTrainingJob shape with epoch-second timestamps. Every secondary status
change appends `{Status, StartTime, StatusMessage}` to `SecondaryStatusTransitions` and closes
the previous entry's `EndTime`, as SageMaker does (specs/aws-apis.md §2.3). Messages follow the
wording the SageMaker console and SDK show.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]

# Primary statuses that end a job; Describe stops changing once one is reached.
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})

MESSAGES = {
    "Starting": "Launching requested ML instances",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
    "Interrupted": "Training job interrupted by a restart of the server",
}


def transition(record: Record, secondary: str, now: float, message: str | None = None) -> None:
    """Move the record to `secondary` (a no-op when it is already there)."""
    transitions = record.setdefault("SecondaryStatusTransitions", [])
    if transitions and transitions[-1]["Status"] == secondary:
        return
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    transitions.append(
        {"Status": secondary, "StartTime": now, "StatusMessage": message or MESSAGES[secondary]}
    )
    record["SecondaryStatus"] = secondary
    record["LastModifiedTime"] = now


def finish(
    record: Record,
    status: str,
    secondary: str,
    now: float,
    *,
    failure_reason: str | None = None,
    message: str | None = None,
) -> None:
    """End the job: primary `status`, last transition closed, times and billing filled."""
    transition(record, secondary, now, message)
    record["SecondaryStatusTransitions"][-1]["EndTime"] = now
    record["TrainingJobStatus"] = status
    if failure_reason:
        record["FailureReason"] = failure_reason[:1024]
    start = record.get("TrainingStartTime")
    if start is not None:
        record["TrainingEndTime"] = now
        # Both are at least 1 in the API model; billable time is wall-clock time per instance.
        seconds = max(1, round(now - start))
        record["TrainingTimeInSeconds"] = seconds
        record["BillableTimeInSeconds"] = seconds
