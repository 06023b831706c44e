"""Listing: ListObjects (v1), ListObjectsV2 and ListObjectVersions (spec §9.4).

Keys come back in UTF-8 byte order straight from the ordered metadata store, a page at a
time. With a delimiter, every key whose remainder after the prefix contains it rolls up into a
common prefix, which counts against MaxKeys like a key; the walk then jumps past everything
under that prefix in one query instead of reading it. Common prefixes at or before the marker
are not repeated, so a NextMarker that is a common prefix resumes after it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tule.errors import AwsError
from tule.services.s3 import errors
from tule.services.s3.buckets import Buckets
from tule.services.s3.models import ObjectVersion
from tule.services.s3.state import PAST_PREFIX, State

MAX_KEYS = 1000
# Sorts after every `\0<sort_key>` suffix of a key's version records.
_PAST_VERSIONS = "\0\U0010ffff"


@dataclass(frozen=True)
class Cursor:
    """A position in a listing: after `key` (and its `version` when given), or after every key
    under the common prefix `key` when `skip_prefix`."""

    key: str
    version: str | None = None
    skip_prefix: bool = False

    def encode(self) -> str:
        raw = json.dumps([self.key, self.version, self.skip_prefix]).encode()
        return base64.urlsafe_b64encode(raw).decode()

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            key, version, skip = json.loads(base64.urlsafe_b64decode(token.encode()))
            return cls(str(key), version, bool(skip))
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise AwsError(
                "InvalidArgument", "The continuation token provided is incorrect", 400
            ) from None


# An entry of a walk: (key, version-or-upload id or None, payload); a payload of None is a
# common prefix.
Entry = tuple[str, str | None, Any]
Source = Callable[[Cursor | None], Iterator[tuple[str, str | None, Any]]]


@dataclass(frozen=True)
class Walk:
    entries: list[Entry]
    truncated: bool
    last: Cursor | None  # where the next page starts

    @property
    def common_prefixes(self) -> list[str]:
        return [key for key, _, payload in self.entries if payload is None]

    @property
    def items(self) -> list[Any]:
        return [payload for _, _, payload in self.entries if payload is not None]


def walk(
    source: Source, prefix: str, delimiter: str | None, cursor: Cursor | None, limit: int
) -> Walk:
    """Up to `limit` entries (items and common prefixes) from `source`, after `cursor`."""
    entries: list[Entry] = []
    start = cursor
    it = source(cursor)
    while True:
        restarted = False
        for key, sub, payload in it:
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    if start is None or common > start.key:
                        if len(entries) == limit:
                            return Walk(entries, True, cursor)
                        entries.append((common, None, None))
                    cursor = Cursor(common, skip_prefix=True)
                    it, restarted = source(cursor), True
                    break
            if len(entries) == limit:
                return Walk(entries, True, cursor)
            entries.append((key, sub, payload))
            cursor = Cursor(key, sub)
        if not restarted:
            return Walk(entries, False, cursor)


def max_keys(value: int | None) -> int:
    if value is None:
        return MAX_KEYS
    if value < 0:
        raise errors.invalid_argument(
            "Argument maxKeys must be an integer between 0 and 2147483647", "maxKeys", value
        )
    return min(value, MAX_KEYS)


@dataclass(frozen=True)
class VersionEntry:
    version: ObjectVersion
    is_latest: bool


class Listing:
    """Object and version listings of a bucket."""

    def __init__(self, state: State, buckets: Buckets) -> None:
        self.state = state
        self.buckets = buckets

    def objects(
        self,
        bucket_name: str,
        prefix: str,
        delimiter: str | None,
        limit: int,
        cursor: Cursor | None,
    ) -> Walk:
        """Current objects (never delete markers) after `cursor`; items are ObjectVersions."""
        self.buckets.require(bucket_name)
        base = f"o/{bucket_name}/"
        scan = self.state.scan

        def source(at: Cursor | None) -> Iterator[tuple[str, str | None, Any]]:
            after = None
            if at is not None:
                after = base + at.key + (PAST_PREFIX if at.skip_prefix else "")
            # Pages no bigger than needed: a 4-key listing should not decode 1000 records.
            for _, rec in scan(base + prefix, after, page=min(limit + 1, MAX_KEYS)):
                yield rec["key"], None, ObjectVersion.from_record(rec)

        return walk(source, prefix, delimiter or None, cursor, limit)

    def versions(
        self,
        bucket_name: str,
        prefix: str,
        delimiter: str | None,
        limit: int,
        cursor: Cursor | None,
    ) -> Walk:
        """Every version and delete marker, keys ascending and each key's versions newest
        first; items are VersionEntry."""
        self.buckets.require(bucket_name)
        state = self.state
        o_base, v_base = f"o/{bucket_name}/", f"v/{bucket_name}/"

        def source(at: Cursor | None) -> Iterator[tuple[str, str | None, Any]]:
            o_after = v_after = None
            if at is not None and at.version is not None and not at.skip_prefix:
                # The rest of the marker key's versions, after the marker version.
                versions = _versions_of(state, bucket_name, at.key)
                ids = [entry.version.version_id for entry in versions]
                if at.version in ids:
                    for entry in versions[ids.index(at.version) + 1 :]:
                        yield at.key, entry.version.version_id, entry
            if at is not None:
                past = PAST_PREFIX if at.skip_prefix else ""
                o_after = o_base + at.key + past
                v_after = v_base + at.key + (past or _PAST_VERSIONS)
            current = _records(state.scan(o_base + prefix, o_after))
            others = _records(state.scan(v_base + prefix, v_after))
            for entry in _merge(current, others):
                yield entry.version.key, entry.version.version_id, entry

        return walk(source, prefix, delimiter or None, cursor, limit)


def _records(it: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[ObjectVersion]:
    return (ObjectVersion.from_record(rec) for _, rec in it)


def _merge(
    current: Iterator[ObjectVersion], others: Iterator[ObjectVersion]
) -> Iterator[VersionEntry]:
    """Interleave current versions (`o/`) and the rest (`v/`) by key, newest first per key.

    For a key with a current object, that object is the latest; otherwise the newest of its
    other versions (a delete marker, or the survivor of a version deletion) is."""
    cur = next(current, None)
    other = next(others, None)
    while cur is not None or other is not None:
        if cur is not None and (other is None or cur.key <= other.key):
            key = cur.key
            yield VersionEntry(cur, True)
            cur = next(current, None)
            latest_taken = True
        else:
            assert other is not None
            key = other.key
            latest_taken = False
        while other is not None and other.key == key:
            yield VersionEntry(other, not latest_taken)
            latest_taken = True
            other = next(others, None)


def _versions_of(state: State, bucket: str, key: str) -> list[VersionEntry]:
    current = state.current(bucket, key)
    others = state.other_versions(bucket, key)
    return list(_merge(iter([current] if current else []), iter(others)))
