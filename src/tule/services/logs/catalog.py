"""The catalog: log groups and log streams as durable records in the MetadataStore.

Keys are ordered by their bytes, which gives DescribeLogGroups and DescribeLogStreams AWS's
ASCII order by name for free:

    group/<account>/<region>/<group name>
    stream/<account>/<region>/<group name>:<stream name>

A group name cannot contain ':' (its pattern is `[.\\-_/#A-Za-z0-9]+`), so the ':' after it ends
the group part unambiguously, and a stream-name prefix is a key prefix.
"""

from __future__ import annotations

from collections.abc import Iterator

from tule.metadata.base import Delete, MetadataStore, Put, Record
from tule.services.logs.models import LogGroup, LogStream

_PAGE = 500


def _group_prefix(account: str, region: str) -> str:
    return f"group/{account}/{region}/"


def _stream_prefix(account: str, region: str, group: str) -> str:
    return f"stream/{account}/{region}/{group}:"


def stream_key(stream: LogStream) -> str:
    """Where a stream's record lives; the event store keeps it to check a stream still exists."""
    return _stream_prefix(stream.account, stream.region, stream.group) + stream.name


def _group_record(g: LogGroup) -> Record:
    return {
        "name": g.name,
        "uid": g.uid,
        "creationTime": g.creation_time,
        "retentionInDays": g.retention_in_days,
        "kmsKeyId": g.kms_key_id,
        "logGroupClass": g.log_group_class,
        "tags": g.tags,
    }


def _group(account: str, region: str, r: Record) -> LogGroup:
    return LogGroup(
        account=account,
        region=region,
        name=r["name"],
        uid=r["uid"],
        creation_time=r["creationTime"],
        retention_in_days=r.get("retentionInDays"),
        kms_key_id=r.get("kmsKeyId"),
        log_group_class=r.get("logGroupClass") or "STANDARD",
        tags=dict(r.get("tags") or {}),
    )


def _stream_record(s: LogStream) -> Record:
    return {
        "group": s.group,
        "name": s.name,
        "uid": s.uid,
        "groupUid": s.group_uid,
        "creationTime": s.creation_time,
    }


def _stream(account: str, region: str, r: Record) -> LogStream:
    return LogStream(
        account=account,
        region=region,
        group=r["group"],
        name=r["name"],
        uid=r["uid"],
        group_uid=r["groupUid"],
        creation_time=r["creationTime"],
    )


class Catalog:
    """Reads and writes group and stream records; every write is one atomic store commit."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # Groups

    def get_group(self, account: str, region: str, name: str) -> LogGroup | None:
        record = self.store.get(_group_prefix(account, region) + name)
        return None if record is None else _group(account, region, record)

    def create_group(self, group: LogGroup) -> bool:
        """Store a new group; False if one of that name exists (compare-and-set, so two
        concurrent creates cannot both succeed)."""
        key = _group_prefix(group.account, group.region) + group.name
        return self.store.compare_and_set(key, None, _group_record(group))

    def replace_group(self, old: LogGroup, new: LogGroup) -> bool:
        """Swap `old` for `new`; False if the stored group is no longer `old`."""
        key = _group_prefix(old.account, old.region) + old.name
        return self.store.compare_and_set(key, _group_record(old), _group_record(new))

    def delete_group(self, group: LogGroup) -> None:
        """Remove the group and all its stream records in one commit."""
        ops: list[Put | Delete] = [Delete(_group_prefix(group.account, group.region) + group.name)]
        ops += [Delete(stream_key(s)) for s in self._all_stream_records(group)]
        self.store.batch(ops)

    def iter_groups(
        self, account: str, region: str, name_prefix: str = "", after: str | None = None
    ) -> Iterator[LogGroup]:
        """Groups in name order whose names start with `name_prefix`, after the name `after`."""
        base = _group_prefix(account, region)
        for record in self._iter(base + name_prefix, None if after is None else base + after):
            yield _group(account, region, record)

    # Streams

    def get_stream(self, group: LogGroup, name: str) -> LogStream | None:
        record = self.store.get(_stream_prefix(group.account, group.region, group.name) + name)
        if record is None or record["groupUid"] != group.uid:
            return None
        return _stream(group.account, group.region, record)

    def stream_exists(self, key: str, uid: str) -> bool:
        """Whether the record at `key` is still the stream `uid` (used by the event store's
        start-up sweep of interrupted deletions)."""
        record = self.store.get(key)
        return record is not None and record.get("uid") == uid

    def create_stream(self, stream: LogStream) -> bool:
        """Store a new stream; False if one of that name exists in the group."""
        key = stream_key(stream)
        if self.store.compare_and_set(key, None, _stream_record(stream)):
            return True
        # A record left by a group of the same name that was deleted while this stream was
        # being created (its group uid differs) is dead; replace it rather than refuse.
        old = self.store.get(key)
        if old is not None and old["groupUid"] != stream.group_uid:
            return self.store.compare_and_set(key, old, _stream_record(stream))
        return False

    def delete_stream(self, stream: LogStream) -> bool:
        return self.store.compare_and_set(stream_key(stream), _stream_record(stream), None)

    def iter_streams(
        self, group: LogGroup, name_prefix: str = "", after: str | None = None
    ) -> Iterator[LogStream]:
        """The group's streams in name order, optionally by name prefix, after the name `after`."""
        base = _stream_prefix(group.account, group.region, group.name)
        for record in self._iter(base + name_prefix, None if after is None else base + after):
            # Skip records orphaned by a DeleteLogGroup that raced a CreateLogStream.
            if record["groupUid"] == group.uid:
                yield _stream(group.account, group.region, record)

    def _all_stream_records(self, group: LogGroup) -> list[LogStream]:
        base = _stream_prefix(group.account, group.region, group.name)
        return [_stream(group.account, group.region, r) for r in self._iter(base, None)]

    def _iter(self, prefix: str, start_after: str | None) -> Iterator[Record]:
        while True:
            page = self.store.list(prefix, start_after=start_after, limit=_PAGE)
            for _, record in page.items:
                yield record
            if page.next_after is None:
                return
            start_after = page.next_after
