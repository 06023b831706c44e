"""The HTTP request and response as the gateway sees them, independent of the ASGI framework."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import parse_qsl


@dataclass
class HttpRequest:
    """A received request.

    `path` and `query` are raw (still percent-encoded) exactly as sent, because SigV4 for S3
    signs the path as received. `headers` keys are lower-case; `body` is the whole body for
    small requests, while `body_stream` carries large streaming uploads (S3 PutObject).
    """

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_stream: BinaryIO | None = None
    # Hex SHA-256 of a spooled body, computed while it was received (body_stream only).
    body_sha256: str | None = None
    # The body_stream checks the declared x-amz-content-sha256 itself when it reaches its end.
    body_checked: bool = False

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    def query_params(self) -> list[tuple[str, str]]:
        """Decoded query pairs in order; a key without `=` has an empty value."""
        return parse_qsl(self.query, keep_blank_values=True)

    def query_dict(self) -> dict[str, str]:
        """Decoded query as a dict (the first value wins for repeated keys)."""
        out: dict[str, str] = {}
        for k, v in self.query_params():
            out.setdefault(k, v)
        return out


@dataclass
class HttpResponse:
    """A response to send: status, headers, and either bytes or an iterator of chunks (an
    async one for answers written as events happen, such as event streams)."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterable[bytes] | Iterator[bytes] | AsyncIterable[bytes] | None = None
