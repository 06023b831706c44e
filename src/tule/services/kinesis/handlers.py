"""Kinesis Data Streams operation handlers: request shape -> one domain call -> response shape."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from tule.context import RequestContext
from tule.services.kinesis import Kinesis
from tule.services.kinesis.errors import dry_run_refusal, invalid_argument, validation
from tule.services.kinesis.listing import (
    describe_stream_page,
    list_shards_page,
    list_streams_page,
    list_tags_page,
    shard_shape,
)
from tule.services.kinesis.models import ON_DEMAND_STREAM_LIMIT, SHARD_LIMIT, Stream
from tule.services.kinesis.records import Entry
from tule.services.kinesis.subscription import ShardEvent

Request = dict[str, Any]
Response = dict[str, Any]


def _stream_ref(request: Request) -> str:
    """The stream a request names, by StreamName or StreamARN (AWS accepts either)."""
    name, arn = request.get("StreamName"), request.get("StreamARN")
    if name is None and arn is None:
        raise invalid_argument("Either StreamName or StreamARN should be provided.")
    if name is not None and arn is not None and not arn.endswith(f":stream/{name}"):
        raise invalid_argument("StreamARN and StreamName do not name the same stream.")
    return arn if arn is not None else name


def _mode(stream: Stream) -> Response:
    return {"StreamMode": stream.mode}


# Streams


def create_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    details = request.get("StreamModeDetails") or {}
    kinesis.create_stream(
        ctx.account_id,
        ctx.region,
        request["StreamName"],
        shard_count=request.get("ShardCount"),
        mode=details.get("StreamMode"),
        tags=request.get("Tags"),
        max_record_kib=request.get("MaxRecordSizeInKiB"),
    )
    return {}


def delete_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.delete_stream(
        ctx.account_id,
        ctx.region,
        _stream_ref(request),
        enforce_consumer_deletion=bool(request.get("EnforceConsumerDeletion")),
    )
    return {}


def describe_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream = kinesis.stream(ctx.account_id, ctx.region, _stream_ref(request))
    shards, more = describe_stream_page(
        kinesis.visible_shards(stream),
        request.get("ExclusiveStartShardId"),
        request.get("Limit") or 100,
    )
    return {
        "StreamDescription": {
            "StreamName": stream.name,
            "StreamARN": stream.arn,
            "StreamStatus": stream.status,
            "StreamModeDetails": _mode(stream),
            "Shards": [shard_shape(s) for s in shards],
            "HasMoreShards": more,
            "RetentionPeriodHours": stream.retention_hours,
            "StreamCreationTimestamp": stream.created,
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
            "EncryptionType": "NONE",
        }
    }


def describe_stream_summary(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream = kinesis.stream(ctx.account_id, ctx.region, _stream_ref(request))
    return {
        "StreamDescriptionSummary": {
            "StreamName": stream.name,
            "StreamARN": stream.arn,
            "StreamStatus": stream.status,
            "StreamModeDetails": _mode(stream),
            "RetentionPeriodHours": stream.retention_hours,
            "StreamCreationTimestamp": stream.created,
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
            "EncryptionType": "NONE",
            "OpenShardCount": len(stream.open_shards),
            "ConsumerCount": len(stream.consumers),
            "MaxRecordSizeInKiB": stream.max_record_kib,
        }
    }


def list_streams(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    streams = kinesis.list_streams(ctx.account_id, ctx.region)
    page, token = list_streams_page(
        streams,
        ctx.account_id,
        ctx.region,
        exclusive_start=request.get("ExclusiveStartStreamName"),
        next_token=request.get("NextToken"),
        limit=request.get("Limit") or 100,
        now_ms=int(kinesis.now() * 1000),
    )
    return {
        "StreamNames": [s.name for s in page],
        "HasMoreStreams": token is not None,
        "NextToken": token,
        "StreamSummaries": [
            {
                "StreamName": s.name,
                "StreamARN": s.arn,
                "StreamStatus": s.status,
                "StreamModeDetails": _mode(s),
                "StreamCreationTimestamp": s.created,
            }
            for s in page
        ],
    }


def list_shards(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    token = request.get("NextToken")
    has_stream = request.get("StreamName") is not None or request.get("StreamARN") is not None
    if token is not None and (has_stream or request.get("ExclusiveStartShardId") is not None):
        raise invalid_argument(
            "NextToken and StreamName/StreamARN or ExclusiveStartShardId cannot be provided "
            "together."
        )
    page, next_token = list_shards_page(kinesis, ctx.account_id, ctx.region, request)
    return {"Shards": [shard_shape(s) for s in page], "NextToken": next_token}


def increase_stream_retention_period(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.set_retention(
        ctx.account_id,
        ctx.region,
        _stream_ref(request),
        request["RetentionPeriodHours"],
        increase=True,
    )
    return {}


def decrease_stream_retention_period(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.set_retention(
        ctx.account_id,
        ctx.region,
        _stream_ref(request),
        request["RetentionPeriodHours"],
        increase=False,
    )
    return {}


def update_stream_mode(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.update_stream_mode(
        ctx.account_id,
        ctx.region,
        request["StreamARN"],
        request["StreamModeDetails"]["StreamMode"],
    )
    return {}


def describe_limits(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    open_shards, on_demand = kinesis.open_shard_count(ctx.account_id, ctx.region)
    return {
        "ShardLimit": SHARD_LIMIT,
        "OpenShardCount": open_shards,
        "OnDemandStreamCount": on_demand,
        "OnDemandStreamCountLimit": ON_DEMAND_STREAM_LIMIT,
    }


# Resharding


def split_shard(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.reshard(
        ctx.account_id,
        ctx.region,
        _stream_ref(request),
        "split",
        request["ShardToSplit"],
        request["NewStartingHashKey"],
    )
    return {}


def merge_shards(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.reshard(
        ctx.account_id,
        ctx.region,
        _stream_ref(request),
        "merge",
        request["ShardToMerge"],
        request["AdjacentShardToMerge"],
    )
    return {}


def update_shard_count(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    ref = _stream_ref(request)
    target = request["TargetShardCount"]
    before, _ = kinesis.reshard(ctx.account_id, ctx.region, ref, "uniform", target)
    stream = kinesis.stream(ctx.account_id, ctx.region, ref)
    return {
        "StreamName": stream.name,
        "StreamARN": stream.arn,
        "CurrentShardCount": before,
        "TargetShardCount": target,
    }


# Records


def _entry(record: Request, where: str) -> Entry:
    # botocore's model no longer marks PartitionKey required (streams may distribute records
    # themselves), but tule's streams route by key as the classic service does, which needs it.
    if record.get("PartitionKey") is None:
        raise validation(
            f"1 validation error detected: Value null at '{where}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return Entry(record["PartitionKey"], record["Data"], record.get("ExplicitHashKey"))


def put_record(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    entry = _entry(request, "partitionKey")
    (result,) = kinesis.put(
        ctx.account_id,
        ctx.region,
        _stream_ref(request),
        [entry],
        whole=True,
        dry_run=bool(request.get("DryRun")),
    )
    return {
        "ShardId": result.shard_id,
        "SequenceNumber": result.sequence_number,
        "EncryptionType": "NONE",
    }


def put_records(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    entries = [
        _entry(r, f"records.{i}.member.partitionKey")
        for i, r in enumerate(request["Records"], start=1)
    ]
    results = kinesis.put(
        ctx.account_id,
        ctx.region,
        _stream_ref(request),
        entries,
        whole=False,
        dry_run=bool(request.get("DryRun")),
    )
    out: list[Response] = []
    failed = 0
    for shard_id, sequence_number, error_code, error_message in results:
        if error_code is None:
            out.append({"SequenceNumber": sequence_number, "ShardId": shard_id})
        else:
            failed += 1
            out.append({"ErrorCode": error_code, "ErrorMessage": error_message})
    # AWS sends 0 when nothing failed, though the model's minimum is 1.
    return {"FailedRecordCount": failed, "Records": out, "EncryptionType": "NONE"}


def get_shard_iterator(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    iterator = kinesis.shard_iterator(
        ctx.account_id,
        ctx.region,
        _stream_ref(request),
        request["ShardId"],
        request["ShardIteratorType"],
        sequence_number=request.get("StartingSequenceNumber"),
        timestamp=request.get("Timestamp"),
    )
    if request.get("DryRun"):
        raise dry_run_refusal()
    return {"ShardIterator": iterator}


def get_records(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    if request.get("DryRun"):
        kinesis.check_iterator(ctx.account_id, ctx.region, request["ShardIterator"])
        raise dry_run_refusal()
    batch, following = kinesis.get_records(
        ctx.account_id,
        ctx.region,
        request["ShardIterator"],
        request.get("Limit") or 10000,
        request.get("StreamARN"),
    )
    out: Response = {
        "Records": [
            {
                "SequenceNumber": seq,
                "ApproximateArrivalTimestamp": arrival / 1000,
                "Data": data,
                "PartitionKey": key.decode(),
            }
            for (_, arrival, key, data), seq in zip(
                batch.records, batch.sequence_numbers, strict=True
            )
        ],
        "MillisBehindLatest": batch.millis_behind,
    }
    if following is not None:
        out["NextShardIterator"] = following
    else:
        out["ChildShards"] = [
            {
                "ShardId": child.shard_id,
                "ParentShards": list(child.parents),
                "HashKeyRange": {
                    "StartingHashKey": str(child.start_hash),
                    "EndingHashKey": str(child.end_hash),
                },
            }
            for child in batch.children
        ]
    return out


# Tags


def _tag_list(tags: dict[str, str]) -> list[Response]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def add_tags_to_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.tag(ctx.account_id, ctx.region, _stream_ref(request), request["Tags"])
    return {}


def remove_tags_from_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.untag(ctx.account_id, ctx.region, _stream_ref(request), request["TagKeys"])
    return {}


def list_tags_for_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream = kinesis.stream(ctx.account_id, ctx.region, _stream_ref(request))
    tags, more = list_tags_page(
        stream.tags, request.get("ExclusiveStartTagKey"), request.get("Limit") or 10
    )
    return {"Tags": _tag_list(tags), "HasMoreTags": more}


def _resource_stream(arn: str) -> str:
    if "/consumer/" in arn or ":stream/" not in arn:
        raise invalid_argument(
            f"Tagging resources other than streams ({arn}) is not supported in tule."
        )
    return arn


def tag_resource(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.tag(
        ctx.account_id, ctx.region, _resource_stream(request["ResourceARN"]), request["Tags"]
    )
    return {}


def untag_resource(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    arn = _resource_stream(request["ResourceARN"])
    kinesis.untag(ctx.account_id, ctx.region, arn, request["TagKeys"])
    return {}


def list_tags_for_resource(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream = kinesis.stream(ctx.account_id, ctx.region, _resource_stream(request["ResourceARN"]))
    return {"Tags": _tag_list(stream.tags)}


# Consumers


def _consumer(c: Any) -> Response:
    return {
        "ConsumerName": c.name,
        "ConsumerARN": c.arn,
        "ConsumerStatus": c.status,
        "ConsumerCreationTimestamp": c.created,
    }


def register_stream_consumer(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    consumer = kinesis.register_consumer(
        ctx.account_id, ctx.region, request["StreamARN"], request["ConsumerName"]
    )
    return {"Consumer": _consumer(consumer)}


def describe_stream_consumer(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream, consumer = kinesis.find_consumer(
        ctx.account_id,
        ctx.region,
        request.get("StreamARN"),
        request.get("ConsumerName"),
        request.get("ConsumerARN"),
    )
    return {"ConsumerDescription": _consumer(consumer) | {"StreamARN": stream.arn}}


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
        "Consumers": [_consumer(c) for c in page],
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


# Enhanced fan-out reads


def _subscribe_event(event: ShardEvent) -> Response:
    out: Response = {
        "Records": [
            {
                "SequenceNumber": seq,
                "ApproximateArrivalTimestamp": arrival / 1000,
                "Data": data,
                "PartitionKey": key.decode(),
            }
            for (_, arrival, key, data), seq in zip(
                event.records, event.sequence_numbers, strict=True
            )
        ],
        "ContinuationSequenceNumber": event.continuation,
        "MillisBehindLatest": event.millis_behind,
    }
    if event.continuation is None:
        out["ChildShards"] = [
            {
                "ShardId": child.shard_id,
                "ParentShards": list(child.parents),
                "HashKeyRange": {
                    "StartingHashKey": str(child.start_hash),
                    "EndingHashKey": str(child.end_hash),
                },
            }
            for child in event.children
        ]
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
