"""Conditional requests and byte ranges: which version a read answers with, and how much.

Precedence follows the S3 API reference for GetObject/HeadObject (after RFC 7232 §6):
`If-Match` first (412 if it fails; when it holds, `If-Unmodified-Since` is not evaluated),
then `If-Unmodified-Since` (412), then `If-None-Match` (304; when present,
`If-Modified-Since` is not evaluated), then `If-Modified-Since` (304). CopyObject's
`x-amz-copy-source-if-*` headers follow the same order but every failure is a 412.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from tule.services.s3 import errors

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*\Z")


@dataclass(frozen=True)
class Preconditions:
    """The four conditional headers of a read (or of a copy's source)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start`..`end` inclusive of an object of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


def http_date(epoch: float) -> str:
    """RFC 1123 date, as S3 writes `Last-Modified`."""
    return format_datetime(datetime.fromtimestamp(int(epoch), UTC), usegmt=True)


def _strip(etag: str) -> str:
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def etag_matches(header: str, etag: str) -> bool:
    """Whether an `If-Match`/`If-None-Match` list names this ETag (`*` names any)."""
    wanted = _strip(etag)
    return any(c.strip() == "*" or _strip(c) == wanted for c in header.split(","))


def _modified_since(last_modified: float, since: datetime) -> bool:
    # HTTP dates have whole seconds; Last-Modified is compared at that precision.
    return math.floor(last_modified) > since.timestamp()


def check_read(conditions: Preconditions, etag: str, last_modified: float) -> None:
    """Raise 412 `PreconditionFailed` or 304 for a GET/HEAD whose conditions fail."""
    c = conditions
    if c.if_match is not None:
        if not etag_matches(c.if_match, etag):
            raise errors.precondition_failed("If-Match")
    elif c.if_unmodified_since is not None and _modified_since(
        last_modified, c.if_unmodified_since
    ):
        raise errors.precondition_failed("If-Unmodified-Since")
    if c.if_none_match is not None:
        if etag_matches(c.if_none_match, etag):
            raise errors.not_modified(etag, http_date(last_modified))
    elif c.if_modified_since is not None and not _modified_since(
        last_modified, c.if_modified_since
    ):
        raise errors.not_modified(etag, http_date(last_modified))


def check_copy_source(conditions: Preconditions, etag: str, last_modified: float) -> None:
    """CopyObject/UploadPartCopy source conditions: any failure is 412."""
    c = conditions
    if c.if_match is not None:
        if not etag_matches(c.if_match, etag):
            raise errors.precondition_failed("x-amz-copy-source-If-Match")
    elif c.if_unmodified_since is not None and _modified_since(
        last_modified, c.if_unmodified_since
    ):
        raise errors.precondition_failed("x-amz-copy-source-If-Unmodified-Since")
    if c.if_none_match is not None:
        if etag_matches(c.if_none_match, etag):
            raise errors.precondition_failed("x-amz-copy-source-If-None-Match")
    elif c.if_modified_since is not None and not _modified_since(
        last_modified, c.if_modified_since
    ):
        raise errors.precondition_failed("x-amz-copy-source-If-Modified-Since")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range a `Range` header asks for, or None to send the whole object.

    `bytes=a-b`, `bytes=a-` and `bytes=-n`; an end past the object is clipped. A header S3
    cannot parse, or one asking for several ranges, is ignored and the whole object is sent
    (as S3 does). A start at or past the end is 416 `InvalidRange`."""
    if header is None:
        return None
    m = _RANGE.match(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise errors.invalid_range(size, header)
        return ByteRange(max(size - suffix, 0), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # syntactically invalid: RFC 7233 says ignore
    if start >= size:
        raise errors.invalid_range(size, header)
    return ByteRange(start, min(end, size - 1), size)


def parse_copy_range(header: str, size: int) -> ByteRange:
    """UploadPartCopy's `x-amz-copy-source-range: bytes=a-b`, which must lie inside the
    source (S3 answers `InvalidArgument` otherwise, unlike a GET's lenient Range)."""
    m = _RANGE.match(header)
    if m is None or not m.group(1) or not m.group(2) or int(m.group(2)) < int(m.group(1)):
        raise errors.invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
            "and last are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            header,
        )
    start, end = int(m.group(1)), int(m.group(2))
    if end >= size:
        raise errors.invalid_argument(
            f"Range specified is not valid for source object of size: {size}",
            "x-amz-copy-source-range",
            header,
        )
    return ByteRange(start, end, size)
