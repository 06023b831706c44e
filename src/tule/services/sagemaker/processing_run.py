"""One processing job's execution on its own thread, and the runner that starts and stops them.

The run: place the instances (`runtime.instances`), lay out each instance's `/opt/ml` in a
folder of the job (`processing/...` for inputs and outputs, `config/processingjobconfig.json`
with the job as Describe shows it, `config/resourceconfig.json` with `current_host` and
`hosts`), download the inputs (`processing_io`), then run one process per instance through the
runtime executor (`processing_command` says what), with its lines in CloudWatch Logs group
`/aws/sagemaker/ProcessingJobs`, stream `<job>/algo-<n>-<epoch>`. MaxRuntimeInSeconds and
StopProcessingJob send SIGTERM, then SIGKILL after the grace period. Exit code 0 on every
instance -> Completed and the outputs uploaded; otherwise Failed. Either way the first 1 KB of
the instances' `/opt/ml/output/message` becomes `ExitMessage` (specs §5.5).

Where the machine allows it, each process gets its own `/opt/ml` (`runtime.container_root`), so
paths hard-coded in scripts resolve; elsewhere one line in each instance's log says they will
not, and only the paths the platform passes are mapped.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tule.runtime import container_root
from tule.runtime.executor import ProcessSpec
from tule.runtime.instances import PlacementError, place
from tule.runtime.workspace import Workspace
from tule.services.sagemaker.job_logs import JobLog
from tule.services.sagemaker.job_runner import JobRunner, JobThread
from tule.services.sagemaker.processing_command import (
    CODE_DIR,
    command,
    interpreter,
    write_shims,
)
from tule.services.sagemaker.processing_io import DataError, Outputs, download_inputs
from tule.services.sagemaker.processing_jobs import (
    DEFAULT_MAX_RUNTIME,
    ECHOED,
    INTERRUPTED_REASON,
    LOG_GROUP,
    ProcessingJobs,
    finish,
)
from tule.services.sagemaker.records import Record
from tule.services.sagemaker.training_run import RunEnv
from tule.services.sagemaker.training_workers import Platform

log = logging.getLogger("tule.sagemaker.processing")

POLL_S = 0.05
# When one instance fails, the others are told to stop and given this long.
PEER_FAILURE_GRACE_S = 5.0
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
EXIT_MESSAGE_LIMIT = 1024
NO_PRIVATE_ROOT = (
    "tule: this machine cannot give the job its own /opt/ml ({reason}). /opt/ml paths in "
    "ContainerEntrypoint, ContainerArguments and Environment are mapped to the job's folder, "
    "but /opt/ml paths hard-coded in scripts will not resolve."
)

Outcome = tuple[str, str | None]  # ProcessingJobStatus, FailureReason


@dataclass
class ProcessingEnv(RunEnv):
    """What a run needs from the SageMaker domain and its peers: training's, with the
    processing-job records."""

    jobs: ProcessingJobs  # type: ignore[assignment]


class ProcessingRun(JobThread):
    """Runs one job; `request_stop()` and `interrupt()` may be called from any thread."""

    def __init__(self, env: ProcessingEnv, account: str, region: str, name: str) -> None:
        self.env = env
        self.account, self.region, self.name = account, region, name
        super().__init__("processing", name)
        self.folder = env.jobs_dir / account / region / name
        self.workspaces: list[Workspace] = []
        self.outputs: Outputs | None = None
        self.job_log = JobLog(env.logs, account, region, env.jobs.clock.time, group=LOG_GROUP)

    def _now(self) -> float:
        return self.env.jobs.clock.time()

    def _update(self, change: Any) -> Record:
        return self.env.jobs.update(self.account, self.region, self.name, change)

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        exit_message: str | None = None
        try:
            status, reason = self._run()
        except DataError as exc:
            status, reason = "Failed", str(exc)
        except Exception as exc:  # a bug of ours must still end the job, with its reason
            log.exception("processing job %s failed inside tule", self.name)
            status, reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"
        try:
            exit_message = _exit_message(self.workspaces)
        except DataError as exc:
            status, reason = "Failed", reason or str(exc)
        finally:
            self._cleanup()
        if self.interrupted:
            status, reason = "Failed", INTERRUPTED_REASON

        def change(record: Record) -> None:
            finish(record, status, self._now(), failure_reason=reason, exit_message=exit_message)

        self._update(change)

    def _run(self) -> Outcome:
        record = self.env.jobs.get(self.account, self.region, self.name)
        cluster = (record.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        instance_type = cluster.get("InstanceType") or DEFAULT_INSTANCE_TYPE
        count = max(1, int(cluster.get("InstanceCount") or 1))
        try:
            placement = place(instance_type, instance_count=count)
        except PlacementError as exc:
            return ("Failed", f"ClientError: {exc}")
        hosts = [f"algo-{i + 1}" for i in range(count)]
        start = int(self._now())
        host_logs = [self.job_log.open(f"{self.name}/{host}-{start}", None) for host in hosts]
        self.job_log.start()
        self.workspaces = [Workspace(self.folder / host) for host in hosts]
        members = ("ProcessingJobArn", "ProcessingJobName", *ECHOED)
        config = {k: record[k] for k in members if k in record}
        for host, ws in zip(hosts, self.workspaces, strict=True):
            (ws.root / "config").mkdir(parents=True, exist_ok=True)
            ws.output_dir.mkdir(parents=True, exist_ok=True)
            _write_json(ws.root / "config" / "processingjobconfig.json", config)
            resources = {"current_host": host, "hosts": hosts}
            _write_json(ws.root / "config" / "resourceconfig.json", resources)

        self.outputs = outputs = Outputs(
            self.env.s3,
            (record.get("ProcessingOutputConfig") or {}).get("Outputs") or [],
            self.workspaces,
        )
        outputs.check()
        inputs = record.get("ProcessingInputs") or []
        files = download_inputs(
            self.env.s3, inputs, self.workspaces, self.region, record.get("RoleArn") or ""
        )
        if inputs:
            host_logs[0].note(f"tule: downloaded {files} input files from S3")
        if self.stop_requested.is_set():
            return ("Stopped", None)

        private_root = container_root.probe()
        if private_root is not None:
            for host_log in host_logs:
                host_log.note(NO_PRIVATE_ROOT.format(reason=private_root))
        python = interpreter(
            self.workspaces[0].map_container_path(CODE_DIR),
            self.folder / "requirements",
            self.env.venv_cache,
            host_logs[0].note,
        )
        shims = write_shims(self.folder / "bin", python)
        platform = Platform(
            self.region, self.env.endpoint_url, self.env.credentials, self.env.venv_cache
        )
        specs = []
        for host, ws, host_log in zip(hosts, self.workspaces, host_logs, strict=True):
            cmd = command(record, ws, python, shims, platform, private_root is None)
            specs.append(
                ProcessSpec(
                    argv=cmd.argv,
                    env=cmd.env,
                    cwd=ws.root,
                    on_line=host_log.line,
                    threads=placement.threads,
                    memory_limit_bytes=placement.memory_limit_bytes,
                    name=f"{self.name}/{host}",
                )
            )
        if self.stop_requested.is_set():
            return ("Stopped", None)
        self._update(lambda r: r.update(ProcessingStartTime=self._now()))
        outputs.start()
        try:
            for spec in specs:
                self.executions.append(self.env.executor.start(spec))
            ending = self._watch(record)
        except OSError as exc:
            ending = ("Failed", f"ClientError: the processing container could not start: {exc}")
        finally:
            for execution in self.executions:
                if execution.returncode is None:
                    execution.kill()
        self.job_log.flush()
        codes = [e.returncode for e in self.executions]
        succeeded = ending is None and all(code == 0 for code in codes)
        outputs.finish(succeeded)
        if ending is not None:
            return ending
        if succeeded:
            return ("Completed", None)
        return ("Failed", _failure_reason(hosts, codes, [h.stream for h in host_logs]))

    def _watch(self, record: Record) -> Outcome | None:
        """Wait for the processes; None when they ended by themselves."""
        condition = record.get("StoppingCondition") or {}
        max_runtime = condition.get("MaxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME
        deadline = time.monotonic() + max_runtime
        while True:
            if all(e.wait(0) is not None for e in self.executions):
                return None
            if self.stop_requested.is_set():
                self._stop_processes(self.env.stop_grace_s)
                return ("Stopped", None)
            if time.monotonic() >= deadline:
                self._update(_stopping(self._now()))
                self._stop_processes(self.env.stop_grace_s)
                return (
                    "Stopped",
                    f"MaxRuntimeExceeded: the processing job ran longer than its "
                    f"StoppingCondition.MaxRuntimeInSeconds ({max_runtime} s) and was stopped.",
                )
            if any(e.returncode not in (None, 0) for e in self.executions):
                # One instance failing fails the job: the others are not waited for.
                self._stop_processes(PEER_FAILURE_GRACE_S)
                return None
            self.executions[0].wait(POLL_S)

    def _stop_processes(self, grace: float) -> None:
        for execution in self.executions:
            execution.stop(grace)
        for execution in self.executions:
            execution.wait()

    def _cleanup(self) -> None:
        for execution in self.executions:
            if execution.returncode is None:
                execution.kill()
        if self.outputs is not None:
            self.outputs.close()
        self.job_log.close()
        if not self.env.keep_workspaces:
            shutil.rmtree(self.folder, ignore_errors=True)


def _stopping(now: float) -> Any:
    def change(record: Record) -> None:
        if record["ProcessingJobStatus"] == "InProgress":
            record["ProcessingJobStatus"] = "Stopping"
            record["LastModifiedTime"] = now

    return change


def _write_json(path: Path, content: Any) -> None:
    path.write_text(json.dumps(content, indent=2, default=str), encoding="utf-8")


def _exit_message(workspaces: list[Workspace]) -> str | None:
    """The instances' /opt/ml/output/message files, concatenated, first 1 KB (AWS fails the
    job with a ClientError when one is not UTF-8)."""
    parts = []
    for ws in workspaces:
        path = ws.output_dir / "message"
        try:
            data = path.read_bytes()
        except OSError:
            continue
        try:
            parts.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise DataError(
                "ClientError: /opt/ml/output/message is not UTF-8 encoded text."
            ) from None
    message = "".join(parts)[:EXIT_MESSAGE_LIMIT]
    return message or None


def _failure_reason(hosts: list[str], codes: list[int | None], streams: list[str]) -> str:
    index = next((i for i, c in enumerate(codes) if c not in (0, None)), 0)
    code = codes[index]
    how = (
        f"was killed by signal {-code}"
        if code is not None and code < 0
        else f"exited with code {code}"
    )
    return (
        f"AlgorithmError: See job logs for more information. The processing container on "
        f"{hosts[index]} {how} (CloudWatch Logs group {LOG_GROUP}, stream {streams[index]})."
    )


class ProcessingRunner(JobRunner):
    """Every running processing job of one server (see `job_runner`)."""

    def __init__(self, env: ProcessingEnv) -> None:
        super().__init__(env, ProcessingRun)
