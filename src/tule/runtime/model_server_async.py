"""Requests to a `ModelServer` from an asyncio event loop (the gateway's), without a thread.

The same rules as `ModelServer.request`: keep-alive connections from a pool, a POST is never
sent twice, requests arriving while the process restarts wait for it (up to the start-up
timeout), a timeout is `InvocationTimeout` and a broken connection `ServerUnavailable`. An
`AsyncInvoker` keeps connections of one event loop at a time (the gateway's); they are dropped
when the process behind them is replaced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from tule.runtime.loopback_http import AsyncLoopbackConnection
from tule.runtime.model_server import HOST, InvocationTimeout, ModelServer, Reply, ServerUnavailable

# A pooled connection idle longer than this is closed rather than reused (uvicorn closes idle
# keep-alive connections after 5 s; a POST on a connection it is closing could be lost).
_MAX_IDLE_S = 4.0
_MAX_POOLED = 64
_RESTART_POLL_S = 0.02


class AsyncInvoker:
    """POSTs to one model server's `/invocations` from one event loop."""

    def __init__(self, server: ModelServer) -> None:
        self.server = server
        self._pool: list[AsyncLoopbackConnection] = []
        self._generation = -1
        self._loop: asyncio.AbstractEventLoop | None = None

    async def invoke(self, body: bytes, headers: Mapping[str, str], timeout: float = 60.0) -> Reply:
        conn = await self._lease()
        try:
            # asyncio.timeout, not wait_for: no task per request.
            async with asyncio.timeout(timeout):
                if not conn.connected:
                    await conn.connect()
                status, answer_headers, data, will_close = await conn.request(
                    "POST", "/invocations", body, headers
                )
        except TimeoutError:
            conn.close()
            raise InvocationTimeout(
                f"{self.server.label} did not answer within {timeout:g} seconds"
            ) from None
        except OSError as exc:
            conn.close()
            raise ServerUnavailable(f"connection to {self.server.label} broke: {exc!r}") from None
        if will_close or len(self._pool) >= _MAX_POOLED:
            conn.close()
        else:
            conn.idle_since = time.monotonic()
            self._pool.append(conn)
        return Reply(status, answer_headers, data)

    async def _lease(self) -> AsyncLoopbackConnection:
        deadline = time.monotonic() + self.server.startup_timeout_s
        while True:
            serving = self.server.serving()
            if serving is not None:
                break
            if time.monotonic() > deadline:
                raise ServerUnavailable(
                    f"{self.server.label} did not come back within "
                    f"{self.server.startup_timeout_s:g} seconds"
                )
            await asyncio.sleep(_RESTART_POLL_S)
        port, generation = serving
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._pool, self._loop = [], loop  # another loop's connections cannot be used here
        if generation != self._generation:
            self.close()
            self._generation = generation
        now = time.monotonic()
        while self._pool:
            conn = self._pool.pop()
            if now - conn.idle_since <= _MAX_IDLE_S and not conn.found_closed():
                return conn
            conn.close()
        return AsyncLoopbackConnection(HOST, port)

    def close(self) -> None:
        pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()
