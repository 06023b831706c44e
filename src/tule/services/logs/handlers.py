"""CloudWatch Logs operation handlers: request shape -> one domain call -> response shape."""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.logs import Logs
from tule.services.logs.errors import invalid_parameter
from tule.services.logs.models import (
    LogGroup,
    LogStream,
    StreamStats,
    group_name_from_identifier,
)

Request = dict[str, Any]
Response = dict[str, Any]


def _group_name(request: Request) -> str:
    """The group a request names, by `logGroupName` or by `logGroupIdentifier` (name or ARN)."""
    name, identifier = request.get("logGroupName"), request.get("logGroupIdentifier")
    if (name is None) == (identifier is None):
        raise invalid_parameter(
            "You must specify either logGroupName or logGroupIdentifier, but not both."
        )
    return name if name is not None else group_name_from_identifier(identifier)


def _group(g: LogGroup, stored_bytes: int, names_only: bool) -> Response:
    out: Response = {"logGroupName": g.name, "creationTime": g.creation_time, "arn": g.arn}
    if names_only:
        return out
    return out | {
        "retentionInDays": g.retention_in_days,
        "metricFilterCount": 0,
        "storedBytes": stored_bytes,
        "kmsKeyId": g.kms_key_id,
        "logGroupClass": g.log_group_class,
        "logGroupArn": g.group_arn,
    }


def _stream(s: LogStream, stats: StreamStats) -> Response:
    return {
        "logStreamName": s.name,
        "creationTime": s.creation_time,
        "firstEventTimestamp": stats.first_event_timestamp,
        "lastEventTimestamp": stats.last_event_timestamp,
        "lastIngestionTime": stats.last_ingestion_time,
        "uploadSequenceToken": stats.upload_sequence_token,
        "arn": s.arn,
        # AWS: "As of June 17, 2019, this parameter is no longer supported for log streams,
        # and is always reported as zero." Group storedBytes stays real.
        "storedBytes": 0,
    }


def create_log_group(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    logs.create_log_group(
        ctx.account_id,
        ctx.region,
        request["logGroupName"],
        kms_key_id=request.get("kmsKeyId"),
        tags=request.get("tags"),
        log_group_class=request.get("logGroupClass"),
    )
    return {}


def delete_log_group(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    logs.delete_log_group(ctx.account_id, ctx.region, request["logGroupName"])
    return {}


def describe_log_groups(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    page = logs.describe_log_groups(
        ctx.account_id,
        ctx.region,
        prefix=request.get("logGroupNamePrefix"),
        pattern=request.get("logGroupNamePattern"),
        identifiers=request.get("logGroupIdentifiers"),
        log_group_class=request.get("logGroupClass"),
        limit=request.get("limit"),
        token=request.get("nextToken"),
    )
    groups = [_group(g, page.stored_bytes.get(g.uid, 0), page.names_only) for g in page.groups]
    return {"logGroups": groups, "nextToken": page.next_token}


def put_retention_policy(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    logs.put_retention_policy(
        ctx.account_id, ctx.region, request["logGroupName"], request["retentionInDays"]
    )
    return {}


def delete_retention_policy(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    logs.delete_retention_policy(ctx.account_id, ctx.region, request["logGroupName"])
    return {}


def create_log_stream(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    logs.create_log_stream(
        ctx.account_id, ctx.region, request["logGroupName"], request["logStreamName"]
    )
    return {}


def delete_log_stream(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    logs.delete_log_stream(
        ctx.account_id, ctx.region, request["logGroupName"], request["logStreamName"]
    )
    return {}


def describe_log_streams(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    page = logs.describe_log_streams(
        ctx.account_id,
        ctx.region,
        _group_name(request),
        prefix=request.get("logStreamNamePrefix"),
        order_by=request.get("orderBy"),
        descending=bool(request.get("descending")),
        limit=request.get("limit"),
        token=request.get("nextToken"),
    )
    return {
        "logStreams": [_stream(s, stats) for s, stats in page.streams],
        "nextToken": page.next_token,
    }


def put_log_events(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    # `sequenceToken` is accepted and ignored, as AWS has done since January 2023.
    result = logs.put_log_events(
        ctx.account_id,
        ctx.region,
        request["logGroupName"],
        request["logStreamName"],
        [(e["timestamp"], e["message"]) for e in request["logEvents"]],
    )
    out: Response = {"nextSequenceToken": result.next_sequence_token}
    if result.rejected:
        out["rejectedLogEventsInfo"] = {
            "tooNewLogEventStartIndex": result.rejected.too_new_start,
            "tooOldLogEventEndIndex": result.rejected.too_old_end,
            "expiredLogEventEndIndex": result.rejected.expired_end,
        }
    return out


def get_log_events(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    page = logs.get_log_events(
        ctx.account_id,
        ctx.region,
        _group_name(request),
        request["logStreamName"],
        start_time=request.get("startTime"),
        end_time=request.get("endTime"),
        start_from_head=bool(request.get("startFromHead")),
        limit=request.get("limit"),
        token=request.get("nextToken"),
    )
    return {
        "events": [
            {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}
            for e in page.events
        ],
        "nextForwardToken": page.next_forward_token,
        "nextBackwardToken": page.next_backward_token,
    }


def filter_log_events(ctx: RequestContext, request: Request) -> Response:
    logs: Logs = ctx.service
    result = logs.filter_log_events(
        ctx.account_id,
        ctx.region,
        _group_name(request),
        stream_names=request.get("logStreamNames"),
        stream_prefix=request.get("logStreamNamePrefix"),
        start_time=request.get("startTime"),
        end_time=request.get("endTime"),
        pattern=request.get("filterPattern"),
        limit=request.get("limit"),
        token=request.get("nextToken"),
    )
    complete = result.next_token is None
    return {
        "events": [
            {
                "logStreamName": stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion_time,
                "eventId": e.event_id,
            }
            for stream, e in result.events
        ],
        "searchedLogStreams": [
            {"logStreamName": name, "searchedCompletely": complete}
            for name in result.searched_streams
        ],
        "nextToken": result.next_token,
    }
