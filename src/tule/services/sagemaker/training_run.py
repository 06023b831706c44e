"""One training job's execution, on its own thread: the secondary statuses as they happen.

Starting (plan the job: `training_plan`; lay out a workspace per instance) -> Downloading
(File-mode channels and checkpoints out of S3, Pipe-mode feeders: `training_inputs`) ->
Training (one worker process per instance through the runtime executor: `training_workers`;
logs to CloudWatch Logs and metrics read off them: `job_logs`; MaxRuntimeInSeconds and
StopTrainingJob enforced) -> Uploading (model.tar.gz, output.tar.gz, checkpoints) -> Completed,
or Failed with the FailureReason a worker wrote to `output/failure`, or Stopped /
MaxRuntimeExceeded.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tule.algorithms.distributed import Tracker
from tule.runtime.executor import Executor
from tule.runtime.workspace import Workspace, resource_config
from tule.services.sagemaker.artifacts import upload_tree
from tule.services.sagemaker.job_logs import JobLog
from tule.services.sagemaker.job_runner import JobThread
from tule.services.sagemaker.metrics import MetricSeries
from tule.services.sagemaker.script_mode import ScriptError, fetch_source
from tule.services.sagemaker.training_inputs import Inputs
from tule.services.sagemaker.training_jobs import (
    INTERRUPTED_REASON,
    METRIC_DEFINITIONS,
    TrainingJobs,
)
from tule.services.sagemaker.training_plan import JobFailure, Plan, plan_job
from tule.services.sagemaker.training_status import MESSAGES, Record, finish, transition
from tule.services.sagemaker.training_workers import Platform, worker_specs

log = logging.getLogger("tule.sagemaker.training")

POLL_S = 0.05
# How often a running job's metrics are written to its record (Describe shows them live).
METRICS_SAVE_INTERVAL_S = 1.0
# SageMaker sends SIGTERM, then SIGKILL 120 s later (specs §2.3).
STOP_GRACE_S = 120.0
# When one instance fails, the others are told to stop and given this long.
PEER_FAILURE_GRACE_S = 5.0

Outcome = tuple[str, str, str | None]  # TrainingJobStatus, SecondaryStatus, FailureReason


@dataclass
class RunEnv:
    """What a run needs from the SageMaker domain and its peers."""

    jobs: TrainingJobs
    s3: Any
    logs: Any
    executor: Executor
    jobs_dir: Path
    venv_cache: Path
    endpoint_url: str
    credentials: tuple[str, str]
    stop_grace_s: float = STOP_GRACE_S
    keep_workspaces: bool = False


class JobRun(JobThread):
    """Runs one job; `request_stop()` and `interrupt()` may be called from any thread."""

    def __init__(self, env: RunEnv, account: str, region: str, name: str) -> None:
        self.env = env
        self.account, self.region, self.name = account, region, name
        super().__init__("training", name)
        self.folder = env.jobs_dir / account / region / name
        self.metrics = MetricSeries([])
        self.inputs = Inputs(env.s3, region, None)
        self.job_log = JobLog(env.logs, account, region, env.jobs.clock.time)

    # -- control -----------------------------------------------------------------------------

    # -- records -----------------------------------------------------------------------------

    def _now(self) -> float:
        return self.env.jobs.clock.time()

    def _update(self, change: Any) -> Record:
        return self.env.jobs.update(self.account, self.region, self.name, change)

    def _transition(self, secondary: str, **extra: Any) -> None:
        def change(record: Record) -> None:
            if record["TrainingJobStatus"] == "InProgress":
                transition(record, secondary, self._now())
            record.update(extra)

        self._update(change)

    def _stopping(self, record: Record) -> None:
        if record["TrainingJobStatus"] == "InProgress":
            record["TrainingJobStatus"] = "Stopping"
            transition(record, "Stopping", self._now())

    def _save_metrics(self) -> None:
        with self.job_log.lock:
            points = list(self.metrics.points)
            final = self.metrics.final()
        if not points:
            return
        self.env.jobs.put_metric_series(self.account, self.region, self.name, points)
        self._update(lambda record: record.__setitem__("FinalMetricDataList", final))

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            outcome = self._run()
        except JobFailure as exc:
            outcome = ("Failed", "Failed", str(exc))
        except Exception as exc:  # a bug of ours must still end the job, with its reason
            log.exception("training job %s failed inside tule", self.name)
            outcome = ("Failed", "Failed", f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            self._cleanup()
        if self.interrupted:
            outcome = ("Failed", "Failed", INTERRUPTED_REASON)
        status, secondary, reason = outcome
        self._save_metrics()

        def change(record: Record) -> None:
            message = MESSAGES.get(secondary)
            finish(record, status, secondary, self._now(), failure_reason=reason, message=message)

        self._update(change)

    def _run(self) -> Outcome:
        record = self.env.jobs.get(self.account, self.region, self.name)
        plan = plan_job(record)
        self.inputs.role_arn = record.get("RoleArn")
        workspaces = []
        for host in plan.hosts:
            ws = Workspace(self.folder / host).create()
            config = resource_config(host, plan.hosts, plan.instance_type)
            ws.write_config(plan.hyperparameters, plan.data_config, config)
            workspaces.append(ws)
        start = int(self._now())
        # Metrics are read off the first instance's log (every instance of a distributed
        # built-in logs the same global values).
        host_logs = [
            self.job_log.open(f"{self.name}/{host}-{start}", self.metrics if i == 0 else None)
            for i, host in enumerate(plan.hosts)
        ]
        spec = record["AlgorithmSpecification"]
        definitions = record.get(METRIC_DEFINITIONS) or spec.get("MetricDefinitions") or []
        self.metrics.definitions = MetricSeries.compile(definitions).definitions
        self.job_log.start()

        self.inputs.prepare_channels(
            plan, workspaces, lambda: self._transition("Downloading"), self.stop_requested
        )
        self.inputs.prepare_checkpoints(record, workspaces)
        if plan.script is not None:
            try:
                fetch_source(self.env.s3, plan.script, workspaces)
            except ScriptError as exc:
                raise JobFailure(str(exc)) from None
        if self.stop_requested.is_set():
            return ("Stopped", "Stopped", None)

        self._transition("Training", TrainingStartTime=self._now())
        ending = self._train(plan, record, workspaces, host_logs)
        self.job_log.flush()

        codes = [e.returncode for e in self.executions]
        succeeded = ending is None and all(code == 0 for code in codes)
        if succeeded:
            self._transition("Uploading")
        self._upload(record, workspaces)
        self.inputs.close()
        if ending is not None:
            return ending
        if succeeded:
            return ("Completed", "Completed", None)
        return ("Failed", "Failed", _failure_reason(workspaces, codes))

    def _train(
        self, plan: Plan, record: Record, workspaces: list[Workspace], host_logs: list[Any]
    ) -> Outcome | None:
        """Start one worker per instance and watch them; None when they ended by themselves."""
        platform = Platform(
            self.region, self.env.endpoint_url, self.env.credentials, self.env.venv_cache
        )
        tracker = None
        try:
            extra: dict[str, str] = {}
            if plan.builtin is not None and len(plan.hosts) > 1:
                # The built-ins combine their work through xgboost's collective.
                tracker = Tracker(len(plan.hosts))
                tracker.start()
                extra = tracker.worker_env()
            specs = worker_specs(
                plan,
                record,
                workspaces,
                [h.line for h in host_logs],
                [h.note for h in host_logs],
                platform,
                extra,
            )
            for spec in specs:
                self.executions.append(self.env.executor.start(spec))
            return self._watch(record)
        finally:
            for execution in self.executions:
                if execution.returncode is None:
                    execution.kill()
            if tracker is not None:
                tracker.close()
            self.inputs.close_feeders()

    def _watch(self, record: Record) -> Outcome | None:
        max_runtime = (record.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        deadline = time.monotonic() + max_runtime if max_runtime else None
        last_metrics, next_save = 0, 0.0
        while True:
            feeding_error = self.inputs.feeding_error()
            if feeding_error is not None:
                self._stop_workers(PEER_FAILURE_GRACE_S)
                return ("Failed", "Failed", feeding_error)
            if all(e.wait(0) is not None for e in self.executions):
                # A reader may have finished just as its feeder failed.
                feeding_error = self.inputs.feeding_error()
                return None if feeding_error is None else ("Failed", "Failed", feeding_error)
            if self.stop_requested.is_set():
                self._stop_workers(self.env.stop_grace_s)
                return ("Stopped", "Stopped", None)
            if deadline is not None and time.monotonic() >= deadline:
                self._update(self._stopping)
                self._stop_workers(self.env.stop_grace_s)
                return ("Stopped", "MaxRuntimeExceeded", None)
            if any(e.returncode not in (None, 0) for e in self.executions):
                # One instance failing fails the job, as in SageMaker.
                self._stop_workers(PEER_FAILURE_GRACE_S)
                return None
            if len(self.metrics.points) != last_metrics and time.monotonic() >= next_save:
                last_metrics = len(self.metrics.points)
                next_save = time.monotonic() + METRICS_SAVE_INTERVAL_S
                self._save_metrics()
            self.executions[0].wait(POLL_S)

    def _stop_workers(self, grace: float) -> None:
        for execution in self.executions:
            execution.stop(grace)
        for execution in self.executions:
            execution.wait()

    def _upload(self, record: Record, workspaces: list[Workspace]) -> None:
        model_uri = record["ModelArtifacts"]["S3ModelArtifacts"]
        output_uri = model_uri.rsplit("/", 1)[0] + "/output.tar.gz"
        try:
            upload_tree(self.env.s3, [ws.model_dir for ws in workspaces], model_uri, always=True)
            upload_tree(
                self.env.s3, [ws.output_data_dir for ws in workspaces], output_uri, always=False
            )
        except Exception as exc:
            code = getattr(exc, "code", type(exc).__name__)
            raise JobFailure(
                f"ClientError: could not upload the model to {model_uri}: {code}"
            ) from None

    def _cleanup(self) -> None:
        for execution in self.executions:
            if execution.returncode is None:
                execution.kill()
        self.inputs.close()
        self.job_log.close()
        if not self.env.keep_workspaces:
            shutil.rmtree(self.folder, ignore_errors=True)


def _failure_reason(workspaces: list[Workspace], codes: list[int | None]) -> str:
    reasons = [r for r in (ws.failure_reason() for ws in workspaces) if r]
    # A host that lost its peer says so; the peer's own reason is the one to show.
    own = [r for r in reasons if "lost contact" not in r]
    if reasons:
        return (own or reasons)[0]
    code = next((c for c in codes if c not in (0, None)), codes[0])
    return (
        f"AlgorithmError: the training process exited with a non-zero exit code {code}. "
        "Check the job's log in CloudWatch Logs (/aws/sagemaker/TrainingJobs)."
    )
