"""Batch transform jobs' control plane: Create, Describe, List and Stop (specs/aws-apis.md §5.1).

A transform job is one record, shaped as DescribeTransformJob answers it (epoch seconds for
times), kept by `Records` under `transform-job/<account>/<region>/<name>`. Creating one checks
what the botocore model cannot (the model exists, the S3 locations parse, the DataProcessing
and payload rules of `transform_records.validate_request`), writes the record `InProgress`
and hands the job to the runner (`transform_run`); no request waits for the work. A transform
job has no secondary status: it is `InProgress`, then `Completed`, `Failed`, or (through
`Stopping`) `Stopped`.
"""

from __future__ import annotations

from typing import Any

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.sagemaker import errors
from tule.services.sagemaker.channels import ChannelError, parse_s3_uri
from tule.services.sagemaker.job_records import TERMINAL, JobRecords
from tule.services.sagemaker.listing import Listing
from tule.services.sagemaker.models import Models
from tule.services.sagemaker.records import Record
from tule.services.sagemaker.transform_records import TransformConfigError, validate_request

KIND = "transform-job"
LOG_GROUP = "/aws/sagemaker/TransformJobs"
INTERRUPTED_REASON = (
    "Transform job interrupted by a restart of the server; its model servers did not survive "
    "it. Start a new transform job."
)
# The input types tule reads; AugmentedManifestFile and Converse need formats it lacks.
SUPPORTED_DATA_TYPES = ("S3Prefix", "ManifestFile")

# Request members DescribeTransformJob echoes back.
ECHOED = (
    "ModelName",
    "MaxConcurrentTransforms",
    "ModelClientConfig",
    "MaxPayloadInMB",
    "BatchStrategy",
    "Environment",
    "TransformInput",
    "TransformOutput",
    "DataCaptureConfig",
    "TransformResources",
    "DataProcessing",
    "ExperimentConfig",
)
# What Describe shows for members the request left out [I: AWS fills these defaults in].
_INPUT_DEFAULTS = {"CompressionType": "None", "SplitType": "None"}
_DATA_PROCESSING_DEFAULTS = {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}

LISTING = Listing(
    name_member="TransformJobName",
    status_member="TransformJobStatus",
    sort_keys={
        "Name": "TransformJobName",
        "CreationTime": "CreationTime",
        "Status": "TransformJobStatus",
    },
    summary=(
        "TransformJobName",
        "TransformJobArn",
        "CreationTime",
        "TransformEndTime",
        "LastModifiedTime",
        "TransformJobStatus",
        "FailureReason",
    ),
)


def _not_found(account: str, region: str, name: str) -> Exception:
    # AWS's DescribeTransformJob / StopTransformJob wording for an unknown name.
    return errors.validation(f"Could not find requested job with name {name}")


def validate(request: dict[str, Any]) -> None:
    """The checks CreateTransformJob makes beyond the botocore model's constraints."""
    try:
        validate_request(request)
    except TransformConfigError as exc:
        raise errors.validation(str(exc)) from None
    source = request["TransformInput"]["DataSource"].get("S3DataSource")
    if source is None:
        raise errors.validation("TransformInput.DataSource.S3DataSource is required.")
    data_type = source.get("S3DataType")
    if data_type not in SUPPORTED_DATA_TYPES:
        raise errors.validation(
            f"TransformInput.DataSource.S3DataSource.S3DataType {data_type} is not supported by "
            "tule; use S3Prefix or ManifestFile."
        )
    for where, uri in (
        ("TransformInput.DataSource.S3DataSource.S3Uri", source.get("S3Uri") or ""),
        ("TransformOutput.S3OutputPath", request["TransformOutput"].get("S3OutputPath") or ""),
    ):
        try:
            parse_s3_uri(uri)
        except ChannelError:
            raise errors.validation(f"{where} '{uri}' is not a valid S3 URI.") from None
    if request.get("DataCaptureConfig"):
        # Refused rather than ignored: a job that silently captured nothing would mislead.
        raise errors.validation(
            "DataCaptureConfig is not supported for transform jobs by tule yet."
        )


def _described(request: dict[str, Any]) -> dict[str, Any]:
    """The echoed members, with the defaults Describe shows filled in."""
    record = {m: request[m] for m in ECHOED if m in request}
    record["TransformInput"] = _INPUT_DEFAULTS | record["TransformInput"]
    record["DataProcessing"] = _DATA_PROCESSING_DEFAULTS | (record.get("DataProcessing") or {})
    return record


class TransformJobs(JobRecords):
    """The transform-job records of every (account, region)."""

    def __init__(self, store: MetadataStore, clock: Clock, models: Models) -> None:
        super().__init__(
            store,
            clock,
            kind=KIND,
            noun="transform",
            prefix="Transform",
            listing=LISTING,
            not_found=_not_found,
        )
        self.models = models

    def create(self, account: str, region: str, request: dict[str, Any]) -> str:
        validate(request)
        # Raises AWS's 'Could not find model "<arn>".' when the model does not exist.
        self.models.describe(account, region, request["ModelName"])
        name = request["TransformJobName"]
        arn = self.records.arn(account, region, name)
        now = self.clock.time()
        record: Record = {
            "TransformJobName": name,
            "TransformJobArn": arn,
            "TransformJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
            **_described(request),
        }
        self.start(account, region, name, record)
        return arn

    def recover(self) -> int:
        """After a restart: a job that was running is Failed (its model servers are gone); one
        that was being stopped is Stopped, as asked. Returns how many jobs were ended."""
        now = self.clock.time()
        ended = 0
        for key, record in self.records.every():
            status = record["TransformJobStatus"]
            if status in TERMINAL:
                continue
            if status == "Stopping":
                finish(record, "Stopped", now)
            else:
                finish(record, "Failed", now, failure_reason=INTERRUPTED_REASON)
            self.records.store.put(key, record)
            ended += 1
        return ended


def finish(record: Record, status: str, now: float, *, failure_reason: str | None = None) -> None:
    """End the job: its final status, its end time and, for a failure, why."""
    record["TransformJobStatus"] = status
    record["TransformEndTime"] = now
    record["LastModifiedTime"] = now
    if failure_reason:
        record["FailureReason"] = failure_reason[:1024]
