"""Paging tokens: GetLogEvents' forward/backward tokens and the opaque `nextToken`s.

GetLogEvents tokens keep AWS's visible shape, `f/<56 digits>/s` and `b/<56 digits>/s`; here the
digits are an event position (timestamp, seq). `f/P` means "the events after P", `b/P` "the
events before P". The other operations' tokens are opaque in AWS too: base64url of a small JSON
document naming the operation it belongs to, so a token cannot be replayed elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from tule.services.logs.errors import invalid_token
from tule.services.logs.models import Position

_SEQ_DIGITS = 36
_MAX_SEQ = 10**_SEQ_DIGITS - 1
_STREAM_TOKEN = re.compile(r"([fb])/(\d{20})(\d{36})/s")


@dataclass(frozen=True)
class StreamToken:
    """A decoded GetLogEvents token: read `forward` after, or backward before, `position`."""

    forward: bool
    position: Position

    def encode(self) -> str:
        ts, seq = self.position
        return f"{'f' if self.forward else 'b'}/{ts:020d}{seq:0{_SEQ_DIGITS}d}/s"


def forward_after(position: Position) -> StreamToken:
    return StreamToken(True, position)


def backward_before(position: Position) -> StreamToken:
    return StreamToken(False, position)


def just_after(position: Position) -> Position:
    """The position right after `position`: `b/just_after(P)` reads P and what precedes it."""
    return (position[0], position[1] + 1)


def just_before(position: Position) -> Position:
    """The position right before `position`: `f/just_before(P)` reads P and what follows it."""
    ts, seq = position
    if seq > 0:
        return (ts, seq - 1)
    # seq 0 is never an event's (seqs start at 1), so (ts, 0) already sits before all of ts.
    return (ts - 1, _MAX_SEQ) if ts > 0 else (0, 0)


def decode_stream_token(token: str) -> StreamToken:
    m = _STREAM_TOKEN.fullmatch(token)
    if m is None:
        raise invalid_token()
    return StreamToken(m.group(1) == "f", (int(m.group(2)), int(m.group(3))))


PageKind = Literal["groups", "streams", "filter"]


def encode_page_token(kind: PageKind, state: dict[str, Any]) -> str:
    doc = json.dumps({"k": kind, **state}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(doc).decode().rstrip("=")


def decode_page_token(kind: PageKind, token: str) -> dict[str, Any]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid_token() from None
    if not isinstance(doc, dict) or doc.pop("k", None) != kind:
        raise invalid_token()
    return doc
