"""Shard iterators and listing tokens: opaque strings that carry a position and when they were
handed out, so they expire (iterators after 5 minutes, ListShards tokens after 300 seconds).

An iterator names the stream by account, region, name and uid (a stream deleted and created
again does not accept the old one's iterators), the shard, and the log position to read next.
A CRC guards against edits; anything that does not decode is "Invalid ShardIterator.".
`issue` hands one out for a shard of a live stream and `resolve` finds that shard again.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass

from tule.services.kinesis.catalog import Catalog, Live
from tule.services.kinesis.errors import (
    expired_iterator,
    expired_next_token,
    invalid_argument,
    invalid_iterator,
    invalid_next_token,
    stream_not_found,
)
from tule.services.kinesis.models import Shard

ITERATOR_TTL_MS = 300_000
NEXT_TOKEN_TTL_MS = 300_000


def _seal(fields: list[str]) -> str:
    body = "|".join(fields)
    crc = zlib.crc32(body.encode())
    return base64.urlsafe_b64encode(f"{body}|{crc:08x}".encode()).decode()


def _open(token: str) -> list[str] | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError, UnicodeError):
        return None
    body, _, crc = text.rpartition("|")
    if not body or crc != f"{zlib.crc32(body.encode()):08x}":
        return None
    return body.split("|")


@dataclass(frozen=True)
class ShardIterator:
    account: str
    region: str
    stream: str
    uid: str
    shard_id: str
    position: int
    issued_ms: int

    def encode(self) -> str:
        return _seal(
            [
                "i1",
                self.account,
                self.region,
                self.stream,
                self.uid,
                self.shard_id,
                str(self.position),
                str(self.issued_ms),
            ]
        )

    @classmethod
    def decode(cls, token: str, now_ms: int) -> ShardIterator:
        fields = _open(token)
        if fields is None or len(fields) != 8 or fields[0] != "i1":
            raise invalid_iterator()
        try:
            position, issued = int(fields[6]), int(fields[7])
        except ValueError:
            raise invalid_iterator() from None
        if now_ms - issued > ITERATOR_TTL_MS:
            raise expired_iterator(issued, now_ms, ITERATOR_TTL_MS)
        return cls(*fields[1:6], position=position, issued_ms=issued)  # type: ignore[arg-type]


def issue(live: Live, shard: Shard, position: int, now: float) -> str:
    """An iterator reading `shard` of the stream from log `position`, issued at `now`."""
    s = live.stream
    return ShardIterator(
        s.account, s.region, s.name, s.uid, shard.shard_id, position, int(now * 1000)
    ).encode()


def resolve(
    catalog: Catalog, account: str, region: str, token: str, now: float
) -> tuple[ShardIterator, Live, Shard]:
    """The iterator a caller of this account and region passed, with its stream and shard;
    an iterator of a stream since deleted (even if created again) names no stream."""
    it = ShardIterator.decode(token, int(now * 1000))
    if it.account != account or it.region != region:
        raise invalid_argument("Invalid ShardIterator.")
    live = catalog.get(account, region, it.stream)
    if live is None or live.stream.uid != it.uid:
        raise stream_not_found(it.stream, account)
    return it, live, live.shard(it.shard_id)


def page_token(kind: str, scope: list[str], after: str, issued_ms: int) -> str:
    """A NextToken for a listing of `kind` over `scope`, resuming after the key `after`."""
    return _seal([kind, *scope, after, str(issued_ms)])


def open_page_token(
    token: str, kind: str, scope_len: int, now_ms: int, ttl_ms: int | None = NEXT_TOKEN_TTL_MS
) -> tuple[list[str], str]:
    """The scope and resume key of a `page_token`; InvalidArgumentException if it is not one,
    ExpiredNextTokenException if it is too old."""
    fields = _open(token)
    if fields is None or len(fields) != scope_len + 3 or fields[0] != kind:
        raise invalid_next_token()
    try:
        issued = int(fields[-1])
    except ValueError:
        raise invalid_next_token() from None
    if ttl_ms is not None and now_ms - issued > ttl_ms:
        raise expired_next_token()
    return fields[1:-2], fields[-2]
