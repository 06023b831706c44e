"""CloudWatch Logs: durable log groups, log streams and log events.

State is scoped by (account, region). In the service's folder (`<data dir>/logs/`), groups and
streams are records in a MetadataStore (`logs.db`) and events rows in an SQLite file of their own
(`events.db`, see `eventstore`). Both survive restarts, and every acknowledged write is on disk
when fsync is on.

The domain API for other tule services (in process, never over HTTP). Timestamps are
milliseconds since the epoch; errors are `AwsError`s with AWS's codes.

    logs: Logs = ...                                   # the "logs" domain object
    logs.ensure_stream(account, region, "/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000")
    logs.append(account, region, "/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000",
                [(1700000000123, "epoch 1: loss=0.31"), (1700000000456, "epoch 2: loss=0.22")])

- `ensure_group(account, region, group)` creates the log group unless it exists; returns it.
- `ensure_stream(account, region, group, stream)` creates the group and the stream unless they
  exist (as the CloudWatch agent and Lambda do); returns the stream.
- `append(account, region, group, stream, events)` stores `(timestamp_ms, message)` pairs in one
  durable commit and returns how many it stored. It sorts them by timestamp (stably) and skips
  empty messages; PutLogEvents' batch limits and age rejections do not apply to in-process
  writers, who are trusted to send what they produced. The stream must exist
  (ResourceNotFoundException otherwise).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, replace

from tule.errors import AwsError
from tule.metadata import open_store
from tule.services.base import ServiceEnv
from tule.services.logs.catalog import Catalog, stream_key
from tule.services.logs.errors import (
    group_exists,
    group_not_found,
    invalid_parameter,
    stream_exists,
    stream_not_found,
)
from tule.services.logs.eventstore import EventStore
from tule.services.logs.filter_pattern import compile_pattern
from tule.services.logs.ingest import check_batch
from tule.services.logs.listing import GroupPage, StreamPage, list_groups, list_streams
from tule.services.logs.models import (
    RETENTION_DAYS,
    LogEvent,
    LogGroup,
    LogStream,
    RejectedInfo,
    StreamStats,
    group_name_from_identifier,
)
from tule.services.logs.reading import EventsPage, read_stream
from tule.services.logs.search import search

__all__ = ["LogEvent", "LogGroup", "LogStream", "Logs", "StreamStats"]


@dataclass(frozen=True)
class PutResult:
    """What PutLogEvents answers."""

    next_sequence_token: str | None
    rejected: RejectedInfo


@dataclass(frozen=True)
class FilterResult:
    """What FilterLogEvents answers: events paired with their stream names."""

    events: list[tuple[str, LogEvent]]
    searched_streams: list[str]
    next_token: str | None


def _uid() -> str:
    return uuid.uuid4().hex


class Logs:
    """The CloudWatch Logs domain."""

    def __init__(self, env: ServiceEnv) -> None:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        self.clock = env.clock
        self.store = open_store(str(env.data_dir / "logs.db"), fsync=env.fsync)
        self.catalog = Catalog(self.store)
        self.events = EventStore(env.data_dir / "events.db", fsync=env.fsync)
        # Serializes what checks a stream and then writes its events against what deletes
        # streams, so no event can land in a stream being deleted.
        self._lock = threading.RLock()
        self.events.sweep(self.catalog.stream_exists)

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def close(self) -> None:
        self.events.close()
        self.store.close()

    # Log groups

    def require_group(self, account: str, region: str, name: str) -> LogGroup:
        group = self.catalog.get_group(account, region, name)
        if group is None:
            raise group_not_found()
        return group

    def create_log_group(
        self,
        account: str,
        region: str,
        name: str,
        *,
        kms_key_id: str | None = None,
        tags: dict[str, str] | None = None,
        log_group_class: str | None = None,
    ) -> LogGroup:
        group = LogGroup(
            account=account,
            region=region,
            name=name,
            uid=_uid(),
            creation_time=self.now_ms(),
            kms_key_id=kms_key_id,
            log_group_class=log_group_class or "STANDARD",
            tags=dict(tags or {}),
        )
        if not self.catalog.create_group(group):
            raise group_exists()
        return group

    def delete_log_group(self, account: str, region: str, name: str) -> None:
        with self._lock:
            group = self.require_group(account, region, name)
            # Doom first: a crash between the two stores is finished by the start-up sweep.
            doomed = self.events.doom_group(group.uid)
            try:
                self.catalog.delete_group(group)
            except BaseException:
                if doomed:
                    self.events.doom_group(group.uid, doomed=False)
                raise
            if doomed:
                self.events.purge_doomed()

    def describe_log_groups(
        self,
        account: str,
        region: str,
        *,
        prefix: str | None = None,
        pattern: str | None = None,
        identifiers: list[str] | None = None,
        log_group_class: str | None = None,
        limit: int | None = None,
        token: str | None = None,
    ) -> GroupPage:
        names = None
        if identifiers is not None:
            names = {group_name_from_identifier(i) for i in identifiers}
        return list_groups(
            self.catalog,
            self.events,
            account,
            region,
            prefix=prefix,
            pattern=pattern,
            names=names,
            log_group_class=log_group_class,
            limit=limit,
            token=token,
        )

    def put_retention_policy(self, account: str, region: str, name: str, days: int) -> None:
        if days not in RETENTION_DAYS:
            raise invalid_parameter(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(map(str, RETENTION_DAYS))}]"
            )
        group = self._set_retention(account, region, name, days)
        floor = group.retention_floor(self.now_ms())
        if floor is not None:
            self.events.expire(group.uid, floor)

    def delete_retention_policy(self, account: str, region: str, name: str) -> None:
        self._set_retention(account, region, name, None)

    def _set_retention(self, account: str, region: str, name: str, days: int | None) -> LogGroup:
        while True:  # compare-and-set, retried if the group changed under us
            group = self.require_group(account, region, name)
            new = replace(group, retention_in_days=days)
            if self.catalog.replace_group(group, new):
                return new

    # Log streams

    def require_stream(self, group: LogGroup, name: str) -> LogStream:
        stream = self.catalog.get_stream(group, name)
        if stream is None:
            raise stream_not_found()
        return stream

    def create_log_stream(self, account: str, region: str, group_name: str, name: str) -> LogStream:
        group = self.require_group(account, region, group_name)
        stream = LogStream(
            account=account,
            region=region,
            group=group.name,
            name=name,
            uid=_uid(),
            group_uid=group.uid,
            creation_time=self.now_ms(),
        )
        if not self.catalog.create_stream(stream):
            raise stream_exists()
        return stream

    def delete_log_stream(self, account: str, region: str, group_name: str, name: str) -> None:
        with self._lock:
            stream = self.require_stream(self.require_group(account, region, group_name), name)
            doomed = self.events.doom_stream(stream.uid)
            try:
                deleted = self.catalog.delete_stream(stream)
            except BaseException:
                if doomed:
                    self.events.doom_stream(stream.uid, doomed=False)
                raise
            # Not deleted means the record changed under us, which only a deletion or a
            # replacement does: this uid is dead either way, so its events go.
            if doomed:
                self.events.purge_doomed()
            if not deleted:
                raise stream_not_found()

    def describe_log_streams(
        self,
        account: str,
        region: str,
        group_name: str,
        *,
        prefix: str | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        token: str | None = None,
    ) -> StreamPage:
        group = self.require_group(account, region, group_name)
        return list_streams(
            self.catalog,
            self.events,
            group,
            prefix=prefix,
            order_by=order_by,
            descending=descending,
            limit=limit,
            token=token,
        )

    # Log events

    def put_log_events(
        self,
        account: str,
        region: str,
        group_name: str,
        stream_name: str,
        events: list[tuple[int, str]],
    ) -> PutResult:
        with self._lock:
            group = self.require_group(account, region, group_name)
            stream = self.require_stream(group, stream_name)
            now = self.now_ms()
            batch = check_batch(events, now, group.retention_floor(now))
            if batch.accepted:
                stats = self.events.append(stream, stream_key(stream), batch.accepted, now)
            else:
                stats = self.events.stats([stream.uid]).get(stream.uid, StreamStats())
        return PutResult(stats.upload_sequence_token, batch.rejected)

    def get_log_events(
        self,
        account: str,
        region: str,
        group_name: str,
        stream_name: str,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        start_from_head: bool = False,
        limit: int | None = None,
        token: str | None = None,
    ) -> EventsPage:
        group = self.require_group(account, region, group_name)
        stream = self.require_stream(group, stream_name)
        return read_stream(
            self.events,
            stream.uid,
            start_time=start_time,
            end_time=end_time,
            start_from_head=start_from_head,
            limit=limit,
            token=token,
            retention_floor=group.retention_floor(self.now_ms()),
        )

    def filter_log_events(
        self,
        account: str,
        region: str,
        group_name: str,
        *,
        stream_names: list[str] | None = None,
        stream_prefix: str | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        pattern: str | None = None,
        limit: int | None = None,
        token: str | None = None,
    ) -> FilterResult:
        if stream_names and stream_prefix:
            raise invalid_parameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive. "
                "Only one of these parameters can be passed."
            )
        group = self.require_group(account, region, group_name)
        matches = compile_pattern(pattern)
        if stream_names:
            # Names that are not streams of the group are skipped, not an error.
            found = (self.catalog.get_stream(group, n) for n in dict.fromkeys(stream_names))
            streams = [s for s in found if s is not None]
        else:
            streams = list(self.catalog.iter_streams(group, stream_prefix or ""))
        page = search(
            self.events,
            [s.uid for s in streams],
            matches,
            start_time=start_time,
            end_time=end_time,
            limit=limit,
            token=token,
            retention_floor=group.retention_floor(self.now_ms()),
        )
        names = {s.uid: s.name for s in streams}
        return FilterResult(
            events=[(names[e.stream_uid], e) for e in page.events],
            searched_streams=[s.name for s in streams],
            next_token=page.next_token,
        )

    # The in-process API for other services

    def ensure_group(self, account: str, region: str, group: str) -> LogGroup:
        found = self.catalog.get_group(account, region, group)
        if found is not None:
            return found
        try:
            return self.create_log_group(account, region, group)
        except AwsError:
            # Created by someone else in between: theirs is as good as ours.
            found = self.catalog.get_group(account, region, group)
            if found is None:
                raise
            return found

    def ensure_stream(self, account: str, region: str, group: str, stream: str) -> LogStream:
        log_group = self.ensure_group(account, region, group)
        found = self.catalog.get_stream(log_group, stream)
        if found is not None:
            return found
        try:
            return self.create_log_stream(account, region, group, stream)
        except AwsError:
            found = self.catalog.get_stream(log_group, stream)
            if found is None:
                raise
            return found

    def append(
        self, account: str, region: str, group: str, stream: str, events: list[tuple[int, str]]
    ) -> int:
        ordered = sorted(((int(ts), msg) for ts, msg in events if msg), key=lambda e: e[0])
        with self._lock:
            log_stream = self.require_stream(self.require_group(account, region, group), stream)
            if ordered:
                self.events.append(log_stream, stream_key(log_stream), ordered, self.now_ms())
        return len(ordered)
