"""Request bodies: small ones read whole, large ones streamed to the handler as they arrive.

A large upload used to be received whole (into a spool), and only then hashed and written by
the handler: two passes one after the other. A `BodyPipe` instead hands the bytes to the
handler's thread while the event loop is still receiving them, so receiving, hashing and
writing overlap (64 MiB boto3 PUTs on the dev VM, interleaved runs: 123 -> 172 MB/s, with the
client's own hashing before it sends taking ~0.14 s of each ~0.37 s). The pipe holds at most
`PIPE_LIMIT` bytes; past that the event loop stops taking the body from uvicorn, which stops
reading the socket, so a slow disk slows the client instead of filling memory.

With SigV4 on, the signature covers the declared `x-amz-content-sha256`, not the bytes: the
pipe hashes what the handler reads and, at the end of the body, raises `PayloadMismatch` if
the two differ. A handler reads its body to the end before it commits anything (the blob
store and the inline bodies both do), so a body that does not match is never stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections import deque

from tule.aws.http import HttpRequest
from tule.errors import AwsError

STREAM_THRESHOLD = 1 << 20
PIPE_LIMIT = 8 << 20
# The consumer is woken once this much is buffered (or the body ended): one wake-up per
# 64 KiB network read cost more than the hashing it fed.
_WAKE_BYTES = 1 << 20
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}\Z")


class PayloadMismatch(Exception):
    """The body's SHA-256 is not the `x-amz-content-sha256` the request declared (and signed)."""

    def __init__(self, declared: str, actual: str) -> None:
        super().__init__("x-amz-content-sha256 does not match the body")
        self.declared = declared
        self.actual = actual


def should_stream(req: HttpRequest, auth: bool) -> bool:
    """Whether to stream this body rather than read it whole before dispatching.

    Large or unsized bodies stream. With auth on, only those whose signed payload hash is
    declared in a header (S3's `x-amz-content-sha256`): the others' hash is part of what the
    signature covers, so it must be known before dispatching."""
    headers = req.headers
    if "transfer-encoding" in headers:
        large = True  # of unknown size
    else:
        length = headers.get("content-length", "0")
        large = not length.isdigit() or int(length) > STREAM_THRESHOLD
    return large and (not auth or "x-amz-content-sha256" in headers)


def incomplete_body() -> AwsError:
    return AwsError("IncompleteBody", "The request body terminated unexpectedly", 400)


class BodyPipe:
    """Bytes passed from the event loop (`put`, `finish`, `fail`) to one reading thread
    (`read`, `close`). `declared_sha256`: check the body against it at its end."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        declared_sha256: str | None = None,
        limit: int = PIPE_LIMIT,
    ) -> None:
        self._loop = loop
        self._limit = limit
        self._lock = threading.Lock()
        self._readable = threading.Condition(self._lock)
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._want = _WAKE_BYTES
        self._ended = False
        self._closed = False
        self._error: BaseException | None = None
        self._space: asyncio.Future[None] | None = None
        self._declared = None
        self._sha256 = None
        if declared_sha256 and _HEX_SHA256.match(declared_sha256):
            self._declared = declared_sha256.lower()
            self._sha256 = hashlib.sha256()

    # -- the event loop's side ----------------------------------------------------------------

    async def put(self, chunk: bytes) -> None:
        """Queue a piece of the body; waits while the pipe is full. Once the reader has
        closed, pieces are dropped (the rest of the body is only drained)."""
        with self._lock:
            if self._closed or not chunk:
                return
            self._chunks.append(chunk)
            self._size += len(chunk)
            if self._size >= self._want:
                self._readable.notify()
            if self._size < self._limit:
                return
            space = self._space = self._loop.create_future()
        await space

    def finish(self) -> None:
        with self._lock:
            self._ended = True
            self._readable.notify()

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self._error = error
            self._readable.notify()

    # -- the reading thread's side ------------------------------------------------------------

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (all that remain when `n` < 0), possibly fewer even before the end,
        like a socket's read; b"" at the end of the body."""
        if n == 0:
            return b""
        if n < 0:
            pieces = []
            while piece := self.read(_WAKE_BYTES):
                pieces.append(piece)
            return b"".join(pieces)
        with self._lock:
            self._want = min(n, _WAKE_BYTES)
            while self._size < self._want and not self._ended and self._error is None:
                self._readable.wait()
            self._want = self._limit  # no need to wake this thread until it reads again
            if self._error is not None:
                raise self._error
            data = self._take(n)
            space = self._space
            if space is not None and self._size < self._limit // 2:
                self._space = None
            else:
                space = None
        if space is not None:
            self._loop.call_soon_threadsafe(_resolve, space)
        if self._sha256 is not None:
            if data:
                self._sha256.update(data)
            else:
                self._check_digest()
        return data

    def close(self) -> None:
        """The reader is done: drop what is buffered and let the event loop drain the rest."""
        with self._lock:
            self._closed = True
            self._chunks.clear()
            self._size = 0
            space, self._space = self._space, None
        if space is not None:
            self._loop.call_soon_threadsafe(_resolve, space)

    def _take(self, n: int) -> bytes:
        """Pop the first buffered piece, or its first `n` bytes (the caller holds the lock).
        Pieces go out as they came in (uvicorn's reads, ~256 KiB): joining them into bigger
        ones cost a copy of every byte."""
        if not self._chunks:
            return b""
        chunk = self._chunks.popleft()
        if len(chunk) > n:
            chunk, rest = chunk[:n], chunk[n:]
            self._chunks.appendleft(rest)
        self._size -= len(chunk)
        return chunk

    def _check_digest(self) -> None:
        assert self._sha256 is not None and self._declared is not None
        actual = self._sha256.hexdigest()
        if actual != self._declared:
            raise PayloadMismatch(self._declared, actual)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
