"""Kinesis Data Streams: durable streams of shards, read back in order per partition key.

State is scoped by (account, region). Stream records (shards, lineage, tags, consumers) are in a
MetadataStore (`<data dir>/kinesis/kinesis.db`); each shard's records are in a durable,
group-committed shard log (`tule.storage.shard_log`) under `<data dir>/kinesis/streams/`. A
PutRecord or PutRecords answer means the records are on disk when fsync is on. Streams are
ACTIVE as soon as CreateStream returns (AWS takes tens of seconds; boto3's `stream_exists`
waiter, which polls every 10 s, then finishes at its first poll) and resharding is immediate,
so UPDATING is never observed. Throughput limits (spec §6.3) apply to API callers unless
`Settings.kinesis_throughput_limits` is off; time comes from the injected clock.

The domain API for other tule services (in process, never over HTTP; no throughput limits):

    kinesis: Kinesis = env.peer("kinesis")
    arn = kinesis.stream_arn(account, region, "clicks")          # or pass an ARN
    for shard in kinesis.shards(account, region, arn):
        records = kinesis.read_shard(account, region, arn, shard.shard_id,
                                     after_sequence_number=None, limit=10000)

- `stream_arn(account, region, stream_name_or_arn) -> str`
- `shards(account, region, stream_name_or_arn) -> list[ShardView]`: every shard still within
  retention, open and closed, in shard-id order, with its lineage.
- `read_shard(account, region, stream_name_or_arn, shard_id, *, after_sequence_number:
  str | None, limit: int = 10000) -> list[StreamRecord]`: records after that sequence number
  (None: from the trim horizon), oldest first, at most `limit`.
- `subscribe_to_shard(account, region, consumer_arn, shard_id, kind, *, sequence_number=None,
  timestamp=None, dry_run=False) -> Subscription`: enhanced fan-out (SubscribeToShard);
  `async for event in subscription.events()` gives `ShardEvent`s as records arrive, for up to
  5 minutes of the clock, at the consumer's 2 MiB/s when limits are on (see `subscription`).

Each raises `AwsError` ResourceNotFoundException for an unknown stream or shard. KPL-aggregated
records come back as stored; `tule.services.kinesis.aggregation.deaggregate` unpacks them.

The rules live in modules named for their concepts: `catalog` (stream records and live state),
`streams` (lifecycle limits), `resharding`, `records` (the data plane), `iterators`,
`consumers`, `subscription`/`subscriptions` (enhanced fan-out), `throughput`, `flushing`.
The `Kinesis` methods below take a request's values, hold the locks and make those calls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from tule.metadata import open_store
from tule.services.base import ServiceEnv
from tule.services.kinesis import consumers, iterators, records, resharding, streams
from tule.services.kinesis.aggregation import UserRecord, deaggregate, is_aggregated
from tule.services.kinesis.catalog import Catalog, Live
from tule.services.kinesis.errors import dry_run_refusal, in_use, invalid_argument, stream_exists
from tule.services.kinesis.flushing import ParallelCommit
from tule.services.kinesis.models import Consumer, Shard, Stream
from tule.services.kinesis.subscription import Subscription
from tule.services.kinesis.subscriptions import Subscriptions
from tule.services.kinesis.throughput import Throughput
from tule.storage.shard_log import ShardLog

__all__ = [
    "Kinesis",
    "ShardView",
    "StreamRecord",
    "UserRecord",
    "deaggregate",
    "is_aggregated",
]


@dataclass(frozen=True)
class ShardView:
    """A shard as other services see it."""

    shard_id: str
    parent_shard_id: str | None
    adjacent_parent_shard_id: str | None
    closed: bool


@dataclass(frozen=True)
class StreamRecord:
    """A record as other services read it."""

    sequence_number: str
    data: bytes
    partition_key: str
    approximate_arrival_timestamp: float  # epoch seconds


class Kinesis:
    """The Kinesis Data Streams domain."""

    def __init__(self, env: ServiceEnv) -> None:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        self.clock = env.clock
        self.store = open_store(str(env.data_dir / "kinesis.db"), fsync=env.fsync)
        self.catalog = Catalog(self.store, env.data_dir / "streams", fsync=env.fsync)
        self.meter = Throughput() if env.settings.kinesis_throughput_limits else None
        self._flush = ParallelCommit()
        # Serializes changes to stream records (create, delete, reshard, tags, ...).
        self._lock = threading.RLock()
        self.subscriptions = Subscriptions(self.clock)  # SubscribeToShard's

    def close(self) -> None:
        self.subscriptions.close()
        self._flush.close()
        with self._lock:
            self.catalog.close()
            self.store.close()

    def now(self) -> float:
        return self.clock.time()

    # Finding streams and shards

    def live(self, account: str, region: str, name_or_arn: str) -> Live:
        return self.catalog.find(account, region, name_or_arn)

    def stream(self, account: str, region: str, name_or_arn: str) -> Stream:
        return self.catalog.find(account, region, name_or_arn).stream

    def shard(self, live: Live, shard_id: str) -> Shard:
        return live.shard(shard_id)

    def visible_shards(self, stream: Stream) -> list[Shard]:
        """Open shards and the closed ones whose records may still be within retention."""
        return streams.visible_shards(stream, self.now())

    # Streams

    def create_stream(
        self,
        account: str,
        region: str,
        name: str,
        *,
        shard_count: int | None,
        mode: str | None,
        tags: dict[str, str] | None = None,
        max_record_kib: int | None = None,
    ) -> Stream:
        with self._lock:
            if self.catalog.get(account, region, name) is not None:
                raise stream_exists(name, account)
            stream = streams.new_stream(
                self.catalog.scope(account, region),
                account,
                region,
                name,
                self.now(),
                shard_count=shard_count,
                mode=mode,
                tags=tags,
                max_record_kib=max_record_kib,
            )
            self.catalog.add(stream)
            return stream

    def delete_stream(
        self, account: str, region: str, name_or_arn: str, *, enforce_consumer_deletion: bool
    ) -> None:
        with self._lock:
            live = self.live(account, region, name_or_arn)
            if live.stream.consumers and not enforce_consumer_deletion:
                raise in_use(
                    f"Stream {live.stream.name} under account {account} has registered "
                    "consumers. Set EnforceConsumerDeletion to delete it with them."
                )
            with live.lock:
                self.catalog.remove(live)
            if self.meter is not None:
                self.meter.forget(live.stream.uid)
        self.subscriptions.notify(live.logs.values())  # they end with the stream

    def list_streams(self, account: str, region: str) -> list[Stream]:
        return [live.stream for live in self.catalog.scope(account, region)]

    def _change(self, live: Live) -> None:
        """Persist a changed stream record (caller holds `_lock`)."""
        self.catalog.save(live.stream)

    def set_retention(
        self, account: str, region: str, name_or_arn: str, hours: int, *, increase: bool
    ) -> None:
        with self._lock:
            live = self.live(account, region, name_or_arn)
            streams.check_retention(live.stream, hours, increase=increase)
            live.stream.retention_hours = hours
            self._change(live)
            now = self.now()
            for log in live.logs.values():
                records.horizon(live, log, now)  # trims what fell out of retention

    def update_stream_mode(self, account: str, region: str, arn: str, mode: str) -> None:
        with self._lock:
            live = self.live(account, region, arn)
            if live.stream.mode == mode:
                raise invalid_argument(f"Stream {live.stream.name} is already in {mode} mode.")
            live.stream.mode = mode
            self._change(live)

    # Resharding

    def reshard(
        self, account: str, region: str, name_or_arn: str, how: str, *args: object
    ) -> tuple[int, int]:
        """Split, merge or uniformly scale; the open shard counts before and after."""
        with self._lock:
            live = self.live(account, region, name_or_arn)
            stream = live.stream
            with live.lock:
                before = len(stream.open_shards)
                snapshot = stream.to_record()
                now = self.now()
                try:
                    if how == "split":
                        new = resharding.split(stream, *args, now)  # type: ignore[arg-type]
                    elif how == "merge":
                        new = resharding.merge(stream, *args, now)  # type: ignore[arg-type]
                    else:
                        new = resharding.uniform(stream, *args, now)  # type: ignore[arg-type]
                    self.catalog.add_shards(live, new)
                    self._change(live)
                except BaseException:
                    # Nothing half-done survives a refused or failed reshard.
                    live.stream = Stream.from_record(stream.account, stream.region, snapshot)
                    raise
                live.reroute()
                return before, len(stream.open_shards)

    # Tags

    def tag(self, account: str, region: str, name_or_arn: str, tags: dict[str, str]) -> None:
        with self._lock:
            live = self.live(account, region, name_or_arn)
            live.stream.tags = streams.merged_tags(live.stream, tags)
            self._change(live)

    def untag(self, account: str, region: str, name_or_arn: str, keys: list[str]) -> None:
        with self._lock:
            live = self.live(account, region, name_or_arn)
            live.stream.tags = {k: v for k, v in live.stream.tags.items() if k not in keys}
            self._change(live)

    # Records

    async def put(
        self,
        account: str,
        region: str,
        name_or_arn: str,
        entries: records.Entries,
        *,
        whole: bool,
        dry_run: bool = False,
    ) -> list[records.Put]:
        """PutRecord (`whole`: one entry, a throttle fails the call) or PutRecords, for a
        caller on an event loop: the records are written at once, and the wait for them to be
        durable (visible) holds no thread; then the subscriptions reading them wake."""
        results, pending = self._write(account, region, name_or_arn, entries, whole, dry_run)
        await self._flush.durable(pending)
        self.subscriptions.notify(log for log, _ in pending)
        return results

    def _write(
        self,
        account: str,
        region: str,
        name_or_arn: str,
        entries: records.Entries,
        whole: bool,
        dry_run: bool,
    ) -> tuple[list[records.Put], list[tuple[ShardLog, int]]]:
        live = self.live(account, region, name_or_arn)
        return records.write(
            live,
            entries,
            self.now(),
            self.meter,
            whole=whole,
            record_limit=live.stream.max_record_kib * 1024,
            dry_run=dry_run,
        )

    def check_iterator(self, account: str, region: str, token: str) -> None:
        """Whether GetRecords would accept the iterator (for DryRun); raises if not."""
        iterators.resolve(self.catalog, account, region, token, self.now())

    def shard_iterator(
        self,
        account: str,
        region: str,
        name_or_arn: str,
        shard_id: str,
        kind: str,
        *,
        sequence_number: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        live = self.live(account, region, name_or_arn)
        shard = live.shard(shard_id)
        now = self.now()
        position = records.iterator_position(
            live, shard, kind, now, sequence_number=sequence_number, timestamp=timestamp
        )
        return iterators.issue(live, shard, position, now)

    def get_records(
        self, account: str, region: str, token: str, limit: int, stream_arn: str | None
    ) -> tuple[records.Batch, str | None]:
        """A GetRecords call: the batch and the next iterator (None at a closed shard's end)."""
        now = self.now()
        it, live, shard = iterators.resolve(self.catalog, account, region, token, now)
        if stream_arn is not None and stream_arn != live.stream.arn:
            raise invalid_argument(
                f"StreamARN {stream_arn} does not match the stream of the ShardIterator."
            )
        records.check_read(self.meter, live, shard, now)
        batch = records.get(live, shard, it.position, limit, now)
        records.charge_read(self.meter, live, shard, batch)
        if batch.next_position is None:
            return batch, None
        return batch, iterators.issue(live, shard, batch.next_position, now)

    # Consumers

    def register_consumer(self, account: str, region: str, arn: str, name: str) -> Consumer:
        with self._lock:
            live = self.live(account, region, arn)
            consumer = consumers.register(live.stream, name, self.now())
            self._change(live)
            return consumer

    def find_consumer(
        self, account: str, region: str, stream_arn: str | None, name: str | None, arn: str | None
    ) -> tuple[Stream, Consumer]:
        stream = self.stream(account, region, consumers.stream_arn_for(stream_arn, name, arn))
        return stream, consumers.find(stream, name, arn)

    def subscribe_to_shard(
        self,
        account: str,
        region: str,
        consumer_arn: str,
        shard_id: str,
        kind: str,
        *,
        sequence_number: str | None = None,
        timestamp: datetime | None = None,
        dry_run: bool = False,
    ) -> Subscription:
        """A running subscription of the consumer to the shard from the `kind` position (the
        iterator types); iterate its `events()`. See `subscription`."""
        stream, consumer = self.find_consumer(account, region, None, None, consumer_arn)
        consumers.check_active(consumer)
        live = self.live(account, region, stream.arn)
        shard = live.shard(shard_id)
        position = records.iterator_position(
            live, shard, kind, self.now(), sequence_number=sequence_number, timestamp=timestamp
        )
        if dry_run:
            self.subscriptions.admit(consumer_arn, shard_id)
            raise dry_run_refusal()
        sub = Subscription(
            self.subscriptions,
            live,
            shard,
            consumer_arn,
            position,
            self.clock,
            limited=self.meter is not None,
        )
        self.subscriptions.begin(sub)
        return sub

    def deregister_consumer(
        self, account: str, region: str, stream_arn: str | None, name: str | None, arn: str | None
    ) -> None:
        with self._lock:
            stream, consumer = self.find_consumer(account, region, stream_arn, name, arn)
            del stream.consumers[consumer.name]
            live = self.live(account, region, stream.arn)
            self._change(live)
        self.subscriptions.notify(live.logs.values())  # the consumer's end with it

    def open_shard_count(self, account: str, region: str) -> tuple[int, int]:
        """Open shards and on-demand streams in this account and region."""
        scope = list(self.catalog.scope(account, region))
        return (
            sum(len(live.stream.open_shards) for live in scope),
            sum(1 for live in scope if live.stream.mode == "ON_DEMAND"),
        )

    # The in-process API for other services

    def stream_arn(self, account: str, region: str, stream_name_or_arn: str) -> str:
        return self.stream(account, region, stream_name_or_arn).arn

    def shards(self, account: str, region: str, stream_name_or_arn: str) -> list[ShardView]:
        stream = self.stream(account, region, stream_name_or_arn)
        return [
            ShardView(s.shard_id, s.parent_shard_id, s.adjacent_parent_shard_id, not s.is_open)
            for s in sorted(self.visible_shards(stream), key=lambda s: s.index)
        ]

    def read_shard(
        self,
        account: str,
        region: str,
        stream_name_or_arn: str,
        shard_id: str,
        *,
        after_sequence_number: str | None,
        limit: int = 10000,
    ) -> list[StreamRecord]:
        live = self.live(account, region, stream_name_or_arn)
        shard = live.shard(shard_id)
        now = self.now()
        if after_sequence_number is None:
            position = 0
        else:
            position = records.iterator_position(
                live,
                shard,
                "AFTER_SEQUENCE_NUMBER",
                now,
                sequence_number=after_sequence_number,
                timestamp=None,
            )
        batch = records.get(live, shard, position, limit, now, max_bytes=None)
        return [
            StreamRecord(seq, data, key.decode(), arrival / 1000)
            for (_, arrival, key, data), seq in zip(
                batch.records, batch.sequence_numbers, strict=True
            )
        ]
