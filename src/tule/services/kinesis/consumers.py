"""Enhanced fan-out consumers: their registration on a stream (RegisterStreamConsumer and
friends). Reading through them is SubscribeToShard's event stream (see `subscription`)."""

from __future__ import annotations

from tule.services.kinesis.errors import (
    consumer_not_found,
    in_use,
    invalid_argument,
    limit_exceeded,
)
from tule.services.kinesis.models import Consumer, Stream, consumer_arn

MAX_CONSUMERS = 20


def register(stream: Stream, name: str, now: float) -> Consumer:
    if name in stream.consumers:
        raise in_use(
            f"Consumer {name} under stream {stream.name} already exists for account "
            f"{stream.account}."
        )
    if len(stream.consumers) >= MAX_CONSUMERS:
        raise limit_exceeded(
            f"Stream {stream.name} under account {stream.account} already has the maximum "
            f"of {MAX_CONSUMERS} registered consumers."
        )
    consumer = Consumer(name, consumer_arn(stream.arn, name, now), now)
    stream.consumers[name] = consumer
    return consumer


def stream_arn_of(arn: str) -> str:
    """The stream ARN a consumer ARN belongs to."""
    head, sep, _ = arn.partition("/consumer/")
    if not sep:
        raise invalid_argument(f"Invalid ConsumerARN {arn}.")
    return head


def find(stream: Stream, name: str | None, arn: str | None) -> Consumer:
    for consumer in stream.consumers.values():
        if (name is None or consumer.name == name) and (arn is None or consumer.arn == arn):
            return consumer
    raise consumer_not_found(arn or f"{name} under stream {stream.name}")
