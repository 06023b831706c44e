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


def stream_arn_for(stream_arn: str | None, name: str | None, arn: str | None) -> str:
    """The stream a consumer request names: its StreamARN, else its ConsumerARN's stream (a
    StreamARN needs a ConsumerName or ConsumerARN with it)."""
    if stream_arn is None:
        if arn is None:
            raise invalid_argument("Either ConsumerARN or StreamARN and ConsumerName are required.")
        return stream_arn_of(arn)
    if name is None and arn is None:
        raise invalid_argument("ConsumerName is required with StreamARN.")
    return stream_arn


def check_active(consumer: Consumer) -> None:
    """Only an ACTIVE consumer may subscribe (one just registered is CREATING on AWS)."""
    if consumer.status != "ACTIVE":
        raise in_use(
            f"Consumer {consumer.arn} is in {consumer.status} state; it must be ACTIVE "
            "to subscribe."
        )


def find(stream: Stream, name: str | None, arn: str | None) -> Consumer:
    for consumer in stream.consumers.values():
        if (name is None or consumer.name == name) and (arn is None or consumer.arn == arn):
            return consumer
    raise consumer_not_found(arn or f"{name} under stream {stream.name}")
