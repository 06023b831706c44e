"""Kinesis handlers of the data plane: PutRecord, PutRecords, GetShardIterator, GetRecords."""

from __future__ import annotations

from tule.context import RequestContext
from tule.errors import AwsError
from tule.services.kinesis import Kinesis
from tule.services.kinesis.errors import dry_run_refusal, validation
from tule.services.kinesis.records import Entries
from tule.services.kinesis.shapes import (
    Request,
    Response,
    child_shards,
    record_list,
    stream_ref,
)


def _no_partition_key(where: str) -> AwsError:
    # botocore's model no longer marks PartitionKey required (streams may distribute records
    # themselves), but tule's streams route by key as the classic service does, which needs it.
    return validation(
        f"1 validation error detected: Value null at '{where}' failed to satisfy "
        "constraint: Member must not be null"
    )


def _entries(records: list[Request]) -> Entries:
    keys = [r.get("PartitionKey") for r in records]
    if None in keys:
        raise _no_partition_key(f"records.{keys.index(None) + 1}.member.partitionKey")
    return Entries(keys, [r["Data"] for r in records], [r.get("ExplicitHashKey") for r in records])


# The two puts are coroutines, so the gateway answers them on its event loop: writing the
# records takes no thread, and waiting for the flush holds none (`flushing.durable`).


async def put_record(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    if request.get("PartitionKey") is None:
        raise _no_partition_key("partitionKey")
    entry = Entries([request["PartitionKey"]], [request["Data"]], [request.get("ExplicitHashKey")])
    (result,) = await kinesis.put(
        ctx.account_id,
        ctx.region,
        stream_ref(request),
        entry,
        whole=True,
        dry_run=bool(request.get("DryRun")),
    )
    return {
        "ShardId": result.shard_id,
        "SequenceNumber": result.sequence_number,
        "EncryptionType": "NONE",
    }


async def put_records(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    entries = _entries(request["Records"])
    results = await kinesis.put(
        ctx.account_id,
        ctx.region,
        stream_ref(request),
        entries,
        whole=False,
        dry_run=bool(request.get("DryRun")),
    )
    out: list[Response] = [
        {"SequenceNumber": sequence_number, "ShardId": shard_id}
        if error_code is None
        else {"ErrorCode": error_code, "ErrorMessage": error_message}
        for shard_id, sequence_number, error_code, error_message in results
    ]
    failed = sum(1 for r in results if r.error_code is not None)
    # AWS sends 0 when nothing failed, though the model's minimum is 1.
    return {"FailedRecordCount": failed, "Records": out, "EncryptionType": "NONE"}


def get_shard_iterator(ctx: RequestContext, request: Request) -> Response:
    kinesis: Kinesis = ctx.service
    iterator = kinesis.shard_iterator(
        ctx.account_id,
        ctx.region,
        stream_ref(request),
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
        "Records": record_list(batch.records, batch.sequence_numbers),
        "MillisBehindLatest": batch.millis_behind,
    }
    if following is not None:
        out["NextShardIterator"] = following
    else:
        out["ChildShards"] = child_shards(batch.children)
    return out
