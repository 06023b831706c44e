"""Kinesis handlers of tags: by stream (AddTagsToStream and friends) and by resource ARN."""

from __future__ import annotations

from tule.context import RequestContext
from tule.services.kinesis import Kinesis
from tule.services.kinesis.errors import invalid_argument
from tule.services.kinesis.listing import list_tags_page
from tule.services.kinesis.shapes import Request, Response, stream_ref


def _tag_list(tags: dict[str, str]) -> list[Response]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def add_tags_to_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.tag(ctx.account_id, ctx.region, stream_ref(request), request["Tags"])
    return {}


def remove_tags_from_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    kinesis.untag(ctx.account_id, ctx.region, stream_ref(request), request["TagKeys"])
    return {}


def list_tags_for_stream(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    stream = kinesis.stream(ctx.account_id, ctx.region, stream_ref(request))
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
