"""PutLogEvents' batch rules: which events of a batch are stored, which rejected, which fail it.

From the PutLogEvents reference:
- the batch is at most 10,000 events and 1,048,576 bytes, counting each event's UTF-8 message
  plus 26 bytes;
- events must be in chronological order, or the whole call fails;
- events more than 2 hours in the future, more than 14 days in the past, or older than the log
  group's retention are rejected while the rest are stored; `rejectedLogEventsInfo` reports them
  by index (`tooOldLogEventEndIndex` and `expiredLogEventEndIndex` exclusive,
  `tooNewLogEventStartIndex` inclusive);
- the valid events of one batch may not span more than 24 hours.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from itertools import pairwise

from tule.services.logs.errors import invalid_parameter
from tule.services.logs.models import DAY_MS, RejectedInfo

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_AGE_MS = 14 * DAY_MS
MAX_AHEAD_MS = 2 * 3_600_000
MAX_SPAN_MS = DAY_MS

Event = tuple[int, str]  # (timestamp ms, message)


def event_size(message: str) -> int:
    """An event's size as AWS counts it against batch and response limits."""
    return len(message.encode()) + EVENT_OVERHEAD_BYTES


@dataclass(frozen=True)
class Batch:
    """The outcome of checking a batch: the events to store, and what was rejected."""

    accepted: list[Event]
    rejected: RejectedInfo


def check_batch(events: list[Event], now_ms: int, retention_floor: int | None) -> Batch:
    """Apply the batch rules; raises InvalidParameterException where AWS fails the call."""
    if len(events) > MAX_BATCH_EVENTS:
        raise invalid_parameter(
            f"The batch of {len(events)} log events exceeds the limit of {MAX_BATCH_EVENTS}."
        )
    size = sum(event_size(message) for _, message in events)
    if size > MAX_BATCH_BYTES:
        raise invalid_parameter(
            f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )
    stamps = [ts for ts, _ in events]
    if any(later < earlier for earlier, later in pairwise(stamps)):
        raise invalid_parameter(
            "Log events in a single PutLogEvents request must be in chronological order."
        )
    # The batch is sorted, so each rejected kind is a run at one end: bisect finds its bound.
    too_old_end = bisect.bisect_left(stamps, now_ms - MAX_AGE_MS)
    expired_end = 0 if retention_floor is None else bisect.bisect_left(stamps, retention_floor)
    too_new_start = bisect.bisect_right(stamps, now_ms + MAX_AHEAD_MS)
    accepted = events[max(too_old_end, expired_end) : too_new_start]
    if accepted and accepted[-1][0] - accepted[0][0] > MAX_SPAN_MS:
        raise invalid_parameter(
            "The batch of log events in a single PutLogEvents request cannot span more than "
            "24 hours."
        )
    return Batch(
        accepted=accepted,
        rejected=RejectedInfo(
            too_new_start=too_new_start if too_new_start < len(events) else None,
            too_old_end=too_old_end or None,
            expired_end=expired_end or None,
        ),
    )
