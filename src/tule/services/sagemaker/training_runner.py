"""The training runner: starts a `JobRun` thread per created job and stops them on request.

It is the domain's `Runner`; a server shutdown kills every worker (the jobs are then failed as
interrupted when the server starts again, see `TrainingJobs.recover`).
"""

from __future__ import annotations

import threading

from tule.services.sagemaker.training_run import JobRun, RunEnv


class TrainingRunner:
    """Every running job of one server."""

    def __init__(self, env: RunEnv) -> None:
        self.env = env
        self._runs: dict[tuple[str, str, str], JobRun] = {}
        self._lock = threading.Lock()

    def submit(self, account: str, region: str, name: str) -> None:
        run = JobRun(self.env, account, region, name)
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
