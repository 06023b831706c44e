"""FilterLogEvents: searching many streams of a group, events merged in time order.

AWS's documented behaviour, which this follows:
- results are ordered by timestamp across the streams searched (`interleaved` is deprecated
  and always on); ties are broken by ingestion order;
- `startTime` and `endTime` are both inclusive ("events with a timestamp later than this time
  are not returned"), unlike GetLogEvents' exclusive `endTime`;
- a page holds at most `limit` events (default 10,000) and at most 1 MB; `nextToken` is present
  only while more matching events remain.
"""

from __future__ import annotations

from dataclasses import dataclass

from tule.services.logs.errors import invalid_token
from tule.services.logs.eventstore import EventStore
from tule.services.logs.filter_pattern import Matcher
from tule.services.logs.ingest import event_size
from tule.services.logs.models import LogEvent
from tule.services.logs.reading import DEFAULT_LIMIT, MAX_RESPONSE_BYTES
from tule.services.logs.tokens import decode_page_token, encode_page_token


@dataclass(frozen=True)
class SearchPage:
    """One FilterLogEvents answer: matching events (with their stream uids), and the token."""

    events: list[LogEvent]
    next_token: str | None


def search(
    store: EventStore,
    stream_uids: list[str],
    matches: Matcher,
    *,
    start_time: int | None,
    end_time: int | None,
    limit: int | None,
    token: str | None,
    retention_floor: int | None,
) -> SearchPage:
    after = _resume_point(token) if token else None
    lo = max(start_time or 0, retention_floor or 0)
    hi = None if end_time is None else end_time + 1
    count = limit or DEFAULT_LIMIT
    found: list[LogEvent] = []
    size = 0
    more = False
    for event in store.scan(stream_uids, lo=lo, hi=hi, after=after):
        if not matches(event.message):
            continue
        grown = size + event_size(event.message)
        if len(found) >= count or (found and grown > MAX_RESPONSE_BYTES):
            more = True
            break
        found.append(event)
        size = grown
    next_token = None
    if more:
        ts, seq = found[-1].position
        next_token = encode_page_token("filter", {"t": ts, "s": seq})
    return SearchPage(found, next_token)


def _resume_point(token: str) -> tuple[int, int]:
    state = decode_page_token("filter", token)
    ts, seq = state.get("t"), state.get("s")
    if not isinstance(ts, int) or not isinstance(seq, int):
        raise invalid_token()
    return (ts, seq)
