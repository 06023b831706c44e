"""DescribeLogGroups and DescribeLogStreams: filtering, ordering and paging the catalog.

AWS's documented behaviour, which this follows:
- groups come in ASCII order of name; `logGroupNamePrefix` and `logGroupNamePattern` (a
  case-sensitive substring) are mutually exclusive, and with a pattern only `arn`,
  `creationTime` and `logGroupName` are reported; `logGroupIdentifiers` picks groups by name
  or ARN;
- streams come in name order, or with `orderBy=LastEventTime` by the time of their last event
  (streams without events first), reversed by `descending`; ordering by LastEventTime cannot be
  combined with `logStreamNamePrefix`;
- both return at most `limit` items (default and maximum 50) and a `nextToken` while more remain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from tule.services.logs.catalog import Catalog
from tule.services.logs.errors import invalid_parameter, invalid_token
from tule.services.logs.eventstore import EventStore
from tule.services.logs.models import LogGroup, LogStream, StreamStats
from tule.services.logs.tokens import PageKind, decode_page_token, encode_page_token

DEFAULT_LIMIT = 50

T = TypeVar("T")


@dataclass(frozen=True)
class GroupPage:
    groups: list[LogGroup]
    next_token: str | None
    names_only: bool  # a logGroupNamePattern query reports only arn, creationTime and name
    stored_bytes: dict[str, int]  # by group uid


@dataclass(frozen=True)
class StreamPage:
    streams: list[tuple[LogStream, StreamStats]]
    next_token: str | None


def _take(items: Iterable[T], limit: int) -> tuple[list[T], bool]:
    """Up to `limit` items, and whether there were more."""
    got = list(islice(items, limit + 1))
    return got[:limit], len(got) > limit


def _token_field(token: str | None, kind: PageKind, name: str, expected: type) -> Any:
    if token is None:
        return None
    value = decode_page_token(kind, token).get(name)
    if not isinstance(value, expected):
        raise invalid_token()
    return value


def list_groups(
    catalog: Catalog,
    events: EventStore,
    account: str,
    region: str,
    *,
    prefix: str | None,
    pattern: str | None,
    names: set[str] | None,
    log_group_class: str | None,
    limit: int | None,
    token: str | None,
) -> GroupPage:
    if prefix is not None and pattern is not None:
        raise invalid_parameter(
            "logGroupNamePrefix and logGroupNamePattern are mutually exclusive. "
            "Only one of these parameters can be passed."
        )
    after = _token_field(token, "groups", "n", str)
    groups: Iterator[LogGroup] = catalog.iter_groups(account, region, prefix or "", after)
    if pattern:
        groups = (g for g in groups if pattern in g.name)
    if names is not None:
        groups = (g for g in groups if g.name in names)
    if log_group_class is not None:
        groups = (g for g in groups if g.log_group_class == log_group_class)
    page, more = _take(groups, limit or DEFAULT_LIMIT)
    next_token = encode_page_token("groups", {"n": page[-1].name}) if more else None
    names_only = pattern is not None
    stored = {} if names_only else {g.uid: events.group_bytes(g.uid) for g in page}
    return GroupPage(page, next_token, names_only, stored)


def list_streams(
    catalog: Catalog,
    events: EventStore,
    group: LogGroup,
    *,
    prefix: str | None,
    order_by: str | None,
    descending: bool,
    limit: int | None,
    token: str | None,
) -> StreamPage:
    by_time = order_by == "LastEventTime"
    if by_time and prefix:
        raise invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
    count = limit or DEFAULT_LIMIT
    if not by_time and not descending:
        # The catalog already holds streams in name order: page through it directly.
        after = _token_field(token, "streams", "n", str)
        page, more = _take(catalog.iter_streams(group, prefix or "", after), count)
        stats = events.stats([s.uid for s in page])
    else:
        stats = events.group_stats(group.uid)
        key = _sort_key(stats, by_time)
        ordered = sorted(catalog.iter_streams(group, prefix or ""), key=key, reverse=descending)
        if token is not None:
            resume = _resume_key(token, by_time)
            past: Callable[[Any], bool] = (
                (lambda k: k < resume) if descending else (lambda k: k > resume)
            )
            ordered = [s for s in ordered if past(key(s))]
        page, more = _take(ordered, count)
    rows = [(s, stats.get(s.uid, StreamStats())) for s in page]
    next_token = None
    if more:
        last, last_stats = rows[-1]
        state: dict[str, Any] = {"n": last.name}
        if by_time:
            state["t"] = last_stats.last_event_timestamp or 0
        next_token = encode_page_token("streams", state)
    return StreamPage(rows, next_token)


def _sort_key(stats: dict[str, StreamStats], by_time: bool) -> Callable[[LogStream], Any]:
    if not by_time:
        return lambda s: (s.name,)

    def key(s: LogStream) -> tuple[int, str]:
        found = stats.get(s.uid)
        last = found.last_event_timestamp if found is not None else None
        return (last or 0, s.name)

    return key


def _resume_key(token: str, by_time: bool) -> tuple[Any, ...]:
    name = _token_field(token, "streams", "n", str)
    if not by_time:
        return (name,)
    return (_token_field(token, "streams", "t", int), name)
