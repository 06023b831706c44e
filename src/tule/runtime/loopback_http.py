"""A lean HTTP/1.1 client connection for loopback model servers.

Every InvokeEndpoint crosses one of these, so it does the least that is correct: one `sendall`
per request (headers and body together, Nagle off), and a response parser that reads the status
line, the headers and a `Content-Length` or chunked body without `http.client`'s
email-package header parsing (which cost about 0.3 ms of the ~1 ms a small request took).
"""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Mapping

_MAX_HEAD = 64 * 1024


class ProtocolError(OSError):
    """The server answered something that is not HTTP/1.1 as we speak it."""


class LoopbackConnection:
    """One keep-alive connection; not thread-safe (a pool hands it to one request at a time)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sock: socket.socket | None = None
        self.idle_since = 0.0
        self._buffer = bytearray()

    def connect(self, timeout: float) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._buffer.clear()

    def settimeout(self, timeout: float) -> None:
        assert self.sock is not None
        self.sock.settimeout(timeout)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def found_closed(self) -> bool:
        """Whether the server closed this idle connection: an idle keep-alive socket is readable
        only when the peer closed it (or sent something unasked)."""
        if self.sock is None or self._buffer:
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def request(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes, bool]:
        """(status, lower-cased headers, body, whether the server will close the connection)."""
        assert self.sock is not None
        self.sock.sendall(request_bytes(self.host, self.port, method, path, body, headers))
        return self._response(method)

    # -- reading -------------------------------------------------------------------------------

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ProtocolError("the server closed the connection")
        self._buffer += chunk

    def _head(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                return head
            if len(self._buffer) > _MAX_HEAD:
                raise ProtocolError("response headers too long")
            self._fill()

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            self._fill()

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self._line().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self._line():  # trailers, then the empty line
                    pass
                return b"".join(parts)
            parts.append(self._exactly(size))
            self._line()

    def _until_close(self) -> bytes:
        assert self.sock is not None
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                data = bytes(self._buffer)
                self._buffer.clear()
                return data
            self._buffer += chunk

    def _response(self, method: str) -> tuple[int, dict[str, str], bytes, bool]:
        while True:
            status, headers, will_close = parse_head(self._head())
            if not 100 <= status < 200:
                break  # an interim answer (100 Continue) is followed by the real one
        framing = body_framing(method, status, headers)
        if framing == "none":
            return status, headers, b"", will_close
        if framing == "chunked":
            return status, headers, self._chunked(), will_close
        if framing == "close":
            return status, headers, self._until_close(), True
        return status, headers, self._exactly(int(framing)), will_close


def request_bytes(
    host: str, port: int, method: str, path: str, body: bytes, headers: Mapping[str, str]
) -> bytes:
    """The whole request, ready for one write."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


def parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """(status, lower-cased headers, whether the server will close) of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    will_close = headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0"
    return int(parts[1]), headers, will_close


def body_framing(method: str, status: int, headers: Mapping[str, str]) -> str:
    """How the body of a response is delimited: "none", "chunked", "close" or its length."""
    if method == "HEAD" or status in (204, 304):
        return "none"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked"
    length = headers.get("content-length")
    if length is None:
        return "close"
    if not length.isdigit():
        raise ProtocolError(f"bad Content-Length {length!r}")
    return length


class _Receiver(asyncio.Protocol):
    """What the server sent on one connection, and the reads an answer is made of (each
    waiting, on a future the arriving bytes resolve, until it can be served).

    A bare protocol rather than asyncio's streams: a StreamReader costs a future and several
    calls per `readuntil`/`readexactly`, and every InvokeEndpoint reads one answer this way."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.ended = False
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> None:
        self.ended = True
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _more(self) -> None:
        """Wait until more bytes arrive; a ProtocolError when the server ended instead."""
        if self.ended:
            raise ProtocolError("the server broke off its answer")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def until(self, separator: bytes) -> bytes:
        """The bytes before `separator` (consumed with it)."""
        buffer = self.buffer
        while True:
            end = buffer.find(separator)
            if end >= 0:
                out = bytes(buffer[:end])
                del buffer[: end + len(separator)]
                return out
            if len(buffer) > _MAX_HEAD:
                raise ProtocolError("response headers too long")
            await self._more()

    async def exactly(self, size: int) -> bytes:
        buffer = self.buffer
        while len(buffer) < size:
            await self._more()
        out = bytes(buffer[:size])
        del buffer[:size]
        return out

    async def until_end(self) -> bytes:
        while not self.ended:
            await self._more()
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


class AsyncLoopbackConnection:
    """The same connection for an asyncio event loop (the gateway's), so a request through an
    endpoint needs no thread of its own."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._receiver: _Receiver | None = None
        self.idle_since = 0.0

    @property
    def connected(self) -> bool:
        return self._receiver is not None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        transport, self._receiver = await loop.create_connection(_Receiver, self.host, self.port)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self._receiver is not None:
            if self._receiver.transport is not None:
                self._receiver.transport.close()
            self._receiver = None

    def found_closed(self) -> bool:
        receiver = self._receiver
        return receiver is None or (receiver.ended and not receiver.buffer)

    async def request(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes, bool]:
        receiver = self._receiver
        assert receiver is not None and receiver.transport is not None
        receiver.transport.write(request_bytes(self.host, self.port, method, path, body, headers))
        while True:
            status, headers_out, will_close = parse_head(await receiver.until(b"\r\n\r\n"))
            if not 100 <= status < 200:
                break
        framing = body_framing(method, status, headers_out)
        if framing == "none":
            data = b""
        elif framing == "chunked":
            data = await _chunked(receiver)
        elif framing == "close":
            data, will_close = await receiver.until_end(), True
        else:
            data = await receiver.exactly(int(framing))
        return status, headers_out, data, will_close


async def _chunked(receiver: _Receiver) -> bytes:
    parts = []
    while True:
        line = await receiver.until(b"\r\n")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while await receiver.until(b"\r\n"):  # trailers, then the empty line
                pass
            return b"".join(parts)
        parts.append(await receiver.exactly(size))
        await receiver.until(b"\r\n")
