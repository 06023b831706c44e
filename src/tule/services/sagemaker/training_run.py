"""One training job's execution, on its own thread: the secondary statuses as they happen.

Starting (pick how to run the image, place the instances, lay out a workspace per instance) ->
Downloading (File-mode channels and checkpoints copied out of S3; Pipe-mode channels get FIFO
feeders) -> Training (one worker process per instance through the runtime executor; logs to
CloudWatch Logs; metrics read off the log; MaxRuntimeInSeconds and StopTrainingJob enforced) ->
Uploading (model.tar.gz, output.tar.gz, checkpoints) -> Completed, or Failed with the
FailureReason the worker wrote to `output/failure`, or Stopped / MaxRuntimeExceeded.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tule.algorithms.distributed import Tracker
from tule.runtime import toolkit
from tule.runtime.executor import Execution, Executor, ProcessSpec
from tule.runtime.instances import Placement, PlacementError, place
from tule.runtime.pipes import PipeFeeder
from tule.runtime.workspace import Workspace, input_data_config, resource_config
from tule.services.sagemaker import channels as channel_data
from tule.services.sagemaker import images
from tule.services.sagemaker.artifacts import Checkpoints, upload_tree
from tule.services.sagemaker.job_logs import HostLog, JobLog
from tule.services.sagemaker.metrics import MetricSeries
from tule.services.sagemaker.script_mode import (
    FRAMEWORK_MODULES,
    Script,
    ScriptError,
    fetch_source,
    interpreter,
)
from tule.services.sagemaker.training_jobs import (
    INTERRUPTED_REASON,
    METRIC_DEFINITIONS,
    TrainingJobs,
)
from tule.services.sagemaker.training_status import MESSAGES, Record, finish, transition

log = logging.getLogger("tule.sagemaker.training")

POLL_S = 0.05
# How often a running job's metrics are written to its record (Describe shows them live).
METRICS_SAVE_INTERVAL_S = 1.0
# SageMaker sends SIGTERM, then SIGKILL 120 s later (specs §2.3); tests may shorten it.
STOP_GRACE_S = 120.0


class JobFailure(Exception):
    """Ends the job as Failed; str(e) is the FailureReason."""


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


def _mode(channel: dict[str, Any], default: str) -> str:
    return channel.get("InputMode") or default


class JobRun:
    """Runs one job; `request_stop()` may be called from any thread."""

    def __init__(self, env: RunEnv, account: str, region: str, name: str) -> None:
        self.env = env
        self.account, self.region, self.name = account, region, name
        self.stop_requested = threading.Event()
        self.interrupted = False
        self.role_arn: str | None = None
        self.thread = threading.Thread(target=self.run, name=f"training-{name}", daemon=True)
        self.folder = env.jobs_dir / account / region / name
        self.feeders: list[PipeFeeder] = []
        self.executions: list[Execution] = []
        self.metrics = MetricSeries([])
        self.checkpoints: Checkpoints | None = None
        self.job_log = JobLog(env.logs, account, region, env.jobs.clock.time)

    # -- plumbing ----------------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def request_stop(self) -> None:
        self.stop_requested.set()

    def interrupt(self) -> None:
        """The server is shutting down: end now, as a restart would."""
        self.interrupted = True
        self.stop_requested.set()
        for execution in list(self.executions):
            execution.kill()

    def _update(self, change: Any) -> Record:
        return self.env.jobs.update(self.account, self.region, self.name, change)

    def _transition(self, secondary: str, **extra: Any) -> None:
        def change(record: Record) -> None:
            if record["TrainingJobStatus"] == "InProgress":
                transition(record, secondary, self.env.jobs.clock.time())
            record.update(extra)

        self._update(change)

    def _now(self) -> float:
        return self.env.jobs.clock.time()

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

    def _save_metrics(self) -> None:
        with self.job_log.lock:
            points = list(self.metrics.points)
            final = self.metrics.final()
        if not points:
            return
        self.env.jobs.put_metric_series(self.account, self.region, self.name, points)
        self._update(lambda record: record.__setitem__("FinalMetricDataList", final))

    def _stopped(self) -> tuple[str, str, str | None] | None:
        if self.stop_requested.is_set():
            return ("Stopped", "Stopped", None)
        return None

    def _run(self) -> tuple[str, str, str | None]:
        record = self.env.jobs.get(self.account, self.region, self.name)
        self.role_arn = record.get("RoleArn")
        spec = record["AlgorithmSpecification"]
        if spec.get("AlgorithmName"):
            raise JobFailure(
                f"ClientError: tule cannot run the algorithm resource '{spec['AlgorithmName']}': "
                "only SageMaker's built-in algorithm images and framework images run here."
            )
        image = spec["TrainingImage"]
        raw_hps = {k: str(v) for k, v in (record.get("HyperParameters") or {}).items()}
        framework = images.classify(image)
        script = None
        if isinstance(framework, images.FrameworkImage):
            script = Script.from_hyperparameters(raw_hps, framework.framework)
        builtin = None if script else images.builtin_for(image)
        if script is None and builtin is None:
            raise JobFailure(f"ClientError: {images.unsupported_reason(image)}")
        resources = record["ResourceConfig"]
        if resources.get("InstanceGroups"):
            raise JobFailure(
                "ClientError: heterogeneous clusters (ResourceConfig.InstanceGroups) are not "
                "supported in tule yet."
            )
        instance_type = resources.get("InstanceType") or "ml.m5.large"
        count = max(1, int(resources.get("InstanceCount") or 1))
        try:
            placement = place(instance_type, instance_count=count)
        except PlacementError as exc:
            raise JobFailure(f"ClientError: {exc}") from None

        hosts = [f"algo-{i + 1}" for i in range(count)]
        channels = record.get("InputDataConfig") or []
        default_mode = spec.get("TrainingInputMode") or "File"
        data_config = input_data_config(channels, default_mode=default_mode)
        workspaces = []
        for host in hosts:
            ws = Workspace(self.folder / host).create()
            ws.write_config(raw_hps, data_config, resource_config(host, hosts, instance_type))
            workspaces.append(ws)

        start = int(self._now())
        host_logs = [
            self.job_log.open(f"{self.name}/{host}-{start}", self.metrics if i == 0 else None)
            for i, host in enumerate(hosts)
        ]
        definitions = record.get(METRIC_DEFINITIONS) or spec.get("MetricDefinitions") or []
        self.metrics.definitions = MetricSeries.compile(definitions).definitions
        self.job_log.start()

        self._prepare_channels(channels, default_mode, workspaces)
        self.checkpoints = self._prepare_checkpoints(record, workspaces)
        if script is not None:
            try:
                fetch_source(self.env.s3, script, workspaces)
            except ScriptError as exc:
                raise JobFailure(str(exc)) from None
        if (stopped := self._stopped()) is not None:
            return stopped

        self._transition("Training", TrainingStartTime=self._now())
        tracker = None
        try:
            if builtin is not None and count > 1:
                tracker = Tracker(count)
                tracker.start()
            base_env = self._base_env(record, placement)
            if tracker is not None:
                base_env |= tracker.worker_env()
            port = _free_port() if count > 1 else 0
            for i, (host, ws) in enumerate(zip(hosts, workspaces, strict=True)):
                if script is not None:
                    argv, env = self._script_process(
                        script,
                        ws,
                        host_logs[i],
                        raw_hps,
                        data_config,
                        hosts,
                        host,
                        instance_type,
                        placement,
                        port,
                    )
                    cwd = ws.code_dir
                else:
                    assert builtin is not None
                    argv = [
                        sys.executable,
                        "-m",
                        "tule.algorithms.container",
                        "train",
                        "--workspace",
                        str(ws.root),
                        "--algorithm",
                        image,
                    ]
                    env, cwd = {}, ws.root
                user_env = {
                    k: _map_path(ws, v) for k, v in (record.get("Environment") or {}).items()
                }
                self.executions.append(
                    self.env.executor.start(
                        ProcessSpec(
                            argv=argv,
                            env=base_env | env | user_env,
                            cwd=cwd,
                            on_line=host_logs[i].line,
                            threads=placement.threads,
                            memory_limit_bytes=placement.memory_limit_bytes,
                            name=f"{self.name}/{host}",
                        )
                    )
                )
            ending = self._watch(record)
        finally:
            for execution in self.executions:
                if execution.returncode is None:
                    execution.kill()
            if tracker is not None:
                tracker.close()
            for feeder in self.feeders:
                feeder.close()
        self.job_log.flush()

        codes = [e.returncode for e in self.executions]
        if ending is None and all(code == 0 for code in codes):
            self._transition("Uploading")
        self._upload(record, workspaces)
        if self.checkpoints is not None:
            self.checkpoints.close()
            self.checkpoints = None
        if ending is not None:
            return ending
        if all(code == 0 for code in codes):
            return ("Completed", "Completed", None)
        return ("Failed", "Failed", self._failure_reason(workspaces, codes))

    # -- phases ------------------------------------------------------------------------------

    def _prepare_channels(
        self, channels: list[dict[str, Any]], default_mode: str, workspaces: list[Workspace]
    ) -> None:
        if not channels:
            return
        try:
            resolved = {
                c["ChannelName"]: channel_data.resolve(
                    self.env.s3, c, region=self.region, role_arn=self.role_arn
                )
                for c in channels
            }
        except channel_data.ChannelError as exc:
            raise JobFailure(str(exc)) from None
        if any(_mode(c, default_mode) != "Pipe" for c in channels):
            self._transition("Downloading")
        count = len(workspaces)
        for i, ws in enumerate(workspaces):
            for channel in channels:
                name = channel["ChannelName"]
                source = channel["DataSource"].get("S3DataSource") or {}
                distribution = source.get("S3DataDistributionType")
                if _mode(channel, default_mode) == "Pipe":
                    self._feed(channel, source, resolved[name], (i, count), ws)
                    continue
                objects = channel_data.shard(resolved[name], distribution, i, count)
                target = ws.channel_dir(name)
                target.mkdir(parents=True, exist_ok=True)
                try:
                    channel_data.download(self.env.s3, objects, target)
                except channel_data.ChannelError as exc:
                    raise JobFailure(str(exc)) from None
                if self.stop_requested.is_set():
                    return

    def _feed(
        self,
        channel: dict[str, Any],
        source: dict[str, Any],
        objects: list[channel_data.SourceObject],
        host: tuple[int, int],
        ws: Workspace,
    ) -> None:
        """A FIFO feeder for one Pipe-mode channel of one instance. SageMaker shuffles the
        whole channel each epoch and then shards it, so an instance's share changes by epoch."""
        s3 = self.env.s3
        seed = (channel.get("ShuffleConfig") or {}).get("Seed")
        augmented = source.get("S3DataType") == "AugmentedManifestFile"
        names = source.get("AttributeNames") or []
        distribution = source.get("S3DataDistributionType")

        def epoch_bytes(epoch: int) -> Any:
            if augmented:
                for manifest in objects:
                    yield from channel_data.augmented_records(
                        s3, manifest, names, seed=seed, epoch=epoch
                    )
                return
            order = channel_data.shuffled(objects, seed, epoch)
            yield from channel_data.stream(
                s3,
                channel_data.shard(order, distribution, *host),
                compression=channel.get("CompressionType"),
                record_wrapper=channel.get("RecordWrapperType"),
            )

        ws.data_dir.mkdir(parents=True, exist_ok=True)
        feeder = PipeFeeder(ws.data_dir, channel["ChannelName"], epoch_bytes)
        feeder.start()
        self.feeders.append(feeder)

    def _prepare_checkpoints(
        self, record: Record, workspaces: list[Workspace]
    ) -> Checkpoints | None:
        config = record.get("CheckpointConfig")
        if not config:
            return None
        local = workspaces[0].map_container_path(config.get("LocalPath") or "/opt/ml/checkpoints/")
        for ws in workspaces[1:]:  # other instances see the same path in their own folder
            ws.map_container_path(config.get("LocalPath") or "/opt/ml/checkpoints/").mkdir(
                parents=True, exist_ok=True
            )
        try:
            checkpoints = Checkpoints(self.env.s3, config["S3Uri"], local)
            checkpoints.download()
        except channel_data.ChannelError as exc:
            raise JobFailure(f"ClientError: CheckpointConfig.S3Uri: {exc}") from None
        except Exception as exc:
            code = getattr(exc, "code", type(exc).__name__)
            raise JobFailure(f"ClientError: could not read checkpoints from S3: {code}") from None
        checkpoints.start()
        return checkpoints

    def _base_env(self, record: Record, placement: Placement) -> dict[str, str]:
        access_key, secret = self.env.credentials
        env = dict(os.environ)
        env.update(
            {
                "TRAINING_JOB_NAME": self.name,
                "TRAINING_JOB_ARN": record["TrainingJobArn"],
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ENDPOINT_URL": self.env.endpoint_url,
                "AWS_ACCESS_KEY_ID": access_key,
                "AWS_SECRET_ACCESS_KEY": secret,
                "SM_NUM_CPUS": str(placement.threads),
                "SM_NUM_GPUS": str(placement.gpus),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.pop("AWS_SESSION_TOKEN", None)
        return env

    def _script_process(
        self,
        script: Script,
        ws: Workspace,
        host_log: HostLog,
        raw_hps: dict[str, str],
        data_config: dict[str, Any],
        hosts: list[str],
        host: str,
        instance_type: str,
        placement: Placement,
        port: int,
    ) -> tuple[list[str], dict[str, str]]:
        try:
            python = interpreter(ws, self.env.venv_cache, host_log.note)
        except ScriptError as exc:
            raise JobFailure(str(exc)) from None
        env = toolkit.training_environment(
            ws,
            job_name=self.name,
            raw_hyperparameters=raw_hps,
            input_data_config=data_config,
            resource_config=resource_config(host, hosts, instance_type),
            num_cpus=placement.threads,
            num_gpus=placement.gpus,
            entry_point=script.entry_point,
            module_dir=str(script.submit_directory),
            framework_module=FRAMEWORK_MODULES.get(script.framework),
        )
        if len(hosts) > 1:
            env |= toolkit.distributed_environment(hosts, host, port, placement.gpus)
        path = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = str(ws.code_dir) + (os.pathsep + path if path else "")
        hyperparameters = {k: _map_path(ws, v) for k, v in script.user_hyperparameters.items()}
        argv = toolkit.script_command(python, ws.code_dir, script.entry_point, hyperparameters)
        return argv, env

    def _watch(self, record: Record) -> tuple[str, str, str | None] | None:
        """Wait for the workers; None when they all ended by themselves."""
        max_runtime = (record.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        deadline = time.monotonic() + max_runtime if max_runtime else None
        last_metrics, next_save = 0, 0.0
        while True:
            if all(e.wait(0) is not None for e in self.executions):
                return None
            if self.stop_requested.is_set():
                self._stop_workers()
                return ("Stopped", "Stopped", None)
            if deadline is not None and time.monotonic() >= deadline:
                self._update(self._stopping)
                self._stop_workers()
                return ("Stopped", "MaxRuntimeExceeded", None)
            failed = [e for e in self.executions if e.returncode not in (None, 0)]
            if failed:  # one instance failing fails the job, as in SageMaker
                self._stop_workers(grace=5.0)
                return None
            if len(self.metrics.points) != last_metrics and time.monotonic() >= next_save:
                last_metrics = len(self.metrics.points)
                next_save = time.monotonic() + METRICS_SAVE_INTERVAL_S
                self._save_metrics()
            self.executions[0].wait(POLL_S)

    def _stopping(self, record: Record) -> None:
        if record["TrainingJobStatus"] == "InProgress":
            record["TrainingJobStatus"] = "Stopping"
            transition(record, "Stopping", self._now())

    def _stop_workers(self, grace: float | None = None) -> None:
        for execution in self.executions:
            execution.stop(self.env.stop_grace_s if grace is None else grace)
        for execution in self.executions:
            execution.wait()

    def _upload(self, record: Record, workspaces: list[Workspace]) -> None:
        s3 = self.env.s3
        model_uri = record["ModelArtifacts"]["S3ModelArtifacts"]
        output_uri = model_uri.rsplit("/", 1)[0] + "/output.tar.gz"
        try:
            upload_tree(s3, [ws.model_dir for ws in workspaces], model_uri, always=True)
            upload_tree(s3, [ws.output_data_dir for ws in workspaces], output_uri, always=False)
        except Exception as exc:
            code = getattr(exc, "code", type(exc).__name__)
            raise JobFailure(
                f"ClientError: could not upload the model to {model_uri}: {code}"
            ) from None

    def _failure_reason(self, workspaces: list[Workspace], codes: list[int | None]) -> str:
        reasons = [r for r in (ws.failure_reason() for ws in workspaces) if r]
        # A host that lost its peer reports that; the peer's own reason is the one to show.
        own = [r for r in reasons if "lost contact" not in r]
        if own or reasons:
            return (own or reasons)[0]
        code = next((c for c in codes if c not in (0, None)), codes[0])
        return (
            f"AlgorithmError: the training process exited with a non-zero exit code {code}. "
            "Check the job's log in CloudWatch Logs (/aws/sagemaker/TrainingJobs)."
        )

    def _cleanup(self) -> None:
        for execution in self.executions:
            if execution.returncode is None:
                execution.kill()
        for feeder in self.feeders:
            feeder.close()
        if self.checkpoints is not None:
            try:
                self.checkpoints.close()
            except Exception:
                log.exception("final checkpoint upload of %s failed", self.name)
        self.job_log.close()
        if not self.env.keep_workspaces:
            shutil.rmtree(self.folder, ignore_errors=True)


def _map_path(ws: Workspace, value: Any) -> Any:
    """Scripts name SageMaker's fixed paths (`/opt/ml/checkpoints`, `/opt/ml/model`) in their
    arguments and environment; here each instance's `/opt/ml` is its workspace folder."""
    if isinstance(value, str) and (value == "/opt/ml" or value.startswith("/opt/ml/")):
        return str(ws.map_container_path(value))
    return value


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
