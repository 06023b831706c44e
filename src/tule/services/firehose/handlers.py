"""Amazon Data Firehose operation handlers: request shape -> one domain call -> response shape."""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.firehose import Firehose
from tule.services.firehose.errors import invalid_argument

Request = dict[str, Any]
Response = dict[str, Any]

MAX_BATCH_BYTES = 4 * 1024 * 1024


def create_delivery_stream(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    stream = firehose.create_delivery_stream(ctx.account_id, ctx.region, request)
    return {"DeliveryStreamARN": stream.arn}


def describe_delivery_stream(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    desc = firehose.describe(ctx.account_id, ctx.region, request["DeliveryStreamName"])
    # One destination: a start after it, or after an unknown id, leaves none.
    if request.get("ExclusiveStartDestinationId"):
        desc["Destinations"] = []
    return {"DeliveryStreamDescription": desc}


def list_delivery_streams(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    names = firehose.list_names(ctx.account_id, ctx.region, request.get("DeliveryStreamType"))
    start = request.get("ExclusiveStartDeliveryStreamName")
    if start:
        names = [n for n in names if n > start]
    limit = request.get("Limit") or 10
    return {"DeliveryStreamNames": names[:limit], "HasMoreDeliveryStreams": len(names) > limit}


def delete_delivery_stream(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    firehose.delete_delivery_stream(ctx.account_id, ctx.region, request["DeliveryStreamName"])
    return {}


def update_destination(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    update = request.get("ExtendedS3DestinationUpdate")
    if update is None:
        update = request.get("S3DestinationUpdate")
    others = [
        k
        for k in request
        if k.endswith("DestinationUpdate")
        and k not in ("ExtendedS3DestinationUpdate", "S3DestinationUpdate")
    ]
    if others:
        raise invalid_argument(f"{others[0]}: tule delivers to Amazon S3 only.")
    if update is None:
        raise invalid_argument("ExtendedS3DestinationUpdate or S3DestinationUpdate is required.")
    firehose.update_destination(
        ctx.account_id,
        ctx.region,
        request["DeliveryStreamName"],
        request["CurrentDeliveryStreamVersionId"],
        request["DestinationId"],
        update,
    )
    return {}


def put_record(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    (record_id,) = firehose.put_records(
        ctx.account_id, ctx.region, request["DeliveryStreamName"], [request["Record"]["Data"]]
    )
    return {"RecordId": record_id, "Encrypted": False}


def put_record_batch(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    datas = [r["Data"] for r in request["Records"]]
    total = sum(len(d) for d in datas)
    if total > MAX_BATCH_BYTES:
        raise invalid_argument(
            f"Records size {total} bytes exceeds the PutRecordBatch limit of "
            f"{MAX_BATCH_BYTES} bytes."
        )
    ids = firehose.put_records(ctx.account_id, ctx.region, request["DeliveryStreamName"], datas)
    return {
        "FailedPutCount": 0,
        "Encrypted": False,
        "RequestResponses": [{"RecordId": i} for i in ids],
    }


def tag_delivery_stream(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    tags = {t["Key"]: t.get("Value", "") for t in request["Tags"]}
    firehose.tag(ctx.account_id, ctx.region, request["DeliveryStreamName"], tags)
    return {}


def untag_delivery_stream(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    firehose.untag(ctx.account_id, ctx.region, request["DeliveryStreamName"], request["TagKeys"])
    return {}


def list_tags_for_delivery_stream(ctx: RequestContext, request: Request) -> Response:
    firehose: Firehose = ctx.service
    tags = sorted(firehose.tags(ctx.account_id, ctx.region, request["DeliveryStreamName"]).items())
    start = request.get("ExclusiveStartTagKey")
    if start:
        tags = [(k, v) for k, v in tags if k > start]
    limit = request.get("Limit") or 50
    return {
        "Tags": [{"Key": k, "Value": v} for k, v in tags[:limit]],
        "HasMoreTags": len(tags) > limit,
    }
