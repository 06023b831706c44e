"""The event-loop loopback client against a real server, answer by answer as the thread one:
fixed-length, chunked (split across writes), interim and close-delimited bodies, a server that
breaks off, and a closed idle connection."""

from __future__ import annotations

import asyncio
import threading

import pytest
from loopback_fake_server import serve

from tule.runtime.loopback_http import AsyncLoopbackConnection, ProtocolError


def _serve(answers: list[list[bytes]]) -> tuple[int, threading.Thread]:
    """Each answer's pieces arrive 10 ms apart, so the client sees them separately."""
    return serve(answers, pause=0.01)


def test_fixed_chunked_and_interim_answers_on_one_connection() -> None:
    port, thread = _serve(
        [
            [
                b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Le",
                b"ngth: 5\r\n\r\n0.5",
                b"\n1",
            ],
            [
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n",
                b"X-A: 1\r\nX-A: 2\r\n\r\n3\r",
                b"\nabc\r\n2\r\nde\r\n0\r\n",
                b"\r\n",
            ],
            [b"HTTP/1.1 204 No Content\r\n\r\n"],
        ]
    )

    async def run() -> None:
        conn = AsyncLoopbackConnection("127.0.0.1", port)
        assert not conn.connected and conn.found_closed()
        await conn.connect()
        assert conn.connected and not conn.found_closed()
        answer = await conn.request("POST", "/invocations", b"1,2", {"Content-Type": "text/csv"})
        assert answer == (
            200,
            {"content-type": "text/csv", "content-length": "5"},
            b"0.5\n1",
            False,
        )
        status, headers, body, close = await conn.request("POST", "/x", b"", {})
        assert (status, body, close, headers["x-a"]) == (201, b"abcde", False, "1, 2")
        assert (await conn.request("GET", "/ping", b"", {}))[:3] == (204, {}, b"")
        conn.close()
        assert not conn.connected

    asyncio.run(run())
    thread.join(5)


def test_close_delimited_body_then_the_connection_reads_as_closed() -> None:
    port, thread = _serve([[b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall ", b"of it"]])

    async def run() -> None:
        conn = AsyncLoopbackConnection("127.0.0.1", port)
        await conn.connect()
        status, _, body, close = await conn.request("GET", "/", b"", {})
        assert (status, body, close) == (200, b"all of it", True)
        await asyncio.sleep(0.05)
        assert conn.found_closed()
        with pytest.raises(OSError):
            await conn.request("GET", "/", b"", {})
        conn.close()

    asyncio.run(run())
    thread.join(5)


@pytest.mark.parametrize(
    "answer",
    [
        [b"SPDY nonsense\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],  # then the server closes
        [b"HTTP/1.1 200 OK\r\nContent-Le"],
    ],
    ids=["garbage", "short-body", "short-head"],
)
def test_broken_answers_are_protocol_errors(answer) -> None:
    port, thread = _serve([answer])

    async def run() -> None:
        conn = AsyncLoopbackConnection("127.0.0.1", port)
        await conn.connect()
        with pytest.raises(ProtocolError):
            await asyncio.wait_for(conn.request("GET", "/", b"", {}), 5)
        conn.close()

    asyncio.run(run())
    thread.join(5)
