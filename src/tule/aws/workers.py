"""The worker threads that run handlers off the event loop.

A handler may block (a durable write waits for its flush, Lambda waits for its function), so
each request is handed to a thread. anyio's `to_thread.run_sync` did this at ~100 us of CPU
per request on the dev VM (its limiter, cancel scopes and run-variable look-ups), more than a
small operation's whole handling (~35 us for a Kinesis PutRecord); this pool hands a call over
with one queue put and answers with one `call_soon_threadsafe` (~40 us, most of it the two
thread wake-ups themselves).

Threads are started on demand up to a limit and stay for the life of the pool; they are daemon
threads, as anyio's are, so a handler still blocked at exit does not hold the process up.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

# As many as anyio's default limiter allowed handlers at once.
DEFAULT_LIMIT = 40

_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future, Callable[..., Any], tuple[Any, ...]]

_current = threading.local()


def calling_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop that handed this worker thread its current job (None on any other
    thread): where a handler that returns an awaitable has it awaited."""
    return getattr(_current, "loop", None)


class WorkerThreads:
    """`await pool.run(fn, *args)`: `fn(*args)` on a worker thread, its result or exception
    back on the calling event loop."""

    def __init__(self, limit: int = DEFAULT_LIMIT, name: str = "tule-handler") -> None:
        self._limit = limit
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # One permit per thread waiting for work: a job takes one, or starts a thread.
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        if not self._idle.acquire(blocking=False):
            self._start_thread()
        return await future

    def _start_thread(self) -> None:
        with self._lock:
            if self._closed or len(self._threads) >= self._limit:
                return  # the job waits for a busy thread to come back
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            # A thread is started for a job already queued: it offers itself as idle only
            # after a job, or a request arriving meanwhile would wait behind that first job.
            job = jobs.get()
            if job is None:
                return
            _run(job)
            job = None  # hold no request while waiting for the next
            self._idle.release()

    def close(self) -> None:
        """End every thread once the jobs already queued are done."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)


def _run(job: _Job) -> None:
    loop, future, fn, args = job
    _current.loop = loop
    try:
        result = fn(*args)
    except BaseException as exc:  # handed to the awaiting request, as anyio does
        _answer(loop, future, None, exc)
    else:
        _answer(loop, future, result, None)
    finally:
        _current.loop = None


def _answer(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future,
    result: Any,
    error: BaseException | None,
) -> None:
    # RuntimeError: the loop is closed, so no one is waiting any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
