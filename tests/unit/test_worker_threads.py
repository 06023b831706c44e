"""The gateway's handler threads: results and errors come back to the awaiting request, work
runs off the event loop, and an awaitable a handler returns is awaited on the calling loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tule.aws.workers import WorkerThreads, calling_loop


def test_a_call_runs_on_a_worker_thread_and_its_result_comes_back() -> None:
    pool = WorkerThreads(limit=2)

    async def main() -> tuple[int, int]:
        return await pool.run(lambda a, b: (a + b, threading.get_ident()), 2, 3)

    try:
        total, ident = asyncio.run(main())
    finally:
        pool.close()
    assert total == 5
    assert ident != threading.get_ident()


def test_an_exception_reaches_the_awaiting_request() -> None:
    pool = WorkerThreads(limit=1)

    def fail() -> None:
        raise KeyError("missing")

    async def main() -> None:
        await pool.run(fail)

    try:
        with pytest.raises(KeyError, match="missing"):
            asyncio.run(main())
    finally:
        pool.close()


def test_calls_beyond_the_limit_wait_for_a_thread() -> None:
    pool = WorkerThreads(limit=2)
    running = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1
        return i

    async def main() -> list[int]:
        calls = [asyncio.ensure_future(pool.run(work, i)) for i in range(6)]
        await asyncio.sleep(0.05)
        release.set()
        return list(await asyncio.gather(*calls))

    try:
        assert asyncio.run(main()) == list(range(6))
    finally:
        pool.close()
    assert peak == 2


def test_the_calling_loop_is_known_on_the_worker_and_nowhere_else() -> None:
    pool = WorkerThreads(limit=1)

    async def main() -> tuple[bool, int]:
        loop = asyncio.get_running_loop()

        def on_worker() -> tuple[bool, int]:
            # what the dispatcher does with a handler's awaitable
            seen = calling_loop()

            async def answer() -> int:
                return 42

            assert seen is not None
            return seen is loop, asyncio.run_coroutine_threadsafe(answer(), seen).result(5)

        return await pool.run(on_worker)

    try:
        same, value = asyncio.run(main())
    finally:
        pool.close()
    assert same and value == 42
    assert calling_loop() is None


def test_a_call_does_not_wait_behind_a_blocked_one() -> None:
    # The first call's thread must not count as idle while it runs that call.
    pool = WorkerThreads(limit=4)
    release = threading.Event()

    async def main() -> str:
        blocked = asyncio.ensure_future(pool.run(release.wait, 5.0))
        await asyncio.sleep(0.05)
        quick = await asyncio.wait_for(pool.run(lambda: "done"), timeout=2.0)
        release.set()
        await blocked
        return quick

    try:
        assert asyncio.run(main()) == "done"
    finally:
        release.set()
        pool.close()
