"""Waiting for shard logs to be durable: the flushes a put waits on, shared and side by side.

A PutRecords call spread over four shards writes four logs, and its answer waits until each is
durable. `ParallelCommit.durable` is that wait for a caller on an event loop (the PutRecord and
PutRecords handlers), without a thread of its own: the callers waiting on a log queue up, and
one pool thread per log flushes for everyone queued so far, then wakes them all with one call to
their loop. So the logs of one call flush at once, and concurrent callers share flushes. On the
dev VM a request handed to a worker thread and back cost ~150 us more server CPU than one
answered on the loop, more than a PutRecord's whole handling; here a flush costs one thread
wake-up however many callers share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tule.storage.shard_log import ShardLog


@dataclass(eq=False)
class _Queue:
    """Callers waiting for one log: (position, their future, its loop)."""

    waiting: list[tuple[int, asyncio.Future, asyncio.AbstractEventLoop]] = field(
        default_factory=list
    )
    draining: bool = False  # a pool thread is flushing for this queue


class ParallelCommit:
    """Flushes the logs a put wrote, for every caller waiting on them (`durable`); `close()`
    stops its threads."""

    def __init__(self, *, workers: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kinesis-flush")
        self._lock = threading.Lock()  # guards _queues
        self._queues: dict[ShardLog, _Queue] = {}

    async def durable(self, pending: list[tuple[ShardLog, int]]) -> None:
        """Return (on the calling event loop) once every log is durable up to its position;
        a failed flush raises here as it would from `ShardLog.commit`."""
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future] = []
        for log, stop in pending:
            if log.end >= stop:  # already flushed by someone else (always so, fsync off)
                continue
            future = loop.create_future()
            with self._lock:
                queue = self._queues.get(log)
                if queue is None:
                    queue = self._queues[log] = _Queue()
                queue.waiting.append((stop, future, loop))
                start = not queue.draining
                queue.draining = True
            if start:
                self._pool.submit(self._drain, log, queue)
            waits.append(future)
        for future in waits:
            await future

    def _drain(self, log: ShardLog, queue: _Queue) -> None:
        """Flush for the callers queued on `log` until none are left (on a pool thread)."""
        while True:
            with self._lock:
                batch, queue.waiting = queue.waiting, []
                if not batch:
                    queue.draining = False
                    del self._queues[log]
                    return
            error: BaseException | None = None
            try:
                log.commit(max(stop for stop, _, _ in batch))
            except BaseException as exc:  # handed to each waiting caller
                error = exc
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
            for _, future, loop in batch:
                by_loop.setdefault(loop, []).append(future)
            for loop, futures in by_loop.items():
                # RuntimeError: that loop is closed, so no one is waiting any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, futures, error)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _settle(futures: list[asyncio.Future], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # its request was cancelled (the client left)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(None)
