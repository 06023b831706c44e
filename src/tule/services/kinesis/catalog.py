"""The catalog: stream records in the MetadataStore, and the live state built from them.

Keys are `stream/<account>/<region>/<name>`, so a listing by prefix comes back in name order,
as ListStreams answers. Every stream is loaded at start and kept in memory (`Live`): the write
path routes records without touching SQLite, and every change to a stream is written through
before it is answered. Each shard's records are in a `ShardLog` under
`<data dir>/streams/<stream uid>/<shard id>/`; logs whose stream is gone (a crash between the
catalog delete and the folder removal) are removed at start.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tule.metadata.base import MetadataStore
from tule.services.kinesis.errors import invalid_argument, shard_not_found, stream_not_found
from tule.services.kinesis.hashkeys import Router
from tule.services.kinesis.models import Shard, Stream
from tule.storage.shard_log import ShardLog


def stream_key(account: str, region: str, name: str) -> str:
    return f"stream/{account}/{region}/{name}"


def scope_prefix(account: str, region: str) -> str:
    return f"stream/{account}/{region}/"


@dataclass(eq=False)
class Live:
    """A stream and what serves it: its shard logs and the router of its open shards.

    `lock` orders writes against resharding: a record is routed and written to its shard's log
    under it, so no record can land in a shard after the shard was closed."""

    stream: Stream
    router: Router
    logs: dict[str, ShardLog] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    deleted: bool = False

    def reroute(self) -> None:
        self.router = Router.of(self.stream.shards)

    def shard(self, shard_id: str) -> Shard:
        """The stream's shard `shard_id`; ResourceNotFoundException if it has none."""
        shard = self.stream.shard(shard_id)
        if shard is None:
            raise shard_not_found(shard_id, self.stream.name, self.stream.account)
        return shard


class Catalog:
    """Streams of every account and region: durable records plus their live state."""

    def __init__(self, store: MetadataStore, logs_dir: Path, *, fsync: bool) -> None:
        self.store = store
        self.logs_dir = logs_dir
        self.fsync = fsync
        self._live: dict[tuple[str, str, str], Live] = {}
        logs_dir.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> None:
        after: str | None = None
        while True:
            page = self.store.list("stream/", start_after=after, limit=500)
            for key, record in page.items:
                _, account, region, _ = key.split("/", 3)
                stream = Stream.from_record(account, region, record)
                live = Live(stream, Router.of(stream.shards))
                for shard in stream.shards:
                    live.logs[shard.shard_id] = self._open_log(stream, shard)
                self._live[(account, region, stream.name)] = live
            if page.next_after is None:
                break
            after = page.next_after
        known = {live.stream.uid for live in self._live.values()}
        for folder in self.logs_dir.iterdir():
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)

    def _open_log(self, stream: Stream, shard: Shard) -> ShardLog:
        return ShardLog(self.logs_dir / stream.uid / shard.shard_id, fsync=self.fsync)

    def get(self, account: str, region: str, name: str) -> Live | None:
        return self._live.get((account, region, name))

    def find(self, account: str, region: str, name_or_arn: str) -> Live:
        """The stream a request names by StreamName or StreamARN; ResourceNotFoundException if
        there is none (an ARN of another account or region names none here)."""
        name = name_or_arn
        if name_or_arn.startswith("arn:"):
            parts = name_or_arn.split(":", 5)
            resource = parts[5] if len(parts) == 6 else ""
            if len(parts) != 6 or not resource.startswith("stream/"):
                raise invalid_argument(f"Invalid StreamARN {name_or_arn}.")
            name = resource[len("stream/") :].split("/", 1)[0]
            if parts[3] != region or parts[4] != account:
                raise stream_not_found(name, parts[4])
        live = self._live.get((account, region, name))
        if live is None:
            raise stream_not_found(name, account)
        return live

    def scope(self, account: str, region: str) -> Iterator[Live]:
        """The streams of one account and region, in name order."""
        found = [v for (a, r, _), v in self._live.items() if a == account and r == region]
        return iter(sorted(found, key=lambda live: live.stream.name))

    def everything(self) -> list[Live]:
        return list(self._live.values())

    def add(self, stream: Stream) -> Live:
        live = Live(stream, Router.of(stream.shards))
        for shard in stream.shards:
            live.logs[shard.shard_id] = self._open_log(stream, shard)
        self.save(stream)
        self._live[(stream.account, stream.region, stream.name)] = live
        return live

    def add_shards(self, live: Live, shards: list[Shard]) -> None:
        for shard in shards:
            live.logs[shard.shard_id] = self._open_log(live.stream, shard)

    def save(self, stream: Stream) -> None:
        self.store.put(stream_key(stream.account, stream.region, stream.name), stream.to_record())

    def remove(self, live: Live) -> None:
        s = live.stream
        # Record first: a crash before the folder is gone leaves only orphans, swept at start.
        self.store.delete(stream_key(s.account, s.region, s.name))
        self._live.pop((s.account, s.region, s.name), None)
        live.deleted = True
        for log in live.logs.values():
            log.close()
        shutil.rmtree(self.logs_dir / s.uid, ignore_errors=True)

    def close(self) -> None:
        for live in self._live.values():
            for log in live.logs.values():
                log.close()
