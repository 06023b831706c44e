"""The Lambda processor: Firehose's data-transformation contract with a Lambda function.

Buffered records go to the function in synchronous invocations of about BufferSizeInMBs of
record data each (and never more than Lambda's 6 MB request limit), as the event

    {"invocationId", "deliveryStreamArn", "region", "records": [{"recordId",
     "approximateArrivalTimestamp", "data"}]}

(plus `sourceKinesisStreamArn` and each record's `kinesisRecordMetadata` for a Kinesis source).
The function answers `{"records": [{"recordId", "result", "data", "metadata"}]}`. An invocation
that errors, or whose answer breaks the contract (not JSON, a record id missing, repeated or
unknown, a result other than Ok / Dropped / ProcessingFailed, an Ok without data), is retried
NumberOfRetries times; after that every record of the batch has failed. `Ok` records continue
with the returned data (and `metadata.partitionKeys` for dynamic partitioning), `Dropped` ones
are gone, `ProcessingFailed` ones go to the processing-failed error output with the original
data.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any

from tule.clock import Clock
from tule.errors import AwsError
from tule.services.firehose.destination import LambdaProcessor
from tule.services.firehose.processing import Item, error_document

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
_RESULTS = ("Ok", "Dropped", "ProcessingFailed")


class _ContractError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TransformResult:
    ok: list[Item]
    failed: list[tuple[int, bytes]]  # (arrival ms, processing-failed JSON line)


@dataclass(frozen=True)
class Invocation:
    """Where the function is and what to say about the stream."""

    account: str
    region: str
    stream_arn: str
    kinesis_arn: str | None


def _batches(items: list[Item], limit: int) -> list[list[Item]]:
    batches: list[list[Item]] = []
    current: list[Item] = []
    size = 0
    for item in items:
        encoded = (len(item.data) + 2) // 3 * 4 + 200  # base64 plus the record's JSON members
        if current and size + encoded > limit:
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += encoded
    if current:
        batches.append(current)
    return batches


def transform(
    items: list[Item], lam: Any, processor: LambdaProcessor, where: Invocation, clock: Clock
) -> TransformResult:
    ok: list[Item] = []
    failed: list[tuple[int, bytes]] = []
    limit = min(max(processor.buffer_bytes * 4 // 3, 1), LAMBDA_PAYLOAD_LIMIT - 4096)
    for batch in _batches(items, limit):
        result = _run_batch(batch, lam, processor, where, clock)
        ok.extend(result.ok)
        failed.extend(result.failed)
    return TransformResult(ok, failed)


def _event(batch: list[Item], ids: list[str], where: Invocation) -> bytes:
    records = []
    for rid, item in zip(ids, batch, strict=True):
        record: dict[str, Any] = {
            "recordId": rid,
            "approximateArrivalTimestamp": item.arrival_ms,
            "data": base64.b64encode(item.data).decode(),
        }
        if item.kinesis is not None:
            record["kinesisRecordMetadata"] = item.kinesis
        records.append(record)
    event: dict[str, Any] = {
        "invocationId": str(uuid.uuid4()),
        "deliveryStreamArn": where.stream_arn,
        "region": where.region,
        "records": records,
    }
    if where.kinesis_arn is not None:
        event["sourceKinesisStreamArn"] = where.kinesis_arn
    return json.dumps(event).encode()


def _run_batch(
    batch: list[Item], lam: Any, processor: LambdaProcessor, where: Invocation, clock: Clock
) -> TransformResult:
    base = uuid.uuid4().hex
    ids = [f"{base}{i:08d}" for i in range(len(batch))]
    attempts = 0
    error = _ContractError("Lambda.FunctionError", "The Lambda function was not invoked.")
    for _ in range(processor.retries + 1):
        attempts += 1
        try:
            answers = _invoke(batch, ids, lam, processor, where)
        except _ContractError as err:
            error = err
            continue
        return _apply(batch, ids, answers, processor, attempts, clock)
    now_ms = int(clock.time() * 1000)
    failed = [
        (
            item.arrival_ms,
            error_document(
                item,
                code=error.code,
                message=str(error),
                attempts=attempts,
                now_ms=now_ms,
                lambdaArn=processor.arn,
            ),
        )
        for item in batch
    ]
    return TransformResult([], failed)


def _invoke(
    batch: list[Item], ids: list[str], lam: Any, processor: LambdaProcessor, where: Invocation
) -> dict[str, dict[str, Any]]:
    if lam is None:
        raise _ContractError("Lambda.FunctionError", "The Lambda service is not available.")
    try:
        answer = lam.invoke(where.account, where.region, processor.arn, _event(batch, ids, where))
    except AwsError as err:
        raise _ContractError(f"Lambda.{err.code}", err.message) from None
    if answer.function_error:
        detail = answer.payload.decode(errors="replace")[:1024]
        raise _ContractError("Lambda.FunctionError", f"The Lambda function failed: {detail}")
    try:
        body = json.loads(answer.payload)
        records = body["records"]
        if not isinstance(records, list):
            raise TypeError("records is not a list")
    except (ValueError, KeyError, TypeError) as err:
        raise _ContractError(
            "Lambda.JsonProcessingException",
            f"The Lambda function's response is not a valid transformation response: {err}",
        ) from None
    expected = set(ids)
    answers: dict[str, dict[str, Any]] = {}
    for record in records:
        rid = record.get("recordId") if isinstance(record, dict) else None
        if rid not in expected:
            raise _ContractError(
                "Lambda.InvalidRecordId", f"The response has a recordId not in the request: {rid}"
            )
        if rid in answers:
            raise _ContractError("Lambda.DuplicatedRecordId", f"recordId {rid} appears twice.")
        result = record.get("result")
        if result not in _RESULTS:
            raise _ContractError(
                "Lambda.InvalidResult",
                f"recordId {rid} has result {result!r}; expected Ok, Dropped or ProcessingFailed.",
            )
        if result == "Ok" and not isinstance(record.get("data"), str):
            raise _ContractError("Lambda.MissingData", f"recordId {rid} is Ok but has no data.")
        answers[rid] = record
    missing = expected - answers.keys()
    if missing:
        raise _ContractError(
            "Lambda.MissingRecordId",
            f"{len(missing)} recordId(s) of the request are missing from the response.",
        )
    return answers


def _apply(
    batch: list[Item],
    ids: list[str],
    answers: dict[str, dict[str, Any]],
    processor: LambdaProcessor,
    attempts: int,
    clock: Clock,
) -> TransformResult:
    ok: list[Item] = []
    failed: list[tuple[int, bytes]] = []
    now_ms = int(clock.time() * 1000)
    for rid, item in zip(ids, batch, strict=True):
        record = answers[rid]
        result = record["result"]
        if result == "Dropped":
            continue
        if result == "Ok":
            try:
                data = base64.b64decode(record["data"], validate=True)
            except (binascii.Error, ValueError):
                failed.append(
                    (
                        item.arrival_ms,
                        error_document(
                            item,
                            code="Lambda.InvalidData",
                            message="The returned data is not valid base64.",
                            attempts=attempts,
                            now_ms=now_ms,
                            lambdaArn=processor.arn,
                        ),
                    )
                )
                continue
            keys = (record.get("metadata") or {}).get("partitionKeys") or {}
            ok.append(
                Item(item.arrival_ms, data, item.kinesis, {str(k): str(v) for k, v in keys.items()})
            )
        else:
            failed.append(
                (
                    item.arrival_ms,
                    error_document(
                        item,
                        code="Lambda.ProcessingFailedStatus",
                        message="The Lambda function returned ProcessingFailed for the record.",
                        attempts=attempts,
                        now_ms=now_ms,
                        lambdaArn=processor.arn,
                    ),
                )
            )
    return TransformResult(ok, failed)
