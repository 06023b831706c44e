"""Kinesis Data Streams operation handlers: request shape -> one domain call -> response shape.

Streams, shards and resharding are here; records, tags and enhanced fan-out have modules of
their own, imported below so the handler table finds every operation on this module."""

from __future__ import annotations

from tule.context import RequestContext
from tule.services.kinesis import Kinesis
from tule.services.kinesis.consumer_handlers import (  # noqa: F401 (the handler table looks here)
    deregister_stream_consumer,
    describe_stream_consumer,
    list_stream_consumers,
    register_stream_consumer,
    subscribe_to_shard,
)
from tule.services.kinesis.errors import invalid_argument
from tule.services.kinesis.listing import (
    describe_stream_page,
    list_shards_page,
    list_streams_page,
    shard_shape,
)
from tule.services.kinesis.models import ON_DEMAND_STREAM_LIMIT, SHARD_LIMIT
from tule.services.kinesis.record_handlers import (  # noqa: F401 (the handler table looks here)
    get_records,
    get_shard_iterator,
    put_record,
    put_records,
)
from tule.services.kinesis.shapes import Request, Response, mode, stream_ref
from tule.services.kinesis.tag_handlers import (  # noqa: F401 (the handler table looks here)
    add_tags_to_stream,
    list_tags_for_resource,
    list_tags_for_stream,
    remove_tags_from_stream,
    tag_resource,
    untag_resource,
)

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
        stream_ref(request),
        enforce_consumer_deletion=bool(request.get("EnforceConsumerDeletion")),
    )
    return {}


def describe_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream = kinesis.stream(ctx.account_id, ctx.region, stream_ref(request))
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
            "StreamModeDetails": mode(stream),
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
    stream = kinesis.stream(ctx.account_id, ctx.region, stream_ref(request))
    return {
        "StreamDescriptionSummary": {
            "StreamName": stream.name,
            "StreamARN": stream.arn,
            "StreamStatus": stream.status,
            "StreamModeDetails": mode(stream),
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
                "StreamModeDetails": mode(s),
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
    return _set_retention(ctx, request, increase=True)


def decrease_stream_retention_period(ctx: RequestContext, request: Request) -> Response:
    return _set_retention(ctx, request, increase=False)


def _set_retention(ctx: RequestContext, request: Request, *, increase: bool) -> Response:
    kinesis: Kinesis = ctx.service
    where = (ctx.account_id, ctx.region, stream_ref(request))
    kinesis.set_retention(*where, request["RetentionPeriodHours"], increase=increase)
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
        stream_ref(request),
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
        stream_ref(request),
        "merge",
        request["ShardToMerge"],
        request["AdjacentShardToMerge"],
    )
    return {}


def update_shard_count(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    ref = stream_ref(request)
    target = request["TargetShardCount"]
    before, _ = kinesis.reshard(ctx.account_id, ctx.region, ref, "uniform", target)
    stream = kinesis.stream(ctx.account_id, ctx.region, ref)
    return {
        "StreamName": stream.name,
        "StreamARN": stream.arn,
        "CurrentShardCount": before,
        "TargetShardCount": target,
    }
