"""A training job's log: each worker's lines go to CloudWatch Logs, and metrics are read off them.

SageMaker writes each instance's output to log group `/aws/sagemaker/TrainingJobs`, stream
`<job>/algo-<n>-<epoch seconds of the start>` (specs §1.11), rendering TABs as `#011`. Lines are
buffered per stream and appended in batches (one durable commit per flush) by one flusher
thread per job, so a chatty script does not cost a disk flush per line.
"""

from __future__ import annotations

import threading
from typing import Any

from tule.services.sagemaker.metrics import MetricSeries, render

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
FLUSH_INTERVAL_S = 0.2


class HostLog:
    """The log stream of one instance (`algo-<n>`) of a job."""

    def __init__(self, job: JobLog, stream: str, metrics: MetricSeries | None) -> None:
        self.job = job
        self.stream = stream
        self.metrics = metrics
        self._pending: list[tuple[int, str]] = []

    def line(self, timestamp: float, text: str) -> None:
        """Record one line the worker printed (called from its reader thread)."""
        with self.job.lock:
            self._pending.append((int(timestamp * 1000), render(text) or " "))
            if self.metrics is not None:
                self.metrics.feed(text, timestamp)

    def note(self, text: str) -> None:
        """A line from the platform itself (pip's output, a download summary)."""
        self.line(self.job.clock_time(), text)

    def take(self) -> list[tuple[int, str]]:
        with self.job.lock:
            pending, self._pending = self._pending, []
        return pending


class JobLog:
    """Every instance stream of one job, and the thread that flushes them."""

    def __init__(
        self, logs: Any, account: str, region: str, clock_time: Any, group: str = LOG_GROUP
    ) -> None:
        self.logs = logs
        self.group = group
        self.account = account
        self.region = region
        self.clock_time = clock_time
        self.lock = threading.Lock()
        self.hosts: list[HostLog] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self, stream: str, metrics: MetricSeries | None) -> HostLog:
        self.logs.ensure_stream(self.account, self.region, self.group, stream)
        host = HostLog(self, stream, metrics)
        self.hosts.append(host)
        return host

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="job-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self.flush()

    def flush(self) -> None:
        for host in list(self.hosts):
            events = host.take()
            if events:
                self.logs.append(self.account, self.region, self.group, host.stream, events)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
