"""Running jobs of one kind (training, processing, transform): a run per job, on its own thread.

The runner is the control plane's `Runner`: told when a job is created and when one should
stop. A server shutdown interrupts every run (their jobs are then ended as interrupted when
the server starts again, by each kind's `recover`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from tule.runtime.executor import Execution


class Run(Protocol):
    """One job's execution."""

    thread: threading.Thread

    def start(self) -> None: ...

    def request_stop(self) -> None: ...

    def interrupt(self) -> None: ...


class JobThread:
    """The control side of one job's run: its thread (running `run`), stop requests, and
    interruption at server shutdown, which kills the run's processes. `request_stop()` and
    `interrupt()` may be called from any thread."""

    def __init__(self, kind: str, name: str) -> None:
        self.stop_requested = threading.Event()
        self.interrupted = False
        self.executions: list[Execution] = []
        self.thread = threading.Thread(target=self.run, name=f"{kind}-{name}", daemon=True)

    def run(self) -> None:
        raise NotImplementedError

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


class JobRunner:
    """Every running job of one kind on this server."""

    def __init__(self, env: Any, make_run: Callable[[Any, str, str, str], Run]) -> None:
        self.env = env
        self._make_run = make_run
        self._runs: dict[tuple[str, str, str], Run] = {}
        self._lock = threading.Lock()

    def submit(self, account: str, region: str, name: str) -> None:
        run = self._make_run(self.env, account, region, name)
        with self._lock:
            self._runs = {k: r for k, r in self._runs.items() if r.thread.is_alive()}
            self._runs[(account, region, name)] = run
        run.start()

    def stop(self, account: str, region: str, name: str) -> None:
        with self._lock:
            run = self._runs.get((account, region, name))
        if run is not None:
            run.request_stop()

    def wait(self, account: str, region: str, name: str, timeout: float | None = None) -> bool:
        """Wait for a job's thread to end (tests and shutdown); whether it ended."""
        with self._lock:
            run = self._runs.get((account, region, name))
        if run is None:
            return True
        run.thread.join(timeout)
        return not run.thread.is_alive()

    def close(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.interrupt()
        for run in runs:
            run.thread.join(timeout=30)
