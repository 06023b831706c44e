"""One Lambda execution environment: a `lambda_worker` process and its control connection.

The process is started through the executor (`LocalExecutor`): a new session, killed with the
server (`PR_SET_PDEATHSIG`), its data segment capped at the function's memory size
(`RLIMIT_DATA`, see `executor`), its stdout and stderr read line by line as the function's log.
The control channel is a Unix socket in a private temporary folder (the executor passes no
extra descriptors to its children); the framing is `lambda_worker`'s.

Output and answers travel separately (the pipe and the socket), so after each invocation the
worker prints a marker line only this environment knows: once it has come through the pipe,
every line the invocation printed has been read.

Timeouts use the monotonic clock: a function that has not answered `timeout_s` after its
invocation was sent is killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tule.runtime.executor import Execution, Executor, ProcessSpec
from tule.runtime.lambda_worker import recv_frame, send_frame

WORKER_SCRIPT = str(Path(__file__).with_name("lambda_worker.py"))
MIB = 1024 * 1024
# How long a new worker may take to connect (the interpreter's start).
CONNECT_TIMEOUT_S = 10.0
# Lambda gives the Init phase (importing the handler's module) 10 seconds.
INIT_TIMEOUT_S = 10.0
# After an answer, how long to wait for the end-of-output marker on the log pipe.
OUTPUT_GRACE_S = 2.0
# How long a killed worker may take to be reaped and its output drained.
KILL_WAIT_S = 5.0

Line = tuple[float, str]


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a worker for one function version.

    `env` is the complete environment of the worker (the pool adds the log stream's name);
    `log_stream_prefix` + 32 hex digits names each new worker's log stream."""

    key: str
    generation: str
    code_dir: Path
    handler: str
    env: dict[str, str]
    memory_mb: int
    timeout_s: float
    log_stream_prefix: str


@dataclass(frozen=True)
class InvokeRequest:
    """One invocation: the event bytes and what the context object reports."""

    request_id: str
    payload: bytes
    invoked_arn: str
    client_context: object | None = None


class ExecutionEnvironment:
    """One worker process and its control connection."""

    def __init__(self, spec: WorkerSpec, executor: Executor, socket_dir: Path) -> None:
        self.key = spec.key
        self.generation = spec.generation
        self.memory_mb = spec.memory_mb
        self.log_stream = spec.log_stream_prefix + secrets.token_hex(16)
        self.idle_since = time.monotonic()
        self.max_memory_mb = 0
        self._sentinel = f"\x1etule-lambda-done {secrets.token_hex(16)}"
        self._sentinel_seen = threading.Event()
        self._lock = threading.Lock()
        self._pending: list[Line] = []
        self.init_lines: list[Line] = []
        self._socket_path = str(socket_dir / f"{secrets.token_hex(8)}.sock")
        self._conn: socket.socket | None = None
        self._broken = False
        env = dict(spec.env)
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = self.log_stream
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self._socket_path)
        self._listener.listen(1)
        try:
            self.execution: Execution = executor.start(
                ProcessSpec(
                    argv=[sys.executable, "-I", "-u", WORKER_SCRIPT, self._socket_path],
                    env=env,
                    cwd=spec.code_dir,
                    on_line=self._on_line,
                    memory_limit_bytes=spec.memory_mb * MIB,
                    name="lambda",
                )
            )
        except BaseException:
            self._close_listener()
            raise

    @property
    def alive(self) -> bool:
        return not self._broken and self.execution.returncode is None

    def _on_line(self, at: float, line: str) -> None:
        if line.endswith(self._sentinel):
            # Output the function left without a final newline shares the marker's line.
            line = line[: -len(self._sentinel)]
            if line:
                with self._lock:
                    self._pending.append((at, line))
            self._sentinel_seen.set()
            return
        with self._lock:
            self._pending.append((at, line))

    def take_lines(self) -> list[Line]:
        with self._lock:
            lines, self._pending = self._pending, []
        return lines

    def _close_listener(self) -> None:
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._socket_path)

    def connect(self) -> tuple[float, dict | None, bytes]:
        """Wait for the worker to connect and load its handler: (init ms, the init error
        header or None, its body). Raises TimeoutError or ConnectionError."""
        started = time.monotonic()
        try:
            self._listener.settimeout(0.05)
            while self._conn is None:
                try:
                    self._conn, _ = self._listener.accept()
                except TimeoutError:
                    if self.execution.returncode is not None:
                        raise ConnectionError("worker exited before connecting") from None
                    if time.monotonic() - started > CONNECT_TIMEOUT_S:
                        raise
        finally:
            self._close_listener()
        self._sentinel_seen.clear()
        self._conn.settimeout(INIT_TIMEOUT_S)
        send_frame(self._conn, {"sentinel": self._sentinel})
        frame = recv_frame(self._conn)
        if frame is None:
            raise ConnectionError("worker exited during init")
        self._sentinel_seen.wait(OUTPUT_GRACE_S)
        self.init_lines = self.take_lines()
        init_ms = (time.monotonic() - started) * 1000
        header, body = frame
        return init_ms, header if header.get("error") else None, body

    def run(self, request: InvokeRequest, timeout_s: float) -> tuple[str, bytes, float]:
        """Send one invocation and wait for its answer: (status, body, duration ms)."""
        assert self._conn is not None
        self._sentinel_seen.clear()
        started = time.monotonic()
        deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
        header = {
            "request_id": request.request_id,
            "deadline_ms": deadline_ms,
            "invoked_arn": request.invoked_arn,
            "client_context": request.client_context,
        }
        try:
            self._conn.settimeout(timeout_s)
            send_frame(self._conn, header, request.payload)
            frame = recv_frame(self._conn)
        except TimeoutError:
            self.kill()
            return "timeout", b"", (time.monotonic() - started) * 1000
        except OSError:
            frame = None
        duration_ms = (time.monotonic() - started) * 1000
        if frame is None:
            # The runtime ended (sys.exit, a crash): let it finish exiting on its own, so its
            # exit status is its own rather than our SIGKILL.
            self.execution.wait(OUTPUT_GRACE_S)
            self.kill()
            return "exit", b"", duration_ms
        answer, body = frame
        self.max_memory_mb = max(self.max_memory_mb, int(answer.get("max_rss_kb", 0)) // 1024)
        self._sentinel_seen.wait(OUTPUT_GRACE_S)
        if answer["status"] == "oom":
            self.kill()
        return str(answer["status"]), body, duration_ms

    def kill(self) -> None:
        """Kill the process group and wait until its output is drained."""
        self._broken = True
        self.execution.kill()
        self.execution.wait(KILL_WAIT_S)
        if self._conn is not None:
            self._conn.close()

    def stop(self) -> None:
        """Kill without waiting (closing the pool, reaping idle workers)."""
        self._broken = True
        self.execution.kill()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
