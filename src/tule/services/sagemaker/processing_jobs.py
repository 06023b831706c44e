"""Processing jobs' control plane: Create, Describe, List and Stop (specs/aws-apis.md §5.5).

A job is one record, shaped as DescribeProcessingJob answers it (epoch seconds for times), kept
by `Records` under `processing-job/<account>/<region>/<name>`. Creating one checks what the
botocore model cannot (LocalPath under `/opt/ml/processing/`, unique input and output names),
writes the record `InProgress` and hands the job to the runner (`processing_run`); no request
waits for the work. Unlike training, a processing job has no secondary status: it is
`InProgress`, then `Completed`, `Failed` or (through `Stopping`) `Stopped`.

The image is never run: tule runs `AppSpecification.ContainerEntrypoint` with a local Python,
so any `ImageUri` is accepted (see `processing_run`).
"""

from __future__ import annotations

from typing import Any

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.sagemaker import errors
from tule.services.sagemaker.job_records import TERMINAL, JobRecords
from tule.services.sagemaker.listing import Listing
from tule.services.sagemaker.records import Record

KIND = "processing-job"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
# Every input and output LocalPath must be under this folder (ProcessingS3Input docs).
LOCAL_PREFIX = "/opt/ml/processing/"
# The service's default when StoppingCondition is absent (one day, as for training).
DEFAULT_MAX_RUNTIME = 86400
INTERRUPTED_REASON = (
    "Processing job interrupted by a restart of the server; its processes did not survive it. "
    "Start a new processing job."
)

# Request members DescribeProcessingJob echoes back.
ECHOED = (
    "ProcessingInputs",
    "ProcessingOutputConfig",
    "ProcessingResources",
    "StoppingCondition",
    "AppSpecification",
    "Environment",
    "NetworkConfig",
    "RoleArn",
    "ExperimentConfig",
)
# Defaults DescribeProcessingJob shows for members an S3 input left out.
_S3_INPUT_DEFAULTS = {
    "S3InputMode": "File",
    "S3DataDistributionType": "FullyReplicated",
    "S3CompressionType": "None",
}
LISTING = Listing(
    name_member="ProcessingJobName",
    status_member="ProcessingJobStatus",
    sort_keys={
        "Name": "ProcessingJobName",
        "CreationTime": "CreationTime",
        "Status": "ProcessingJobStatus",
    },
    summary=(
        "ProcessingJobName",
        "ProcessingJobArn",
        "CreationTime",
        "ProcessingEndTime",
        "LastModifiedTime",
        "ProcessingJobStatus",
        "FailureReason",
        "ExitMessage",
    ),
)


def _not_found(account: str, region: str, name: str) -> Exception:
    return errors.not_found()


def _duplicates(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


def _check_local_path(where: str, item: dict[str, Any], s3: dict[str, Any]) -> None:
    """LocalPath is required unless the app manages the data, and must be under
    /opt/ml/processing/ (AWS's ProcessingS3Input and ProcessingS3Output rules)."""
    path = s3.get("LocalPath")
    if not path:
        if not item.get("AppManaged"):
            raise errors.validation(f"{where}.LocalPath is required when AppManaged is false.")
        return
    if not path.startswith(LOCAL_PREFIX) or ".." in path.split("/"):
        raise errors.validation(
            f"{where}.LocalPath '{path}' is not valid: it must be an absolute path that begins "
            f"with {LOCAL_PREFIX}"
        )


def validate(request: dict[str, Any]) -> None:
    """The checks CreateProcessingJob makes beyond the botocore model's constraints."""
    inputs = request.get("ProcessingInputs") or []
    duplicates = _duplicates([i["InputName"] for i in inputs])
    if duplicates:
        raise errors.validation(
            f"ProcessingInputs must have unique InputName values. Duplicate: {duplicates[0]}"
        )
    for n, item in enumerate(inputs, start=1):
        where = f"ProcessingInputs[{n}]"
        if ("S3Input" in item) == ("DatasetDefinition" in item):
            raise errors.validation(
                f"{where} must have exactly one of S3Input and DatasetDefinition."
            )
        s3 = item.get("S3Input")
        if s3 is not None:
            _check_local_path(f"{where}.S3Input", item, s3)
            if s3.get("S3InputMode") == "Pipe":
                # The Pipe-mode FIFO layout of processing containers is not documented well
                # enough to reproduce; refusing is clearer than a job that hangs reading.
                raise errors.validation(
                    f"{where}.S3Input.S3InputMode 'Pipe' is not supported in tule; use File."
                )
    outputs = (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    duplicates = _duplicates([o["OutputName"] for o in outputs])
    if duplicates:
        raise errors.validation(
            f"ProcessingOutputConfig.Outputs must have unique OutputName values. "
            f"Duplicate: {duplicates[0]}"
        )
    for n, item in enumerate(outputs, start=1):
        where = f"ProcessingOutputConfig.Outputs[{n}]"
        if ("S3Output" in item) == ("FeatureStoreOutput" in item):
            raise errors.validation(
                f"{where} must have exactly one of S3Output and FeatureStoreOutput."
            )
        if "S3Output" in item:
            _check_local_path(f"{where}.S3Output", item, item["S3Output"])


def _described_inputs(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in inputs:
        item = dict(item)
        if "S3Input" in item:
            item["S3Input"] = _S3_INPUT_DEFAULTS | item["S3Input"]
        out.append(item)
    return out


class ProcessingJobs(JobRecords):
    """The processing-job records of every (account, region)."""

    def __init__(self, store: MetadataStore, clock: Clock) -> None:
        super().__init__(
            store,
            clock,
            kind=KIND,
            noun="processing",
            prefix="Processing",
            listing=LISTING,
            not_found=_not_found,
        )

    def create(self, account: str, region: str, request: dict[str, Any]) -> str:
        validate(request)
        name = request["ProcessingJobName"]
        arn = self.records.arn(account, region, name)
        now = self.clock.time()
        record: Record = {
            "ProcessingJobName": name,
            "ProcessingJobArn": arn,
            "ProcessingJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        for member in ECHOED:
            if member in request:
                record[member] = request[member]
        if "ProcessingInputs" in record:
            record["ProcessingInputs"] = _described_inputs(record["ProcessingInputs"])
        self.start(account, region, name, record)
        return arn

    def recover(self) -> int:
        """After a restart: every job that was running is Failed (its processes are gone)."""
        now = self.clock.time()
        interrupted = 0
        for key, record in self.records.every():
            if record["ProcessingJobStatus"] in TERMINAL:
                continue
            finish(record, "Failed", now, failure_reason=INTERRUPTED_REASON)
            self.records.store.put(key, record)
            interrupted += 1
        return interrupted


def finish(
    record: Record,
    status: str,
    now: float,
    *,
    failure_reason: str | None = None,
    exit_message: str | None = None,
) -> None:
    """End the job: its final status, end time and, when given, why and the exit message."""
    record["ProcessingJobStatus"] = status
    record["ProcessingEndTime"] = now
    record["LastModifiedTime"] = now
    if failure_reason:
        record["FailureReason"] = failure_reason[:1024]
    if exit_message:
        record["ExitMessage"] = exit_message[:1024]
