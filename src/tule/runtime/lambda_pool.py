"""Warm Lambda execution environments: worker processes kept per function version and reused.

`WorkerPool.invoke(spec, request)` runs one invocation on a warm environment of `spec.key` (a
function version), starting one when none is idle (a cold start) and at most `max_per_key`
at once per key: concurrent invocations run on separate workers, and one beyond the cap waits
for a worker to come free rather than failing, as a function well under its concurrency limit
is never throttled. Workers of an older `spec.generation` (the function's code or
configuration changed) are never reused; `retire(key)` kills a key's idle workers now and its
busy ones when they finish. Workers idle for `idle_timeout_s` are stopped by a reaper thread,
as Lambda reclaims idle environments. Each worker is an `ExecutionEnvironment`
(`lambda_environment`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tule.clock import Clock, SystemClock
from tule.runtime.executor import Executor, LocalExecutor
from tule.runtime.lambda_environment import (
    KILL_WAIT_S,
    ExecutionEnvironment,
    InvokeRequest,
    Line,
    WorkerSpec,
)

__all__ = ["InvokeRequest", "WorkerOutcome", "WorkerPool", "WorkerSpec"]

DEFAULT_MAX_PER_KEY = 4
DEFAULT_IDLE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class WorkerOutcome:
    """What happened. `status`: "ok" (payload is the JSON answer), "error" (the handler
    raised; payload is the runtime's error document), "init_error" (the handler could not be
    loaded; payload is the error document), "timeout", "oom" or "exit" (the process ended
    with `exit_code`; negative: killed by that signal)."""

    status: str
    payload: bytes
    lines: list[Line]  # printed during the invocation (and, before it, by background threads)
    init_lines: list[Line]  # printed while the handler's module loaded (a cold start)
    started_at: float  # clock time the invocation was sent (or the worker failed to start)
    duration_ms: float
    init_ms: float | None  # set on a cold start
    max_memory_mb: int
    log_stream: str
    exit_code: int | None = None


@dataclass
class _Group:
    """The workers of one key."""

    generation: str
    idle: list[ExecutionEnvironment] = field(default_factory=list)
    busy: set[ExecutionEnvironment] = field(default_factory=set)
    starting: int = 0


class WorkerPool:
    """Warm workers per function version (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        executor: Executor | None = None,
        max_per_key: int = DEFAULT_MAX_PER_KEY,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    ) -> None:
        self._clock = clock or SystemClock()
        self._executor = executor or LocalExecutor(self._clock)
        self.max_per_key = max_per_key
        self.idle_timeout_s = idle_timeout_s
        self._socket_dir: Path | None = None  # made with the first worker
        self._groups: dict[str, _Group] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._reaper_stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_idle, name="lambda-reaper", daemon=True)
        self._reaper.start()

    def invoke(self, spec: WorkerSpec, request: InvokeRequest) -> WorkerOutcome:
        group, worker = self._acquire(spec)
        if worker is None:
            worker = self._start(spec, group)
            cold = True
        else:
            cold = False
        try:
            return self._run(spec, worker, cold, request)
        finally:
            self._release(spec.key, group, worker)

    def _run(
        self, spec: WorkerSpec, worker: ExecutionEnvironment, cold: bool, request: InvokeRequest
    ) -> WorkerOutcome:
        init_ms: float | None = None
        started_at = self._clock.time()
        if cold:
            try:
                init_ms, error, body = worker.connect()
            except TimeoutError:
                worker.kill()
                return self._outcome(worker, "timeout", b"", started_at, 0.0, None)
            except OSError:
                # Exited before it could load anything: too little memory for the
                # interpreter itself, or a broken installation.
                worker.kill()
                return self._outcome(worker, "exit", b"", started_at, 0.0, None)
            if error is not None:
                worker.kill()
                return self._outcome(worker, "init_error", body, started_at, 0.0, init_ms)
        started_at = self._clock.time()
        status, body, duration_ms = worker.run(request, spec.timeout_s)
        if status == "oom":
            worker.max_memory_mb = spec.memory_mb
        return self._outcome(worker, status, body, started_at, duration_ms, init_ms)

    def _outcome(
        self,
        worker: ExecutionEnvironment,
        status: str,
        body: bytes,
        started_at: float,
        duration_ms: float,
        init_ms: float | None,
    ) -> WorkerOutcome:
        exit_code = worker.execution.returncode if status == "exit" else None
        init_lines, worker.init_lines = worker.init_lines, []
        return WorkerOutcome(
            status=status,
            payload=body,
            lines=worker.take_lines(),
            init_lines=init_lines,
            started_at=started_at,
            duration_ms=duration_ms,
            init_ms=init_ms,
            max_memory_mb=worker.max_memory_mb,
            log_stream=worker.log_stream,
            exit_code=exit_code,
        )

    def _start(self, spec: WorkerSpec, group: _Group) -> ExecutionEnvironment:
        try:
            worker = ExecutionEnvironment(spec, self._executor, self._sockets())
        except BaseException:
            with self._cond:
                group.starting -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            group.starting -= 1
            group.busy.add(worker)
            closed = self._closed
        if closed:
            worker.stop()  # its connect fails, and the invocation with it
        return worker

    def _sockets(self) -> Path:
        """The private folder of the workers' control sockets (in the temporary folder: a
        socket path must stay under ~108 bytes, which a data folder may exceed)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the Lambda worker pool is closed")
            if self._socket_dir is None:
                self._socket_dir = Path(tempfile.mkdtemp(prefix=f"tule-lambda-{os.getpid()}-"))
            return self._socket_dir

    def _acquire(self, spec: WorkerSpec) -> tuple[_Group, ExecutionEnvironment | None]:
        """The key's group and an idle worker of the current generation, or None after
        reserving the start of a new one."""
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the Lambda worker pool is closed")
                group = self._groups.get(spec.key)
                if group is None or group.generation != spec.generation:
                    if group is not None:
                        self._retire_group(group)
                    group = self._groups[spec.key] = _Group(spec.generation)
                while group.idle:
                    worker = group.idle.pop()  # the most recently used: the warmest
                    if worker.alive:
                        group.busy.add(worker)
                        return group, worker
                    worker.stop()
                if len(group.busy) + group.starting < self.max_per_key:
                    group.starting += 1
                    return group, None
                self._cond.wait()

    def _release(self, key: str, group: _Group, worker: ExecutionEnvironment) -> None:
        with self._cond:
            group.busy.discard(worker)
            keep = (
                not self._closed
                and self._groups.get(key) is group
                and worker.generation == group.generation
                and worker.alive
            )
            if keep:
                worker.idle_since = time.monotonic()
                group.idle.append(worker)
            self._cond.notify_all()
        if not keep:
            worker.stop()

    def _retire_group(self, group: _Group) -> None:
        # Busy workers finish their invocation, then `_release` finds them stale.
        for worker in group.idle:
            worker.stop()
        group.idle.clear()
        group.generation = ""

    def retire(self, key: str, *, prefix: bool = False) -> None:
        """Kill the idle workers of `key` (or of every key starting with it, with `prefix`) and
        forget the key; its busy workers are killed when their invocation ends."""
        with self._cond:
            for name in list(self._groups):
                if name == key or (prefix and name.startswith(key)):
                    self._retire_group(self._groups.pop(name))
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def worker_count(self, key: str) -> int:
        """How many workers `key` has (idle and busy)."""
        with self._cond:
            group = self._groups.get(key)
            return 0 if group is None else len(group.idle) + len(group.busy)

    def _reap_idle(self) -> None:
        interval = max(min(self.idle_timeout_s / 4, 30.0), 0.05)
        while not self._reaper_stop.wait(interval):
            now = time.monotonic()
            with self._cond:
                for group in self._groups.values():
                    stale = [w for w in group.idle if now - w.idle_since > self.idle_timeout_s]
                    for worker in stale:
                        group.idle.remove(worker)
                        worker.stop()

    def close(self) -> None:
        """Kill every worker; later invocations fail."""
        with self._cond:
            self._closed = True
            workers = [w for g in self._groups.values() for w in (*g.idle, *g.busy)]
            self._groups.clear()
            self._cond.notify_all()
        self._reaper_stop.set()
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.execution.wait(KILL_WAIT_S)
        with self._cond:
            folder, self._socket_dir = self._socket_dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
