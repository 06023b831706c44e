"""SubscribeToShard (enhanced fan-out) through boto3: records pushed over an event stream, in
order, resumable from ContinuationSequenceNumber, ending at a closed shard's children or at
the subscription's lifetime; AWS's errors; and the event-stream encoder checked against
botocore's own decoder and parser."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch, EventStream, EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError
from botocore.parsers import EventStreamJSONParser, create_parser

from tule.aws import specs
from tule.aws.eventstream import (
    EventStreams,
    encode_message,
    error_message,
    event_message,
    exception_message,
    respond,
)
from tule.clock import ManualClock
from tule.errors import AwsError
from tule.services.kinesis.subscription import LIFETIME_S, RESUBSCRIBE_S
from tule.testing import TuleServer

SHARD0 = "shardId-000000000000"


# The encoder, read back by botocore


def _decode(blob: bytes) -> list[Any]:
    buf = EventStreamBuffer()
    buf.add_data(blob)
    return list(buf)


def test_encoded_message_passes_botocore_crc_checks_with_every_header_type() -> None:
    headers = {":message-type": "event", "flag": True, "off": False, "n": -7, "raw": b"\x00\x01"}
    (message,) = _decode(encode_message(headers, b'{"a":1}'))
    assert message.headers == {
        ":message-type": "event",
        "flag": True,
        "off": False,
        "n": -7,
        "raw": b"\x00\x01",
    }
    assert message.payload == b'{"a":1}'


def test_a_corrupted_message_fails_botocore_checksum() -> None:
    blob = bytearray(event_message("SubscribeToShardEvent", b"{}"))
    blob[-6] ^= 0xFF  # a payload byte
    with pytest.raises(ChecksumMismatch):
        _decode(bytes(blob))


def test_messages_split_across_chunks_decode_in_order() -> None:
    blob = event_message("A", b"1") + event_message("B", b"22") + error_message("X", "no")
    buf = EventStreamBuffer()
    seen = []
    for i in range(0, len(blob), 5):
        buf.add_data(blob[i : i + 5])
        seen.extend(m.headers.get(":event-type") or m.headers[":error-code"] for m in buf)
    assert seen == ["A", "B", "X"]


class _Raw:
    def __init__(self, blob: bytes) -> None:
        self._blob = io.BytesIO(blob)

    def stream(self) -> Iterator[bytes]:
        yield from iter(lambda: self._blob.read(7), b"")

    def close(self) -> None:
        pass


def _kinesis_events(blob: bytes) -> EventStream:
    op = specs.operation_model("kinesis", "SubscribeToShard")
    shape = op.output_shape.members["EventStream"]
    return EventStream(_Raw(blob), shape, EventStreamJSONParser(), "SubscribeToShard")


def test_an_event_parses_as_the_modeled_subscribe_event() -> None:
    payload = (
        b'{"Records":[{"SequenceNumber":"5","ApproximateArrivalTimestamp":1.5,'
        b'"Data":"aGk=","PartitionKey":"k"}],"ContinuationSequenceNumber":"5",'
        b'"MillisBehindLatest":0}'
    )
    (event,) = list(_kinesis_events(event_message("SubscribeToShardEvent", payload)))
    record = event["SubscribeToShardEvent"]["Records"][0]
    assert record["Data"] == b"hi"
    assert event["SubscribeToShardEvent"]["ContinuationSequenceNumber"] == "5"


def test_an_exception_event_raises_the_modeled_error_in_botocore() -> None:
    blob = exception_message("ResourceNotFoundException", b'{"message":"gone"}')
    with pytest.raises(EventStreamError) as caught:
        list(_kinesis_events(blob))
    assert caught.value.response["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": "gone",
    }


def test_an_unmodeled_error_message_raises_with_its_code() -> None:
    with pytest.raises(EventStreamError) as caught:
        list(_kinesis_events(error_message("InternalFailure", "boom")))
    assert caught.value.response["Error"]["Code"] == "InternalFailure"


def _respond_and_parse(events: Any) -> dict[str, Any]:
    """SubscribeToShard's streamed answer for `events`, written whole and read by botocore's
    json parser as boto3 reads it (initial-response first)."""
    op = specs.operation_model("kinesis", "SubscribeToShard")
    resp = respond(op, {"EventStream": events}, "rid", EventStreams())
    assert resp.stream is not None

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in resp.stream])  # type: ignore[union-attr]

    blob = asyncio.run(collect())
    response = {
        "status_code": resp.status_code,
        "headers": resp.headers,
        "body": _Raw(blob),
        "context": {"operation_name": "SubscribeToShard"},
    }
    return create_parser("json").parse(response, op.output_shape)


def _event(continuation: str) -> dict[str, Any]:
    return {
        "SubscribeToShardEvent": {
            "Records": [],
            "ContinuationSequenceNumber": continuation,
            "MillisBehindLatest": 0,
        }
    }


def test_a_plain_iterator_of_events_is_answered_after_an_initial_response() -> None:
    parsed = _respond_and_parse([_event("1"), _event("2")])
    events = [
        e["SubscribeToShardEvent"]["ContinuationSequenceNumber"] for e in parsed["EventStream"]
    ]
    assert events == ["1", "2"]


def test_an_aws_error_from_the_events_ends_the_stream_as_its_modeled_exception() -> None:
    def events() -> Iterator[dict[str, Any]]:
        yield _event("1")
        raise AwsError("ResourceInUseException", "taken", 400)

    stream = iter(_respond_and_parse(events())["EventStream"])
    assert next(stream)["SubscribeToShardEvent"]["ContinuationSequenceNumber"] == "1"
    with pytest.raises(EventStreamError) as caught:
        next(stream)
    assert caught.value.response["Error"] == {"Code": "ResourceInUseException", "Message": "taken"}


def test_an_unexpected_failure_ends_the_stream_as_an_internal_failure() -> None:
    def events() -> Iterator[dict[str, Any]]:
        raise RuntimeError("bug")
        yield  # a generator

    with pytest.raises(EventStreamError) as caught:
        list(_respond_and_parse(events())["EventStream"])
    assert caught.value.response["Error"]["Code"] == "InternalFailure"


# Through boto3


@pytest.fixture(scope="module")
def kinesis(server: TuleServer) -> Any:
    # A read timeout, so a subscription that never sends fails the test instead of hanging it.
    return server.client("kinesis", config=Config(read_timeout=10, retries={"max_attempts": 1}))


@pytest.fixture
def one_shard(kinesis: Any, names: Callable[[str], str], clock: ManualClock) -> dict[str, str]:
    """A fresh 1-shard stream and a consumer registered on it."""
    clock.advance(1)
    name = names("sub")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName=names("c"))
    return {"stream": name, "arn": arn, "consumer": consumer["Consumer"]["ConsumerARN"]}


def _subscribe(kinesis: Any, consumer: str, **position: Any) -> EventStream:
    position.setdefault("Type", "TRIM_HORIZON")
    response = kinesis.subscribe_to_shard(
        ConsumerARN=consumer, ShardId=SHARD0, StartingPosition=position
    )
    return response["EventStream"]


def _records_until(events: EventStream, count: int) -> tuple[list[dict], dict]:
    """Records from the stream's events until `count` arrived; and the last event."""
    got: list[dict] = []
    for item in events:
        event = item["SubscribeToShardEvent"]
        got.extend(event["Records"])
        if len(got) >= count:
            return got, event
    raise AssertionError(f"the stream ended after {len(got)} of {count} records")


def _put(kinesis: Any, stream: str, *payloads: bytes) -> list[str]:
    return [
        kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=p)["SequenceNumber"]
        for p in payloads
    ]


def _wait_for(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_trim_horizon_pushes_earlier_records_in_order(kinesis: Any, one_shard: dict) -> None:
    sequence_numbers = _put(kinesis, one_shard["stream"], b"a", b"b", b"c")
    events = _subscribe(kinesis, one_shard["consumer"])
    try:
        records, last = _records_until(events, 3)
    finally:
        events.close()
    assert [r["Data"] for r in records] == [b"a", b"b", b"c"]
    assert [r["SequenceNumber"] for r in records] == sequence_numbers
    assert all(r["PartitionKey"] == "pk" for r in records)
    assert last["ContinuationSequenceNumber"] == sequence_numbers[-1]
    assert last["MillisBehindLatest"] == 0


def test_latest_pushes_only_records_put_after_subscribing(kinesis: Any, one_shard: dict) -> None:
    _put(kinesis, one_shard["stream"], b"before")
    events = _subscribe(kinesis, one_shard["consumer"], Type="LATEST")
    try:
        _put(kinesis, one_shard["stream"], b"after-1", b"after-2")
        records, last = _records_until(events, 2)
    finally:
        events.close()
    assert [r["Data"] for r in records] == [b"after-1", b"after-2"]
    assert last["ContinuationSequenceNumber"] == records[-1]["SequenceNumber"]


def test_resuming_after_the_continuation_sequence_number_skips_what_was_read(
    kinesis: Any, one_shard: dict, clock: ManualClock
) -> None:
    _put(kinesis, one_shard["stream"], b"1", b"2")
    events = _subscribe(kinesis, one_shard["consumer"])
    try:
        _, last = _records_until(events, 2)
    finally:
        events.close()
    _put(kinesis, one_shard["stream"], b"3", b"4")
    clock.advance(RESUBSCRIBE_S)
    resumed = _subscribe(
        kinesis,
        one_shard["consumer"],
        Type="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=last["ContinuationSequenceNumber"],
    )
    try:
        records, _ = _records_until(resumed, 2)
    finally:
        resumed.close()
    assert [r["Data"] for r in records] == [b"3", b"4"]


def test_at_sequence_number_starts_with_that_record(kinesis: Any, one_shard: dict) -> None:
    numbers = _put(kinesis, one_shard["stream"], b"x", b"y", b"z")
    events = _subscribe(
        kinesis, one_shard["consumer"], Type="AT_SEQUENCE_NUMBER", SequenceNumber=numbers[1]
    )
    try:
        records, _ = _records_until(events, 2)
    finally:
        events.close()
    assert [r["Data"] for r in records] == [b"y", b"z"]


def test_at_timestamp_starts_with_the_first_record_that_arrived_then(
    kinesis: Any, one_shard: dict, clock: ManualClock
) -> None:
    _put(kinesis, one_shard["stream"], b"old")
    clock.advance(2)
    cut = clock.now()
    _put(kinesis, one_shard["stream"], b"new")
    events = _subscribe(kinesis, one_shard["consumer"], Type="AT_TIMESTAMP", Timestamp=cut)
    try:
        records, _ = _records_until(events, 1)
    finally:
        events.close()
    assert [r["Data"] for r in records] == [b"new"]


def test_a_closed_shard_ends_with_its_child_shards(kinesis: Any, one_shard: dict) -> None:
    _put(kinesis, one_shard["stream"], b"last-words")
    kinesis.split_shard(
        StreamName=one_shard["stream"],
        ShardToSplit=SHARD0,
        NewStartingHashKey=str(1 << 127),
    )
    events = _subscribe(kinesis, one_shard["consumer"])
    try:
        seen = [item["SubscribeToShardEvent"] for item in events]  # ends by itself
    finally:
        events.close()
    assert [r["Data"] for e in seen for r in e["Records"]] == [b"last-words"]
    final = seen[-1]
    assert "ContinuationSequenceNumber" not in final
    assert final["Records"] == []
    assert sorted(c["ShardId"] for c in final["ChildShards"]) == [
        "shardId-000000000001",
        "shardId-000000000002",
    ]
    assert all(c["ParentShards"] == [SHARD0] for c in final["ChildShards"])
    # Every event before the last says where to resume.
    assert all("ContinuationSequenceNumber" in e for e in seen[:-1])


def test_the_subscription_ends_after_its_lifetime(
    kinesis: Any, one_shard: dict, clock: ManualClock
) -> None:
    _put(kinesis, one_shard["stream"], b"r")
    events = _subscribe(kinesis, one_shard["consumer"])
    iterator = iter(events)
    try:
        first = next(iterator)["SubscribeToShardEvent"]
        assert [r["Data"] for r in first["Records"]] == [b"r"]
        clock.advance(LIFETIME_S)
        started = time.monotonic()
        assert list(iterator) == []  # the body ends cleanly, no error
        assert time.monotonic() - started < 2
    finally:
        events.close()


def test_an_unknown_consumer_is_not_found(kinesis: Any, one_shard: dict) -> None:
    with pytest.raises(ClientError) as caught:
        _subscribe(kinesis, one_shard["arn"] + "/consumer/nobody:1700000000")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_an_unknown_shard_is_not_found(kinesis: Any, one_shard: dict) -> None:
    with pytest.raises(ClientError) as caught:
        kinesis.subscribe_to_shard(
            ConsumerARN=one_shard["consumer"],
            ShardId="shardId-000000000009",
            StartingPosition={"Type": "LATEST"},
        )
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_consumer_not_active_is_in_use(kinesis: Any, one_shard: dict, server: TuleServer) -> None:
    domain = server.app.domains["kinesis"]
    stream = domain.stream(server.settings.account_id, "us-east-1", one_shard["arn"])
    (consumer,) = stream.consumers.values()
    consumer.status = "CREATING"
    try:
        with pytest.raises(ClientError) as caught:
            _subscribe(kinesis, one_shard["consumer"])
    finally:
        consumer.status = "ACTIVE"
    assert caught.value.response["Error"]["Code"] == "ResourceInUseException"


def test_subscribing_again_within_5_seconds_is_in_use_and_later_replaces_the_first(
    kinesis: Any, one_shard: dict, clock: ManualClock, server: TuleServer
) -> None:
    first = _subscribe(kinesis, one_shard["consumer"], Type="LATEST")
    first_events = iter(first)
    next(first_events)  # the subscription is running
    with pytest.raises(ClientError) as caught:
        _subscribe(kinesis, one_shard["consumer"], Type="LATEST")
    assert caught.value.response["Error"]["Code"] == "ResourceInUseException"
    clock.advance(RESUBSCRIBE_S)
    second = _subscribe(kinesis, one_shard["consumer"], Type="LATEST")
    try:
        assert list(first_events) == []  # the first one ended
        _put(kinesis, one_shard["stream"], b"to-the-second")
        records, _ = _records_until(second, 1)
        assert records[0]["Data"] == b"to-the-second"
    finally:
        first.close()
        second.close()


def test_a_missing_sequence_number_is_an_invalid_argument(kinesis: Any, one_shard: dict) -> None:
    with pytest.raises(ClientError) as caught:
        _subscribe(kinesis, one_shard["consumer"], Type="AFTER_SEQUENCE_NUMBER")
    assert caught.value.response["Error"]["Code"] == "InvalidArgumentException"


def test_dry_run_checks_without_subscribing(
    kinesis: Any, one_shard: dict, server: TuleServer
) -> None:
    with pytest.raises(ClientError) as caught:
        kinesis.subscribe_to_shard(
            ConsumerARN=one_shard["consumer"],
            ShardId=SHARD0,
            StartingPosition={"Type": "LATEST"},
            DryRun=True,
        )
    assert caught.value.response["Error"]["Code"] == "DryRunOperationException"
    events = _subscribe(kinesis, one_shard["consumer"])  # not refused by the 5 s rule
    events.close()


def test_deregistering_the_consumer_ends_its_subscription_with_an_error(
    kinesis: Any, one_shard: dict
) -> None:
    stream = _subscribe(kinesis, one_shard["consumer"], Type="LATEST")
    events = iter(stream)
    next(events)
    kinesis.deregister_stream_consumer(ConsumerARN=one_shard["consumer"])
    with pytest.raises(EventStreamError) as caught:
        list(events)
    stream.close()
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_client_that_disconnects_ends_its_subscription(
    kinesis: Any, one_shard: dict, server: TuleServer
) -> None:
    subscriptions = server.app.domains["kinesis"].subscriptions
    before = subscriptions.running()
    events = _subscribe(kinesis, one_shard["consumer"], Type="LATEST")
    next(iter(events))
    assert subscriptions.running() == before + 1
    events.close()
    assert _wait_for(lambda: subscriptions.running() == before)


def test_the_read_budget_holds_records_back_until_the_clock_refills_it(
    kinesis: Any, one_shard: dict, clock: ManualClock
) -> None:
    big = 900_000  # five of them: 4.5 MB, over 2 MiB/s
    for i in range(5):
        clock.advance(1)  # the shard takes 1 MiB of writes a second
        _put(kinesis, one_shard["stream"], bytes([i]) * big)
    stream = _subscribe(kinesis, one_shard["consumer"])
    events = iter(stream)
    got: list[dict] = []
    try:
        while True:
            event = next(events)["SubscribeToShardEvent"]
            if not event["Records"]:
                break  # held back: an empty event while records wait
            got.extend(event["Records"])
        assert 2 <= len(got) < 5
        assert event["MillisBehindLatest"] > 0
        clock.advance(2)
        while len(got) < 5:
            got.extend(next(events)["SubscribeToShardEvent"]["Records"])
    finally:
        stream.close()
    assert [r["Data"][0] for r in got] == [0, 1, 2, 3, 4]


def test_ending_the_gateway_streams_ends_subscriptions_cleanly(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with TuleServer(tmp_path_factory.mktemp("ending"), fsync=False) as own:
        client = own.client("kinesis", config=Config(read_timeout=10))
        client.create_stream(StreamName="s", ShardCount=1)
        arn = client.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"][
            "StreamARN"
        ]
        consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName="c")
        stream = _subscribe(client, consumer["Consumer"]["ConsumerARN"], Type="LATEST")
        events = iter(stream)
        next(events)
        leftover: list[Any] = []
        reader = threading.Thread(target=lambda: leftover.extend(events))
        reader.start()
        own.app.end_streams()
        reader.join(timeout=5)
        assert not reader.is_alive()
        assert leftover == []
        assert _wait_for(lambda: own.app.domains["kinesis"].subscriptions.running() == 0)
        assert len(own.app.dispatcher.streams) == 0
        stream.close()
        client.close()
