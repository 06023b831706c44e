"""Kinesis handlers of enhanced fan-out: consumer registration and SubscribeToShard."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from tule.context import RequestContext
from tule.services.kinesis import Kinesis
from tule.services.kinesis.errors import invalid_argument
from tule.services.kinesis.shapes import (
    Request,
    Response,
    child_shards,
    consumer_shape,
    record_list,
)
from tule.services.kinesis.subscription import ShardEvent


def register_stream_consumer(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    consumer = kinesis.register_consumer(
        ctx.account_id, ctx.region, request["StreamARN"], request["ConsumerName"]
    )
    return {"Consumer": consumer_shape(consumer)}


def describe_stream_consumer(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream, consumer = kinesis.find_consumer(
        ctx.account_id,
        ctx.region,
        request.get("StreamARN"),
        request.get("ConsumerName"),
        request.get("ConsumerARN"),
    )
    return {"ConsumerDescription": consumer_shape(consumer) | {"StreamARN": stream.arn}}


def list_stream_consumers(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream = kinesis.stream(ctx.account_id, ctx.region, request["StreamARN"])
    ordered = sorted(stream.consumers.values(), key=lambda c: c.name)
    start = 0
    token = request.get("NextToken")
    if token is not None:
        names = [c.name for c in ordered]
        if token not in names:
            raise invalid_argument("NextToken is invalid or malformed.")
        start = names.index(token) + 1
    limit = request.get("MaxResults") or 100
    page = ordered[start : start + limit]
    more = start + limit < len(ordered)
    return {
        "Consumers": [consumer_shape(c) for c in page],
        "NextToken": page[-1].name if more and page else None,
    }


def deregister_stream_consumer(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.deregister_consumer(
        ctx.account_id,
        ctx.region,
        request.get("StreamARN"),
        request.get("ConsumerName"),
        request.get("ConsumerARN"),
    )
    return {}


def _subscribe_event(event: ShardEvent) -> Response:
    out: Response = {
        "Records": record_list(event.records, event.sequence_numbers),
        "ContinuationSequenceNumber": event.continuation,
        "MillisBehindLatest": event.millis_behind,
    }
    if event.continuation is None:
        out["ChildShards"] = child_shards(event.children)
    return out


async def _subscribe_events(events: AsyncGenerator[ShardEvent]) -> AsyncIterator[Response]:
    # Closed with the answer, so a client that leaves ends the subscription at once.
    async with aclosing(events):
        async for event in events:
            yield {"SubscribeToShardEvent": _subscribe_event(event)}


def subscribe_to_shard(ctx: RequestContext, request: Request) -> Response:
    # The answer is an event stream the gateway writes as the subscription yields events;
    # this call only checks the request and starts the subscription.
    kinesis: Kinesis = ctx.service
    position = request["StartingPosition"]
    subscription = kinesis.subscribe_to_shard(
        ctx.account_id,
        ctx.region,
        request["ConsumerARN"],
        request["ShardId"],
        position["Type"],
        sequence_number=position.get("SequenceNumber"),
        timestamp=position.get("Timestamp"),
        dry_run=bool(request.get("DryRun")),
    )
    return {"EventStream": _subscribe_events(subscription.events())}
