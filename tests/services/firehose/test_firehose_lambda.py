"""The Lambda processor, end to end with a real function created through boto3's lambda client:
the event Firehose sends, Ok / Dropped / ProcessingFailed, retries, broken answers, and
partition keys returned by the function."""

from __future__ import annotations

import base64
import io
import json
import textwrap
import zipfile
from typing import Any

import pytest
from firehose_helpers import body, keys, s3_destination, unique

from tule.clock import ManualClock

TRANSFORM = """
import base64, json

def handler(event, context):
    out = []
    for r in event["records"]:
        data = base64.b64decode(r["data"])
        if data == b"bad":
            out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
        elif data == b"drop":
            out.append({"recordId": r["recordId"], "result": "Dropped"})
        else:
            doc = {"up": data.decode().upper(), "arn": event["deliveryStreamArn"],
                   "region": event["region"], "ts": r["approximateArrivalTimestamp"],
                   "has_invocation_id": bool(event["invocationId"])}
            out.append({"recordId": r["recordId"], "result": "Ok",
                        "data": base64.b64encode(json.dumps(doc).encode() + b"\\n").decode(),
                        "metadata": {"partitionKeys": {"kind": data.decode()[:1]}}})
    return {"records": out}
"""
FAILING = """
def handler(event, context):
    raise RuntimeError("boom")
"""
WRONG_IDS = """
def handler(event, context):
    return {"records": [{"recordId": "not-" + r["recordId"], "result": "Ok", "data": r["data"]}
                        for r in event["records"]]}
"""


def _function(server: Any, source: str) -> str:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("app.py", textwrap.dedent(source))
    name = unique("fn")
    arn = server.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/lambda",
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
    )["FunctionArn"]
    return arn


def _processing(arn: str, retries: int = 3) -> dict[str, Any]:
    return {
        "Enabled": True,
        "Processors": [
            {
                "Type": "Lambda",
                "Parameters": [
                    {"ParameterName": "LambdaArn", "ParameterValue": arn},
                    {"ParameterName": "NumberOfRetries", "ParameterValue": str(retries)},
                ],
            }
        ],
    }


def _run(firehose: Any, domain: Any, clock: ManualClock, name: str, records: list[bytes]) -> None:
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])
    clock.advance(61)  # the Lambda buffer's and the S3 buffer's intervals
    domain.flush_due()


def _lines(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    out = []
    for key in keys(s3, bucket, prefix):
        out += [json.loads(line) for line in body(s3, bucket, key).splitlines()]
    return out


def test_transform_contract_ok_dropped_and_processing_failed(
    server: Any, firehose: Any, s3: Any, domain: Any, clock: ManualClock, bucket: str
) -> None:
    arn = _function(server, TRANSFORM)
    name = unique("stream")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=s3_destination(
            bucket,
            Prefix="ok/",
            ErrorOutputPrefix="failed/",
            BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60},
            ProcessingConfiguration=_processing(arn),
        ),
    )
    arrival = int(clock.time() * 1000)
    _run(firehose, domain, clock, name, [b"abc", b"drop", b"bad", b"xyz"])
    (data_key,) = keys(s3, bucket, "ok/")
    docs = [json.loads(line) for line in body(s3, bucket, data_key).splitlines()]
    assert [d["up"] for d in docs] == ["ABC", "XYZ"]
    stream_arn = f"arn:aws:firehose:us-east-1:000000000000:deliverystream/{name}"
    assert all(d["arn"] == stream_arn and d["region"] == "us-east-1" for d in docs)
    assert all(d["ts"] == arrival and d["has_invocation_id"] for d in docs)
    (error_key,) = keys(s3, bucket, "failed/")
    assert error_key.startswith("failed/processing-failed/")
    (failed,) = _lines(s3, bucket, "failed/")
    assert set(failed) == {
        "attemptsMade",
        "arrivalTimestamp",
        "errorCode",
        "errorMessage",
        "attemptEndingTimestamp",
        "rawData",
        "lambdaArn",
    }
    assert base64.b64decode(failed["rawData"]) == b"bad"
    assert failed["errorCode"] == "Lambda.ProcessingFailedStatus"
    assert (failed["attemptsMade"], failed["arrivalTimestamp"]) == (1, arrival)
    assert failed["lambdaArn"] == arn


@pytest.mark.parametrize(
    ("source", "code"),
    [(FAILING, "Lambda.FunctionError"), (WRONG_IDS, "Lambda.InvalidRecordId")],
    ids=["function-error", "mismatched-record-id"],
)
def test_a_failing_invocation_is_retried_then_every_record_fails(
    server: Any,
    firehose: Any,
    s3: Any,
    domain: Any,
    clock: ManualClock,
    bucket: str,
    source: str,
    code: str,
) -> None:
    arn = _function(server, source)
    name = unique("stream")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=s3_destination(
            bucket,
            BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60},
            ProcessingConfiguration=_processing(arn, retries=1),
        ),
    )
    _run(firehose, domain, clock, name, [b"r1", b"r2"])
    failed = _lines(s3, bucket, "processing-failed/")  # no ErrorOutputPrefix nor Prefix
    assert sorted(base64.b64decode(f["rawData"]) for f in failed) == [b"r1", b"r2"]
    assert {f["errorCode"] for f in failed} == {code}
    assert {f["attemptsMade"] for f in failed} == {2}  # the first try and one retry
    assert [k for k in keys(s3, bucket) if not k.startswith("processing-failed/")] == []


def test_partition_keys_from_lambda_give_one_object_per_prefix(
    server: Any, firehose: Any, s3: Any, domain: Any, clock: ManualClock, bucket: str
) -> None:
    arn = _function(server, TRANSFORM)
    name = unique("stream")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=s3_destination(
            bucket,
            Prefix="kind=!{partitionKeyFromLambda:kind}/",
            ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
            ProcessingConfiguration=_processing(arn),
            DynamicPartitioningConfiguration={"Enabled": True},
        ),
    )
    _run(firehose, domain, clock, name, [b"apple", b"avocado", b"banana"])
    found = sorted(keys(s3, bucket))
    assert [k.split("/")[0] for k in found] == ["kind=a", "kind=b"]
    apples = [json.loads(x)["up"] for x in body(s3, bucket, found[0]).splitlines()]
    assert apples == ["APPLE", "AVOCADO"]
