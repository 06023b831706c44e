"""The loopback HTTP client against a real server: fixed-length, chunked and close-delimited
bodies, interim answers, keep-alive reuse, and a server that closes idle connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from loopback_fake_server import serve

from tule.runtime.loopback_http import LoopbackConnection, ProtocolError


def _serve(answers: list[bytes]) -> tuple[int, threading.Thread]:
    """A one-connection server that reads a request per answer and writes the answer."""
    return serve([[answer] for answer in answers])


@pytest.fixture
def connection() -> Iterator[LoopbackConnection]:
    conns: list[LoopbackConnection] = []
    yield lambda port: conns.append(LoopbackConnection("127.0.0.1", port)) or conns[-1]  # type: ignore[misc]
    for c in conns:
        c.close()


def test_fixed_chunked_and_interim_answers_on_one_connection(connection) -> None:
    port, thread = _serve(
        [
            b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 5\r\n\r\n0.5\n1",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n"
            b"X-A: 1\r\nX-A: 2\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ]
    )
    conn = connection(port)
    conn.connect(5)
    assert conn.request("POST", "/invocations", b"1,2", {"Content-Type": "text/csv"}) == (
        200,
        {"content-type": "text/csv", "content-length": "5"},
        b"0.5\n1",
        False,
    )
    status, headers, body, close = conn.request("POST", "/x", b"", {})
    assert (status, body, close, headers["x-a"]) == (201, b"abcde", False, "1, 2")
    assert conn.request("GET", "/ping", b"", {})[:3] == (204, {}, b"")
    thread.join(5)


def test_close_delimited_body_and_closed_idle_connection(connection) -> None:
    port, thread = _serve([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"])
    conn = connection(port)
    conn.connect(5)
    assert not conn.found_closed()
    status, _, body, close = conn.request("GET", "/", b"", {})
    assert (status, body, close) == (200, b"all of it", True)
    thread.join(5)
    assert conn.found_closed()
    with pytest.raises(OSError):
        conn.request("GET", "/", b"", {})


def test_garbage_is_a_protocol_error(connection) -> None:
    port, thread = _serve([b"SPDY nonsense\r\n\r\n"])
    conn = connection(port)
    conn.connect(5)
    with pytest.raises(ProtocolError):
        conn.request("GET", "/", b"", {})
    thread.join(5)
