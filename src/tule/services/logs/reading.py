"""GetLogEvents: reading one stream a page at a time, forwards or backwards.

AWS's documented behaviour, which this follows:
- without a token, `startFromHead=True` reads the oldest events of the time range and the
  default (`False`) the newest; a page is always in ascending time order;
- `startTime` is inclusive and `endTime` exclusive;
- a page holds at most `limit` events (default 10,000) and at most 1 MB;
- `nextForwardToken` reads on after the page, `nextBackwardToken` back before it; at the end of
  the stream the token you passed in comes back unchanged, which is how readers (the SageMaker
  SDK among them) know to stop or to poll.
A token carries its own direction, so it wins over `startFromHead` (AWS asks callers to keep them
consistent and does not say what happens if they do not).
"""

from __future__ import annotations

from dataclasses import dataclass

from tule.services.logs.eventstore import EventStore
from tule.services.logs.ingest import MAX_BATCH_BYTES, event_size
from tule.services.logs.models import LogEvent
from tule.services.logs.tokens import (
    StreamToken,
    backward_before,
    decode_stream_token,
    forward_after,
    just_after,
    just_before,
)

DEFAULT_LIMIT = 10_000
MAX_RESPONSE_BYTES = MAX_BATCH_BYTES


@dataclass(frozen=True)
class EventsPage:
    """One GetLogEvents answer."""

    events: list[LogEvent]
    next_forward_token: str
    next_backward_token: str


def read_stream(
    store: EventStore,
    stream_uid: str,
    *,
    start_time: int | None,
    end_time: int | None,
    start_from_head: bool,
    limit: int | None,
    token: str | None,
    retention_floor: int | None,
) -> EventsPage:
    given: StreamToken | None = decode_stream_token(token) if token else None
    # Events older than retention are gone in AWS; hiding them keeps reads exact between purges.
    lo = max(start_time or 0, retention_floor or 0)
    count = limit or DEFAULT_LIMIT
    forward = given.forward if given is not None else start_from_head
    if forward:
        after = given.position if given is not None else None
        events = store.page(stream_uid, lo=lo, hi=end_time, after=after, limit=count)
        events = fit_head(events)
    else:
        before = given.position if given is not None else None
        events = store.page(
            stream_uid, lo=lo, hi=end_time, before=before, limit=count, newest_first=True
        )
        events = _fit_tail(events)
    if events:
        fwd = forward_after(events[-1].position)
        back = backward_before(events[0].position)
    elif given is not None and given.forward:
        fwd, back = given, backward_before(just_after(given.position))
    elif given is not None:
        fwd, back = forward_after(just_before(given.position)), given
    else:
        # Nothing in range yet: both tokens point at the range's start, so a reader polling
        # the forward token picks up events as they arrive.
        fwd, back = forward_after((lo, 0)), backward_before((lo, 1))
    return EventsPage(events, fwd.encode(), back.encode())


def fit_head(events: list[LogEvent]) -> list[LogEvent]:
    """The longest prefix within the 1 MB response cap (at least one event, so reading moves)."""
    total = 0
    for i, event in enumerate(events):
        total += event_size(event.message)
        if total > MAX_RESPONSE_BYTES and i > 0:
            return events[:i]
    return events


def _fit_tail(events: list[LogEvent]) -> list[LogEvent]:
    """The longest suffix within the 1 MB response cap (at least one event)."""
    return fit_head(events[::-1])[::-1]
