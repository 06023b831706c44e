"""MultiRecord requests of a Line-split object cut straight from its bytes.

When an object's lines are its records as they are - no carriage return, no empty line - a
request of consecutive records is a slice of the object: the records joined by newlines are the
bytes between them. So the requests can be planned with a few searches per request instead of
splitting the object into one bytes object per line and joining them again (which was most of
the transform's own work on a large object). The plan is the one `plan_batches` makes: as many
records as fit in the limit, the first record longer than the limit failing the object.
Record numbers, needed only to name the records of a failure, are counted then.
"""

from __future__ import annotations

import re

__all__ = ["OversizedRecord", "Span", "line_spans", "span_records"]

Span = tuple[int, int]  # bytes [start, end) of one request's payload
# `re` finds an empty line three times faster than `bytes.find` (whose search stumbles on
# every newline of a file of short lines).
_EMPTY_LINE = re.compile(b"\n\n")


class OversizedRecord(Exception):
    """A record longer than the payload limit: its index (0-based) and length."""

    def __init__(self, index: int, length: int) -> None:
        super().__init__(index, length)
        self.index = index
        self.length = length


def line_spans(data: bytes, limit: int | None) -> list[Span] | None:
    """The byte spans of the requests for `data` split by Line under MultiRecord, or None when
    its lines are not its records as they are (the general path strips and drops those).
    Raises OversizedRecord for the first record longer than `limit` bytes (None: no limit)."""
    if b"\r" in data or data.startswith(b"\n") or _EMPTY_LINE.search(data):
        return None
    size = len(data) - 1 if data.endswith(b"\n") else len(data)
    if limit is None:
        return [(0, size)] if size else []
    spans: list[Span] = []
    start = 0
    while start < size:
        if size - start <= limit:
            end = size
        else:
            # The last record end within the limit: a newline at most `limit` bytes on.
            end = data.rfind(b"\n", start, start + limit + 1)
            if end < 0:
                record_end = data.find(b"\n", start, size)
                length = (size if record_end < 0 else record_end) - start
                raise OversizedRecord(data.count(b"\n", 0, start), length)
        spans.append((start, end))
        start = end + 1
    return spans


def span_records(data: bytes, span: Span) -> tuple[int, int]:
    """The records [first, end) (0-based) that a span of `line_spans` holds."""
    first = data.count(b"\n", 0, span[0])
    return first, first + data.count(b"\n", span[0], span[1]) + 1
