"""SubscribeToShard pushes records the moment a put makes them visible, not at the next look
at the log: this server's subscriptions poll only every 30 s (and send an empty event every
1 s), so an event that arrives within a few hundred milliseconds was woken by the put. Deleting
the stream or deregistering the consumer wakes them too."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import EventStreamError

from tule.clock import ManualClock
from tule.services.kinesis.subscription import PUSH_INTERVAL_S
from tule.testing import TuleServer

SHARD0 = "shardId-000000000000"
LONG_POLL_S = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    clock = ManualClock(start=1_700_000_000.0)
    with TuleServer(tmp_path_factory.mktemp("wakeup"), clock=clock, fsync=False) as own:
        own.app.domains["kinesis"].subscriptions.poll_s = LONG_POLL_S
        yield own


@pytest.fixture(scope="module")
def kinesis(server: TuleServer) -> Any:
    return server.client("kinesis", config=Config(read_timeout=10, retries={"max_attempts": 1}))


def _subscribed(kinesis: Any, name: str) -> tuple[Any, Iterator[dict[str, Any]], str]:
    """A 1-shard stream `name`, and a LATEST subscription to it whose first (empty) event was
    read; and the consumer's ARN."""
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]
    stream = kinesis.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"], ShardId=SHARD0, StartingPosition={"Type": "LATEST"}
    )["EventStream"]
    events = iter(stream)
    next(events)
    return stream, events, consumer["ConsumerARN"]


def test_a_put_wakes_its_shards_subscription_well_before_the_next_poll(kinesis: Any) -> None:
    stream, events, _ = _subscribed(kinesis, "woken")
    delays: list[float] = []
    try:
        for i in range(5):
            # Just after an event: without a wake-up the next look would be a push interval
            # (1 s) away, the poll being 30 s.
            put_at = time.monotonic()
            kinesis.put_record(StreamName="woken", PartitionKey="k", Data=b"%d" % i)
            while True:
                records = next(events)["SubscribeToShardEvent"]["Records"]
                if records:
                    break
            delays.append(time.monotonic() - put_at)
            assert [r["Data"] for r in records] == [b"%d" % i]
    finally:
        stream.close()
    assert statistics.median(delays) < PUSH_INTERVAL_S / 4, delays


def _ends_with(events: Iterator[dict[str, Any]], act: Any) -> tuple[str, float]:
    """Do `act` while a reader waits on `events`; the error code the stream ended with and how
    long after `act` it ended."""
    ended: list[tuple[str, float]] = []

    def read() -> None:
        try:
            for _ in events:
                pass
            ended.append(("", time.monotonic()))
        except EventStreamError as e:
            ended.append((e.response["Error"]["Code"], time.monotonic()))

    reader = threading.Thread(target=read)
    reader.start()
    acted = time.monotonic()
    act()
    reader.join(timeout=10)
    assert ended, "the subscription did not end"
    code, at = ended[0]
    return code, at - acted


def test_deleting_the_stream_ends_its_subscription_at_once(kinesis: Any) -> None:
    stream, events, _ = _subscribed(kinesis, "deleted")
    try:
        code, after = _ends_with(
            events,
            lambda: kinesis.delete_stream(StreamName="deleted", EnforceConsumerDeletion=True),
        )
    finally:
        stream.close()
    assert code == "ResourceNotFoundException"
    assert after < PUSH_INTERVAL_S / 2  # not left to the next empty event


def test_deregistering_the_consumer_ends_its_subscription_at_once(kinesis: Any) -> None:
    stream, events, consumer = _subscribed(kinesis, "deregistered")
    try:
        code, after = _ends_with(
            events, lambda: kinesis.deregister_stream_consumer(ConsumerARN=consumer)
        )
    finally:
        stream.close()
    assert code == "ResourceNotFoundException"
    assert after < PUSH_INTERVAL_S / 2  # not left to the next empty event
