"""Enhanced fan-out reads: SubscribeToShard's subscriptions, which push a shard's records to
a registered consumer as they arrive (spec §6.7).

A subscription starts at a position (the iterator types of §6.4) and is an async iterator of
`ShardEvent`s: one as soon as records are visible past its position, else an empty one every
`PUSH_INTERVAL_S`, so the consumer learns `MillisBehindLatest` and where to resume. Each
event's `continuation` is the sequence number to resume after (the last record's, or one naming
the position reached). When the shard is closed and read to its end, a last event has no
continuation and names the child shards, which is how KCL and other fan-out readers recognise
a shard's end. It then stops, as it does
after `LIFETIME_S` of the injected clock (AWS: 5 minutes, after which consumers subscribe
again), when the same consumer subscribes to the shard again, or when the domain closes.

AWS's rules kept: a consumer subscribing to the same shard within 5 seconds of its last
successful SubscribeToShard gets ResourceInUseException; each subscription reads at most
2 MiB/s (`Settings.kinesis_throughput_limits`), a budget refilled by the injected clock that
holds records back (it never fails) once spent. A consumer deregistered or a stream deleted
under a running subscription ends it with ResourceNotFoundException.

Waiting happens on the event loop; only log reads go to a worker thread, so an open
subscription holds no thread. A put wakes the subscriptions of the shards it appended to the
moment its records are visible (`wake`, through `subscriptions.Subscriptions.notify`), as do
deleting the stream and deregistering a consumer; a look at the log every `poll_s` (default
`POLL_S`) remains for what nothing announces: the clock moving (lifetime, read budget),
records another writer's flush made visible. Subscriptions live only as long as their
connection: nothing of them is stored, and a restart ends them as a dropped connection does
on AWS (consumers subscribe again from their last ContinuationSequenceNumber).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from tule.clock import Clock
from tule.services.kinesis import records, sequence
from tule.services.kinesis.catalog import Live
from tule.services.kinesis.errors import consumer_not_found, stream_not_found
from tule.services.kinesis.models import Shard
from tule.services.kinesis.throughput import READ_BYTES_PER_S
from tule.storage.shard_log import LogRecord, ShardLog, ShardLogClosed

if TYPE_CHECKING:
    from tule.services.kinesis.subscriptions import Subscriptions

LIFETIME_S = 300.0
RESUBSCRIBE_S = 5.0
PUSH_INTERVAL_S = 1.0  # real time between events when no records come
POLL_S = 0.05  # real time between looks at the shard log when no put wakes the subscription
MAX_EVENT_RECORDS = 10_000


@dataclass(frozen=True)
class ShardEvent:
    """What one SubscribeToShardEvent carries."""

    records: list[LogRecord]
    sequence_numbers: list[str]
    continuation: str | None  # None: the shard is closed and fully read
    millis_behind: int
    children: list[Shard] = field(default_factory=list)


def _resume_point(shard: Shard, position: int) -> str:
    """A sequence number to resume after that leads to log `position` (counter = position):
    for an event with no records, which has no last record to name."""
    return str(sequence.base(shard.created, shard.index, shard.created) | (position << 80))


class Subscription:
    """One consumer's subscription to one shard; iterate `events()` once."""

    def __init__(
        self,
        registry: Subscriptions,
        live: Live,
        shard: Shard,
        consumer_arn: str,
        position: int,
        clock: Clock,
        *,
        limited: bool,
    ) -> None:
        self.registry = registry
        self.live = live
        self.shard_id = shard.shard_id
        self.log: ShardLog = live.logs[shard.shard_id]
        self.consumer_arn = consumer_arn
        self.position = position
        self.clock = clock
        self.started = clock.time()
        self.limited = limited
        self._ended = threading.Event()
        # Set by `events()` on its loop: what `wake` signals from a putting thread.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        # Where to resume: the last record sent, or (none yet) the starting position.
        self._continuation = _resume_point(shard, position)
        self._budget = float(READ_BYTES_PER_S)
        self._refilled = self.started

    @property
    def key(self) -> tuple[str, str]:
        return (self.consumer_arn, self.shard_id)

    def wake(self) -> None:
        """Look at the log now instead of at the next poll (from any thread)."""
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return  # not iterated yet: its first look at the log is still to come
        # RuntimeError: the loop is closed, and the subscription ended with it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wakeup.set)

    def end(self) -> None:
        """Stop at once (from any thread)."""
        self._ended.set()
        self.wake()

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def _check(self) -> Shard:
        """The shard now; ResourceNotFoundException if the stream or the consumer is gone."""
        live, stream = self.live, self.live.stream
        if live.deleted:
            raise stream_not_found(stream.name, stream.account)
        if not any(c.arn == self.consumer_arn for c in stream.consumers.values()):
            raise consumer_not_found(self.consumer_arn)
        shard = stream.shard(self.shard_id)
        if shard is None:  # the stream was replaced under us
            raise stream_not_found(stream.name, stream.account)
        return shard

    def _allowance(self, now: float) -> int:
        """Bytes the next event may carry (at least one record): 0 while the budget is spent."""
        if not self.limited:
            return records.MAX_GET_RECORDS_BYTES
        elapsed = max(0.0, now - self._refilled)
        self._refilled = now
        self._budget = min(float(READ_BYTES_PER_S), self._budget + elapsed * READ_BYTES_PER_S)
        return int(self._budget) if self._budget >= 1 else 0

    def _behind(self, now: float) -> int:
        arrived = self.log.arrival_ms(self.position)
        return 0 if arrived is None else max(0, int(now * 1000) - arrived)

    def _read(self, shard: Shard, max_bytes: int, now: float) -> ShardEvent:
        batch = records.get(
            self.live, shard, self.position, MAX_EVENT_RECORDS, now, max_bytes=max_bytes
        )
        if batch.records:
            self.position = batch.records[-1][0] + 1
            if self.limited:
                self._budget -= sum(len(key) + len(data) for _, _, key, data in batch.records)
            self._continuation = batch.sequence_numbers[-1]
        elif batch.next_position is not None and batch.next_position > self.position:
            # Nothing visible past the position, which trimming raised to the horizon.
            self.position = batch.next_position
            self._continuation = _resume_point(shard, self.position)
        return ShardEvent(
            batch.records, batch.sequence_numbers, self._continuation, batch.millis_behind
        )

    async def events(self) -> AsyncGenerator[ShardEvent]:
        loop = asyncio.get_running_loop()
        wakeup = asyncio.Event()
        self._loop, self._wakeup = loop, wakeup
        self.registry.watch(self)
        pushed = float("-inf")
        try:
            while not self.ended:
                # Cleared before looking at the log: a put that lands after the look sets it
                # again, so the wait below returns at once instead of missing the records.
                wakeup.clear()
                now = self.clock.time()
                if now - self.started >= LIFETIME_S:
                    return
                shard = self._check()
                log = self.log
                if not shard.is_open and self.position >= log.appended_end:
                    children = records.children_of(self.live, shard)
                    yield ShardEvent([], [], None, 0, children)
                    return
                allowance = self._allowance(now) if self.position < log.end else 0
                if allowance:
                    try:
                        event = await anyio.to_thread.run_sync(self._read, shard, allowance, now)
                    except ShardLogClosed:  # the stream was deleted while we read
                        stream = self.live.stream
                        raise stream_not_found(stream.name, stream.account) from None
                    pushed = loop.time()
                    yield event
                elif loop.time() - pushed >= PUSH_INTERVAL_S:
                    pushed = loop.time()
                    yield ShardEvent([], [], self._continuation, self._behind(now))
                else:
                    due = PUSH_INTERVAL_S - (loop.time() - pushed)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(self.registry.poll_s, due)):
                            await wakeup.wait()
        finally:
            self.registry.finish(self)
