"""Running one invocation: the worker's environment, the answer Lambda gives for each way a
run can end, and the execution log (START / END / REPORT) written to CloudWatch Logs.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tule.clock import Clock
from tule.config import Settings
from tule.errors import AwsError
from tule.runtime.lambda_pool import InvokeRequest, WorkerOutcome, WorkerPool, WorkerSpec
from tule.services.lambda_.code import CodeStore
from tule.services.lambda_.models import FunctionConfig

log = logging.getLogger("tule.lambda")

# Lambda's payload quotas: 6 MB each way for synchronous calls.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
# LogType=Tail returns the last 4 KB of the execution log.
LOG_TAIL_BYTES = 4096
# A function's credentials when the server does not check signatures: any will do.
DUMMY_ACCESS_KEY = "test"
DUMMY_SECRET_KEY = "test"


@dataclass(frozen=True)
class Invocation:
    """The result of one invocation, as Invoke answers it."""

    status_code: int  # 200, 202, 204
    payload: bytes  # the function's JSON answer (or the error document)
    function_error: str | None  # "Unhandled" when the handler raised / timed out
    log_result: str | None  # base64 tail when log_type == "Tail"
    executed_version: str


class Interrupted(Exception):
    """The run was cut short because the server is closing (an Event invocation is kept)."""


def endpoint_url(settings: Settings) -> str:
    """Where a function's boto3 finds this server."""
    host = settings.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def worker_environment(config: FunctionConfig, task_root: Path, settings: Settings) -> dict:
    """The environment Lambda gives a function: its own variables and the reserved ones."""
    access_key, secret_key = DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY
    if settings.auth and settings.keys:
        # With signatures checked, a function acts as the first configured principal, as a
        # function acts with its execution role's credentials.
        access_key = sorted(settings.keys)[0]
        secret_key = settings.keys[access_key]
    python_bin = str(Path(sys.executable).parent)
    env = dict(config.environment)
    env.update(
        {
            "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent),
            "_HANDLER": config.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": config.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": config.logs_to,
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_SESSION_TOKEN": "tule",
            "AWS_ENDPOINT_URL": endpoint_url(settings),
            # Keep the host's AWS configuration (profiles, regions) out of the function.
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
    )
    return env


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "exit status 1"
    if code >= 0:
        return f"exit status {code}"
    names = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault"}
    try:
        sig = signal.Signals(-code)
    except ValueError:
        return f"signal {-code}"
    return f"signal: {names.get(sig, sig.name.lower().removeprefix('sig'))}"


def _iso_ms(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _doc(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


class Runner:
    """Runs invocations on the pool and writes their execution logs."""

    def __init__(
        self, pool: WorkerPool, code: CodeStore, settings: Settings, clock: Clock, logs: Any
    ) -> None:
        self.pool = pool
        self.code = code
        self.settings = settings
        self.clock = clock
        self.logs = logs

    def spec(self, config: FunctionConfig) -> WorkerSpec:
        task_root = self.code.task_root(config.code_hex)
        date = self.clock.now().strftime("%Y/%m/%d")
        return WorkerSpec(
            key=worker_key(config.account, config.region, config.name, config.version),
            generation=f"{config.revision_id}/{config.code_hex}",
            code_dir=task_root,
            handler=config.handler,
            env=worker_environment(config, task_root, self.settings),
            memory_mb=config.memory_size,
            timeout_s=float(config.timeout),
            log_stream_prefix=f"{date}/[{config.version}]",
        )

    def run(
        self,
        config: FunctionConfig,
        invoked_arn: str,
        payload: bytes,
        request_id: str,
        *,
        tail: bool = False,
        client_context: Any = None,
    ) -> Invocation:
        try:
            outcome = self.pool.invoke(
                self.spec(config), InvokeRequest(request_id, payload, invoked_arn, client_context)
            )
        except RuntimeError:
            raise Interrupted() from None
        if self.pool.closed and outcome.status in ("exit", "timeout"):
            raise Interrupted()
        body, error, events = self._answer(config, request_id, outcome)
        text = self._write_log(config, request_id, outcome, events)
        log_result = None
        if tail:
            log_result = base64.b64encode(text.encode()[-LOG_TAIL_BYTES:]).decode()
        return Invocation(200, body, error, log_result, config.version)

    def _answer(
        self, config: FunctionConfig, request_id: str, outcome: WorkerOutcome
    ) -> tuple[bytes, str | None, list[str]]:
        """The payload, the FunctionError and the log events Lambda adds for this ending."""
        status = outcome.status
        if status == "ok":
            if len(outcome.payload) > MAX_RESPONSE_BYTES:
                message = (
                    f"Response payload size ({len(outcome.payload)} bytes) exceeded maximum "
                    f"allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                )
                body = _doc(errorMessage=message, errorType="Function.ResponseSizeTooLarge")
                return body, "Unhandled", [f"[ERROR] Function.ResponseSizeTooLarge: {message}"]
            return outcome.payload, None, []
        if status in ("error", "init_error"):
            try:
                doc = json.loads(outcome.payload)
            except ValueError:
                doc = {}
            if status == "init_error":
                doc["requestId"] = request_id
            trace = "".join(doc.get("stackTrace") or [])
            line = f"[ERROR] {doc.get('errorType')}: {doc.get('errorMessage')}"
            line += f"\nTraceback (most recent call last):\n{trace}" if trace else ""
            return json.dumps(doc).encode(), "Unhandled", [line.rstrip("\n")]
        if status == "timeout":
            message = (
                f"{_iso_ms(self.clock.time())} {request_id} Task timed out after "
                f"{config.timeout:.2f} seconds"
            )
            return _doc(errorMessage=message), "Unhandled", [message]
        if status == "oom":
            message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
            body = _doc(errorType="Runtime.OutOfMemory", errorMessage=message)
            return body, "Unhandled", [f"{message}\nRuntime.OutOfMemory"]
        reason = _exit_reason(outcome.exit_code)
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
        body = _doc(errorType="Runtime.ExitError", errorMessage=message)
        return body, "Unhandled", [f"{message}\nRuntime.ExitError"]

    def _write_log(
        self, config: FunctionConfig, request_id: str, outcome: WorkerOutcome, extra: list[str]
    ) -> str:
        """Append the execution log to CloudWatch Logs; returns it as text (for the tail)."""
        start = outcome.started_at
        end = self.clock.time()
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {outcome.duration_ms:.2f} ms\t"
            f"Billed Duration: {max(math.ceil(outcome.duration_ms), 1)} ms\t"
            f"Memory Size: {config.memory_size} MB\tMax Memory Used: {outcome.max_memory_mb} MB"
        )
        if outcome.init_ms is not None:
            report += f"\tInit Duration: {outcome.init_ms:.2f} ms"
        if outcome.status == "timeout":
            report += "\tStatus: timeout"
        elif outcome.status == "oom":
            report += "\tStatus: error\tError Type: Runtime.OutOfMemory"
        events: list[tuple[float, str]] = [
            *outcome.init_lines,
            (start, f"START RequestId: {request_id} Version: {config.version}"),
            *outcome.lines,
            *((end, line) for line in extra),
            (end, f"END RequestId: {request_id}"),
            (end, report),
        ]
        try:
            self.logs.ensure_stream(
                config.account, config.region, config.logs_to, outcome.log_stream
            )
            self.logs.append(
                config.account,
                config.region,
                config.logs_to,
                outcome.log_stream,
                [(int(at * 1000), message) for at, message in events],
            )
        except AwsError:
            log.warning("could not write the log of %s to %s", request_id, config.logs_to)
        return "".join(f"{message}\n" for _, message in events)


def worker_key(account: str, region: str, name: str, version: str) -> str:
    """The pool key of a function version; `worker_key(...)` up to the name is its prefix."""
    return f"{account}/{region}/{name}:{version}"
