"""Training jobs' control plane: Create, Describe, List and Stop (specs/aws-apis.md §2).

A job is one record in the metadata store, shaped as DescribeTrainingJob answers it (epoch
seconds for timestamps), keyed `training-job/<account>/<region>/<name>`. Creating one writes the
record (InProgress/Starting) and hands the job to the `Runner`, which does the work on its own
threads and processes and reports back through `update`; no request ever waits for training.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.sagemaker import errors
from tule.services.sagemaker.arns import resource_arn
from tule.services.sagemaker.listing import Listing
from tule.services.sagemaker.training_status import MESSAGES, TERMINAL, Record, finish, transition

KEY = "training-job/"
METRICS_KEY = "training-metrics/"
# ARN -> name: ARNs carry the lower-cased name, and tag operations address jobs by ARN.
ARN_KEY = "training-job-arn/"
DEFAULT_MAX_RUNTIME = 86400
MAX_METRIC_DEFINITIONS = 40
# Internal members of a record (Describe's serializer drops what its shape does not name).
METRIC_DEFINITIONS = (
    "_MetricDefinitions"  # the SDK's default, and what Describe shows when none was given
)

# Request members echoed back by DescribeTrainingJob as they were sent.
_ECHOED = (
    "HyperParameters",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "VpcConfig",
    "CheckpointConfig",
    "Environment",
    "RetryStrategy",
    "DebugHookConfig",
    "DebugRuleConfigurations",
    "TensorBoardOutputConfig",
    "ExperimentConfig",
    "ProfilerConfig",
    "ProfilerRuleConfigurations",
    "RemoteDebugConfig",
    "InfraCheckConfig",
)
_FLAGS = (
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
)
LISTING = Listing(
    name_member="TrainingJobName",
    status_member="TrainingJobStatus",
    sort_keys={
        "Name": "TrainingJobName",
        "CreationTime": "CreationTime",
        "Status": "TrainingJobStatus",
    },
    summary=(
        "TrainingJobName",
        "TrainingJobArn",
        "CreationTime",
        "TrainingEndTime",
        "LastModifiedTime",
        "TrainingJobStatus",
        "SecondaryStatus",
    ),
)
INTERRUPTED_REASON = (
    "Training job interrupted by a restart of the server. Start a new training job; with "
    "CheckpointConfig it resumes from the last checkpoint."
)


class Runner(Protocol):
    """What executes jobs: told when one is created and when one should stop."""

    def submit(self, account: str, region: str, name: str) -> None: ...

    def stop(self, account: str, region: str, name: str) -> None: ...


def job_key(account: str, region: str, name: str) -> str:
    return f"{KEY}{account}/{region}/{name}"


class TrainingJobs:
    """The training-job records of every (account, region)."""

    def __init__(self, store: MetadataStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.runner: Runner | None = None
        self._lock = threading.Lock()
        # Built-in algorithms attach their metric definitions to the job (see `create`).
        self.builtin_metrics: Callable[[str], list[dict[str, str]]] = lambda image: []

    # -- reading and writing records -------------------------------------------------------

    def get(self, account: str, region: str, name: str) -> Record:
        record = self.store.get(job_key(account, region, name))
        if record is None:
            raise errors.not_found()
        return record

    def update(
        self, account: str, region: str, name: str, change: Callable[[Record], None]
    ) -> Record:
        """Apply `change` to the stored record (one writer at a time) and store it."""
        key = job_key(account, region, name)
        with self._lock:
            record = self.store.get(key)
            if record is None:
                raise errors.not_found()
            change(record)
            self.store.put(key, record)
            return record

    def put_metric_series(
        self, account: str, region: str, name: str, points: list[tuple[str, float, float]]
    ) -> None:
        """Keep every metric value a job logged (name, value, epoch seconds), for charts."""
        key = f"{METRICS_KEY}{account}/{region}/{name}"
        self.store.put(key, {"points": [list(p) for p in points]})

    def metric_series(self, account: str, region: str, name: str) -> list[tuple[str, float, float]]:
        self.get(account, region, name)
        record = self.store.get(f"{METRICS_KEY}{account}/{region}/{name}") or {}
        return [(str(n), float(v), float(t)) for n, v, t in record.get("points") or []]

    # -- operations ------------------------------------------------------------------------

    def create(self, account: str, region: str, request: dict[str, Any]) -> str:
        name = request["TrainingJobName"]
        arn = resource_arn(region, account, "training-job", name)
        spec = dict(request.get("AlgorithmSpecification") or {})
        if bool(spec.get("TrainingImage")) == bool(spec.get("AlgorithmName")):
            raise errors.validation(
                "Exactly one of AlgorithmSpecification.TrainingImage and "
                "AlgorithmSpecification.AlgorithmName must be specified."
            )
        channels = request.get("InputDataConfig") or []
        seen = [c["ChannelName"] for c in channels]
        duplicates = sorted({c for c in seen if seen.count(c) > 1})
        if duplicates:
            raise errors.validation(f"Channel names must be unique. Duplicate: {duplicates[0]}")
        definitions = list(spec.get("MetricDefinitions") or [])
        if spec.get("TrainingImage"):
            own = {d["Name"] for d in definitions}
            extra = [d for d in self.builtin_metrics(spec["TrainingImage"]) if d["Name"] not in own]
            if extra:
                # Describe shows a built-in's definitions (at most 40, the API's limit); the
                # run reads every one of them.
                definitions += extra
                spec["MetricDefinitions"] = definitions[:MAX_METRIC_DEFINITIONS]
        now = self.clock.time()
        output = request["OutputDataConfig"]
        record: Record = {
            "TrainingJobName": name,
            "TrainingJobArn": arn,
            "AlgorithmSpecification": spec,
            "TrainingJobStatus": "InProgress",
            "CreationTime": now,
            "ModelArtifacts": {
                "S3ModelArtifacts": f"{output['S3OutputPath'].rstrip('/')}/{name}/output/"
                "model.tar.gz"
            },
            "StoppingCondition": request.get("StoppingCondition")
            or {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1}
            | (request.get("ResourceConfig") or {}),
            "ProfilingStatus": "Disabled",
            METRIC_DEFINITIONS: definitions,
        }
        for member in _ECHOED:
            if member in request and member != "ResourceConfig":
                record[member] = request[member]
        for flag in _FLAGS:
            record[flag] = bool(request.get(flag, False))
        transition(record, "Starting", now, "Launching requested ML instances")
        if not self.store.compare_and_set(job_key(account, region, name), None, record):
            existing = self.get(account, region, name)
            raise errors.resource_in_use(
                "Training job names must be unique within an AWS account and region, and a "
                f"training job with this name already exists ({existing['TrainingJobArn']})"
            )
        self.store.put(ARN_KEY + arn, {"TrainingJobName": name})
        if self.runner is not None:
            self.runner.submit(account, region, name)
        return arn

    def exists(self, arn: str) -> bool:
        """Whether a training job has this ARN."""
        return self.store.get(ARN_KEY + arn) is not None

    def describe(self, account: str, region: str, name: str) -> Record:
        return self.get(account, region, name)

    def stop(self, account: str, region: str, name: str) -> None:
        def change(record: Record) -> None:
            status = record["TrainingJobStatus"]
            if status in TERMINAL:
                raise errors.validation(
                    f"The request was rejected because the training job is in status {status}."
                )
            if status == "InProgress":
                record["TrainingJobStatus"] = "Stopping"
                transition(record, "Stopping", self.clock.time(), MESSAGES["Stopping"])

        self.update(account, region, name, change)
        if self.runner is not None:
            self.runner.stop(account, region, name)

    def list(
        self, account: str, region: str, request: dict[str, Any]
    ) -> tuple[list[Record], str | None]:
        """ListTrainingJobs: filtered, sorted, a page at a time (the token is opaque)."""
        return LISTING.page(self.all(account, region), request)

    def recover(self) -> int:
        """After a restart: every job that was running is Failed (its workers are gone)."""
        now = self.clock.time()
        interrupted = 0
        after = None
        while True:
            page = self.store.list(KEY, start_after=after)
            for key, record in page.items:
                if record["TrainingJobStatus"] not in TERMINAL:
                    finish(
                        record,
                        "Failed",
                        "Failed",
                        now,
                        failure_reason=INTERRUPTED_REASON,
                        message=MESSAGES["Interrupted"],
                    )
                    self.store.put(key, record)
                    interrupted += 1
            if page.next_after is None:
                return interrupted
            after = page.next_after

    def all(self, account: str, region: str) -> list[Record]:
        prefix = f"{KEY}{account}/{region}/"
        out: list[Record] = []
        after = None
        while True:
            page = self.store.list(prefix, start_after=after)
            out.extend(record for _, record in page.items)
            if page.next_after is None:
                return out
            after = page.next_after
