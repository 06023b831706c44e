"""One model-server instance: the process a hosting instance runs, and our HTTP line to it.

A hosting instance runs the model's container with `serve`, waits until `GET /ping` answers 200
(each ping has 2 s, the whole start about 4 minutes, specs/aws-apis.md §4.8), then forwards
InvokeEndpoint calls to `POST /invocations`. `ModelServer` does that for one process:

- The port is chosen here, on the loopback interface, and passed in `SAGEMAKER_BIND_TO_PORT`
  (the toolkits' variable). A port is found by binding to port 0, and ports handed out in this
  process are not handed out again while in use, so two servers started at once cannot be given
  the same port; a clash with another program makes the server fail to bind and exit, which a
  restart (with a new port) covers.
- Requests reuse keep-alive HTTP/1.1 connections from a pool, one connection per request, so a
  busy endpoint does not pay a TCP handshake per call. A request that may have reached the
  server is never sent twice: a POST is retried only when its pooled connection was found closed
  before anything was written, an idempotent GET/HEAD also when a reused connection broke before
  any answer came.
- If the process dies (and `stop` was not called), a monitor thread restarts it on a new port,
  as SageMaker replaces an unhealthy instance; requests arriving meanwhile wait for it. Quick
  repeated deaths back off (0.5 s doubling to 10 s) so a crashing server cannot spin a core.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tule.runtime.executor import Execution, Executor, LineSink, ProcessSpec
from tule.runtime.loopback_http import LoopbackConnection

PORT_VARIABLE = "SAGEMAKER_BIND_TO_PORT"
HOST = "127.0.0.1"

# How many of the process's last output lines a start failure quotes.
_TAIL_LINES = 15
# A pooled connection idle longer than this is closed rather than reused: uvicorn (the servers we
# start) closes idle keep-alive connections after 5 s, and reusing one it is about to close could
# lose a POST that must not be replayed.
_MAX_IDLE_S = 4.0
_MAX_POOLED = 64
# Pause between health-check pings while a server starts.
_PING_INTERVAL_S = 0.05
_PING_INTERVAL_MAX_S = 0.25
# Restart backoff after a quick death; a server that stayed up this long restarts at once.
_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 10.0
_STABLE_S = 10.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})

_ports_lock = threading.Lock()
_ports_in_use: set[int] = set()


@dataclass(frozen=True)
class ServerSpec:
    """What to run. `argv` must serve HTTP on 127.0.0.1 at the port in `SAGEMAKER_BIND_TO_PORT`,
    which `ModelServer` adds to `env` (the process's complete environment)."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    on_line: LineSink
    name: str = "model-server"
    threads: int | None = None
    memory_limit_bytes: int | None = None
    startup_timeout_s: float = 240.0
    ping_timeout_s: float = 2.0


@dataclass(frozen=True)
class Reply:
    """An HTTP answer from the server; header names are lower-cased."""

    status: int
    headers: dict[str, str]
    body: bytes


class ServerStartError(Exception):
    """The server did not become healthy; the message says why (exit code and last lines)."""


class ServerUnavailable(Exception):
    """The server is down (stopped, dead, or restarting for too long)."""


class InvocationTimeout(Exception):
    """The server did not answer within the request's timeout."""


@dataclass
class _Instance:
    """One started process of the server (the first, or a restart)."""

    execution: Execution
    port: int
    tail: deque[str]
    ready_at: float = 0.0
    port_released: bool = False

    def release_port(self) -> None:
        """Give the port back once (a later holder of the same number keeps its claim)."""
        with _ports_lock:
            if not self.port_released:
                self.port_released = True
                _ports_in_use.discard(self.port)


def _reserve_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            port = int(probe.getsockname()[1])
        with _ports_lock:
            if port not in _ports_in_use:
                _ports_in_use.add(port)
                return port


class ModelServer:
    """One model-server process: start, health, pooled requests, restart on death, stop."""

    def __init__(self, spec: ServerSpec, executor: Executor, *, restart: bool = True) -> None:
        self._spec = spec
        self._label = f"model server {spec.name}"
        self._executor = executor
        self._restart = restart
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        # new -> starting -> ready <-> restarting; down: died (or failed) with no restart.
        self._state = "new"
        self._instance: _Instance | None = None
        # Bumped whenever the process changes: pooled connections of older ones are dropped.
        self._generation = 0
        self._pool: list[LoopbackConnection] = []
        self._restarts = 0
        self._last_ping_ok = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the process and block until `/ping` answers 200; raises ServerStartError."""
        with self._cond:
            if self._state != "new":
                raise RuntimeError(f"{self._label} was already started")
            self._state = "starting"
        try:
            instance = self._launch()
        except BaseException:
            with self._cond:
                self._state = "stopped" if self._state == "stopped" else "down"
                self._cond.notify_all()
            raise
        with self._cond:
            if self._state == "stopped":  # stop() came meanwhile and stopped this process
                raise ServerStartError(f"{self._label} was stopped while starting")
            self._install(instance)
        name = f"{self._spec.name}-monitor"
        threading.Thread(target=self._watch, name=name, daemon=True).start()

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`; waits for the exit. Never restarts afterwards."""
        with self._cond:
            if self._state == "stopped":
                return
            self._state = "stopped"
            self._stopping.set()
            instance, pool, self._pool = self._instance, self._pool, []
            self._last_ping_ok = False
            self._cond.notify_all()
        for conn in pool:
            conn.close()
        if instance is not None:
            instance.execution.stop(grace_s)
            instance.execution.wait(grace_s + 5.0)
            instance.release_port()

    @property
    def port(self) -> int:
        if self._instance is None:
            raise RuntimeError(f"{self._label} is not started")
        return self._instance.port

    @property
    def pid(self) -> int | None:
        """The current process's pid (None before the first start)."""
        return None if self._instance is None else self._instance.execution.pid

    @property
    def restarts(self) -> int:
        return self._restarts

    def alive(self) -> bool:
        instance = self._instance
        running = instance is not None and instance.execution.returncode is None
        return self._state == "ready" and running and self._last_ping_ok

    def ping(self) -> bool:
        """Ask `/ping` now (what SageMaker's periodic health check does); remembers the answer."""
        instance = self._instance
        self._last_ping_ok = instance is not None and self._ping(instance.port)
        return self._last_ping_ok

    # -- requests -------------------------------------------------------------------------------

    def invoke(self, body: bytes, headers: Mapping[str, str], timeout: float = 60.0) -> Reply:
        """`POST /invocations`, as InvokeEndpoint reaches the container."""
        return self.request("POST", "/invocations", body, headers, timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Reply:
        """One HTTP request on a pooled connection. Waits (up to the start-up timeout) while the
        server restarts; raises InvocationTimeout or ServerUnavailable.

        A request racing the death of the process may reach it before the death is noticed; it
        fails with ServerUnavailable rather than being sent again."""
        method = method.upper()
        wait_until = time.monotonic() + self._spec.startup_timeout_s
        replay_allowed = method in _IDEMPOTENT
        payload = body if body or method not in _IDEMPOTENT else None
        while True:
            conn, generation, instance = self._lease(wait_until)
            reused = conn.sock is not None
            try:
                if reused:
                    conn.settimeout(timeout)
                else:
                    conn.connect(timeout)
            except TimeoutError:
                conn.close()
                raise InvocationTimeout(f"{self._label} did not accept a connection") from None
            except OSError as exc:
                conn.close()
                # Nothing was sent: if the process died, wait for its restart and go again.
                if instance.execution.wait(0.2) is not None or generation != self._generation:
                    continue
                raise ServerUnavailable(f"cannot connect to {self._label}: {exc}") from None
            try:
                status, answer_headers, data, will_close = conn.request(
                    method, path, payload or b"", headers or {}
                )
            except TimeoutError:
                conn.close()
                raise InvocationTimeout(
                    f"{self._label} did not answer {method} {path} within {timeout:g} seconds"
                ) from None
            except OSError as exc:
                conn.close()
                if reused and replay_allowed:
                    replay_allowed = False  # once only
                    continue
                raise ServerUnavailable(self._broken(instance, f"{method} {path}", exc)) from None
            reply = Reply(status, answer_headers, data)
            if will_close:
                conn.close()
            else:
                self._give_back(conn, generation)
            return reply

    def serving(self) -> tuple[int, int] | None:
        """(port, generation) of the process answering now, or None while it restarts; raises
        ServerUnavailable once stopped or down. The generation changes with every restart."""
        with self._cond:
            if self._state in ("stopped", "down", "new"):
                raise ServerUnavailable(f"{self._label} is not running ({self._state})")
            instance = self._instance
            if self._state == "ready" and instance and instance.execution.returncode is None:
                return instance.port, self._generation
            return None

    @property
    def startup_timeout_s(self) -> float:
        return self._spec.startup_timeout_s

    @property
    def label(self) -> str:
        return self._label

    # -- internals ------------------------------------------------------------------------------

    def _lease(self, wait_until: float) -> tuple[LoopbackConnection, int, _Instance]:
        """A connection to the ready server (pooled if one is fresh), waiting while it restarts."""
        stale: list[LoopbackConnection] = []
        try:
            with self._cond:
                while True:
                    instance = self._instance
                    if self._state in ("stopped", "down", "new"):
                        raise ServerUnavailable(f"{self._label} is not running ({self._state})")
                    running = instance is not None and instance.execution.returncode is None
                    if self._state == "ready" and running:
                        break
                    remaining = wait_until - time.monotonic()
                    if remaining <= 0:
                        raise ServerUnavailable(
                            f"{self._label} did not come back within "
                            f"{self._spec.startup_timeout_s:g} seconds"
                        )
                    # Short waits: the monitor notices a death only once the exit is reaped.
                    self._cond.wait(min(remaining, 0.05))
                assert instance is not None
                now = time.monotonic()
                while self._pool:
                    conn = self._pool.pop()
                    if now - conn.idle_since <= _MAX_IDLE_S and not conn.found_closed():
                        return conn, self._generation, instance
                    stale.append(conn)
                return LoopbackConnection(HOST, instance.port), self._generation, instance
        finally:
            for conn in stale:
                conn.close()

    def _give_back(self, conn: LoopbackConnection, generation: int) -> None:
        with self._cond:
            if generation == self._generation and len(self._pool) < _MAX_POOLED:
                conn.idle_since = time.monotonic()
                self._pool.append(conn)
                return
        conn.close()

    def _broken(self, instance: _Instance, what: str, exc: BaseException) -> str:
        code = instance.execution.wait(0.2)
        if code is not None:
            return f"{self._label} exited with code {code} while handling {what}"
        return f"connection to {self._label} broke during {what}: {exc!r}"

    def _install(self, instance: _Instance) -> None:
        """Make `instance` the one requests go to (caller holds the lock)."""
        self._instance = instance
        self._generation += 1
        self._state = "ready"
        self._last_ping_ok = True
        self._cond.notify_all()

    def _launch(self) -> _Instance:
        """Start one process and wait for its health check; raises ServerStartError."""
        spec = self._spec
        port = _reserve_port()
        tail: deque[str] = deque(maxlen=_TAIL_LINES)

        def on_line(timestamp: float, line: str) -> None:
            tail.append(line)
            spec.on_line(timestamp, line)

        process = ProcessSpec(
            argv=list(spec.argv),
            env={**spec.env, PORT_VARIABLE: str(port)},
            cwd=spec.cwd,
            on_line=on_line,
            threads=spec.threads,
            memory_limit_bytes=spec.memory_limit_bytes,
            name=spec.name,
        )
        try:
            instance = _Instance(self._executor.start(process), port, tail)
        except OSError as exc:
            with _ports_lock:
                _ports_in_use.discard(port)
            raise ServerStartError(f"cannot start {self._label}: {exc}") from None
        with self._cond:
            stopping = self._stopping.is_set()
            if not stopping and self._state != "ready":
                # Registered at once, so that stop() reaches a process that is still starting.
                self._instance = instance
        try:
            if stopping:
                raise ServerStartError(f"{self._label} was stopped while starting")
            self._await_health(instance)
        except BaseException:
            instance.execution.kill()
            instance.execution.wait(10.0)
            instance.release_port()
            raise
        instance.ready_at = time.monotonic()
        return instance

    def _await_health(self, instance: _Instance) -> None:
        deadline = time.monotonic() + self._spec.startup_timeout_s
        interval = _PING_INTERVAL_S
        while True:
            code = instance.execution.returncode
            if code is not None:
                instance.execution.wait()  # every output line is in the tail now
                raise ServerStartError(
                    f"{self._label} exited with code {code} before passing the ping health "
                    f"check{_quote(instance.tail)}"
                )
            if self._stopping.is_set():
                raise ServerStartError(f"{self._label} was stopped while starting")
            if self._ping(instance.port):
                return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"{self._label} did not pass the ping health check within "
                    f"{self._spec.startup_timeout_s:g} seconds{_quote(instance.tail)}"
                )
            self._stopping.wait(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, _PING_INTERVAL_MAX_S)

    def _ping(self, port: int) -> bool:
        conn = http.client.HTTPConnection(HOST, port, timeout=self._spec.ping_timeout_s)
        try:
            conn.request("GET", "/ping")
            response = conn.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _watch(self) -> None:
        """The monitor: wait for the process to die, then restart it unless stopped."""
        backoff = _BACKOFF_START_S
        while True:
            instance = self._instance
            assert instance is not None
            code = instance.execution.wait()
            with self._cond:
                if self._state == "stopped":
                    return
                pool, self._pool = self._pool, []
                self._generation += 1
                self._last_ping_ok = False
                self._state = "restarting" if self._restart else "down"
                self._cond.notify_all()
            for conn in pool:
                conn.close()
            instance.release_port()
            self._log(f"model server exited with code {code}" + ("; restarting" * self._restart))
            if not self._restart:
                return
            delay = 0.0
            if time.monotonic() - instance.ready_at < _STABLE_S:
                delay, backoff = backoff, min(backoff * 2, _BACKOFF_MAX_S)
            else:
                backoff = _BACKOFF_START_S
            while True:
                if self._stopping.wait(delay):
                    return
                self._restarts += 1
                try:
                    fresh = self._launch()
                    break
                except ServerStartError as exc:
                    self._log(f"model server restart failed: {exc}")
                    delay, backoff = backoff, min(backoff * 2, _BACKOFF_MAX_S)
            with self._cond:
                if self._state == "stopped":
                    return  # stop() came during the launch and has stopped `fresh` already
                self._install(fresh)

    def _log(self, line: str) -> None:
        with contextlib.suppress(Exception):
            self._spec.on_line(time.time(), line)


def _quote(tail: deque[str]) -> str:
    if not tail:
        return " (it printed nothing)"
    return "; its last output:\n" + "\n".join(f"  {line}" for line in tail)
