"""A response tule writes parses in botocore to the dict the handler returned.

For the same operation sample as the request round trip, an example output is serialized by
our protocol module and fed to botocore's own response parser, as a client would receive it.
Errors, modeled or not, must come out with the code, message, status and request id botocore
reports to callers.
"""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.handlers import parse_get_bucket_location
from botocore.model import OperationModel, ServiceModel
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from shape_examples import example, examples
from wire_support import SERVED, first_difference, normalise, op_id, sampled_operations

from tule.aws import specs
from tule.aws.http import HttpResponse
from tule.aws.protocols import registry as protocols
from tule.errors import AwsError

REQUEST_ID = "4442587FB7D0A2F9"

# Event-stream outputs are framed in `application/vnd.amazon.eventstream` messages written by
# `aws.eventstream`, not the protocol modules (Kinesis SubscribeToShard's are tested there).
EVENT_STREAM_OUTPUTS = {
    ("s3", "SelectObjectContent"),
    ("logs", "StartLiveTail"),
    ("logs", "GetLogObject"),
    ("kinesis", "SubscribeToShard"),
    ("lambda", "InvokeWithResponseStream"),
    ("sagemaker-runtime", "InvokeEndpointWithResponseStream"),
}
CASES = [c for c in sampled_operations() if c not in EVENT_STREAM_OUTPUTS]
# The deprecated TopicConfiguration has a scalar `Event` and a flattened list `Events` whose
# elements are also named `Event`: botocore cannot read the XML back unambiguously.
AMBIGUOUS_BODY = {("s3", "GetBucketNotification")}


def botocore_parse(
    protocol: str, op: OperationModel | None, shape: Any, resp: HttpResponse
) -> dict[str, Any]:
    """Parse as botocore's endpoint does: case-insensitive headers, a StreamingBody for
    streaming outputs, the raw bytes otherwise."""
    raw = resp.body if resp.stream is None else b"".join(resp.stream)
    body: Any = raw
    if op is not None and resp.status_code < 300 and op.has_streaming_output:
        body = StreamingBody(io.BytesIO(raw), len(raw))
    response = {
        "status_code": resp.status_code,
        "headers": HeadersDict(resp.headers),
        "body": body,
        "context": {"operation_name": op.name if op else ""},
    }
    parsed = create_parser(protocol).parse(response, shape)
    if op is not None and op.name == "GetBucketLocation" and resp.status_code < 300:
        # botocore reads the region off the root element in an after-call handler
        parse_get_bucket_location(parsed, SimpleNamespace(raw=raw, content=raw))
    return parsed


def _expected_status(op: OperationModel, output: dict[str, Any]) -> int:
    shape = op.output_shape
    if shape is not None:
        for name, member in shape.members.items():
            if member.serialization.get("location") == "statusCode" and name in output:
                return int(output[name])
    return int(op.http.get("responseCode", 200))


def _comparable(op: OperationModel, value: dict[str, Any], status: int) -> Any:
    """What the wire cannot tell from absence, made equal on both sides: botocore always
    reports the status code member, a (maybe empty) header map, and a payload (an empty
    body is `b""` for blobs, `{}` for structures)."""
    shape = op.output_shape
    value = normalise(shape, value)
    payload = shape.serialization.get("payload")
    if payload and value.get(payload) in (b"", "", {}):
        value.pop(payload)
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        if loc == "statusCode":
            value.setdefault(name, status)
        elif loc == "headers" and not value.get(name):
            value.pop(name, None)
    return value


@pytest.mark.parametrize(("service", "operation"), CASES, ids=[op_id(c) for c in CASES])
def test_our_response_parses_in_botocore_to_the_output(service: str, operation: str) -> None:
    _check_round_trip(service, operation)


def test_every_other_operation_response_parses_in_botocore() -> None:
    """The operations left out of the sample, in one sweep (each takes about a millisecond)."""
    sampled = set(CASES)
    failures = []
    for service in SERVED:
        for operation in specs.service_model(service).operation_names:
            if (service, operation) in sampled or (service, operation) in EVENT_STREAM_OUTPUTS:
                continue
            try:
                _check_round_trip(service, operation)
            except Exception as exc:  # report every operation that fails, not just the first
                failures.append(f"{service}.{operation}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


def test_known_exceptions_are_exactly_the_event_stream_outputs() -> None:
    found = {
        (service, operation)
        for service in SERVED
        for operation in specs.service_model(service).operation_names
        if specs.operation_model(service, operation).has_event_stream_output
    }
    assert found == EVENT_STREAM_OUTPUTS
    assert {c for c in CASES if specs.operation_model(*c).deprecated} >= AMBIGUOUS_BODY


def _check_round_trip(service: str, operation: str) -> None:
    op = specs.operation_model(service, operation)
    protocol = specs.protocol(service)
    codec = protocols.for_service(protocol)
    variants = examples(op.output_shape) if op.output_shape is not None else [("no output", {})]
    for label, output in variants:
        resp = codec.serialize_response(op, output, REQUEST_ID)
        status = _expected_status(op, output)
        parsed = botocore_parse(protocol, op, op.output_shape, resp)
        meta = parsed.pop("ResponseMetadata")
        assert (meta["RequestId"], meta["HTTPStatusCode"]) == (REQUEST_ID, status), label
        if op.output_shape is None:
            assert parsed == {}, label
            continue
        if (service, operation) in AMBIGUOUS_BODY:
            continue
        got = _comparable(op, parsed, status)
        want = _comparable(op, output, status)
        assert got == want, f"{label}: {first_difference(got, want)}"


# ---- errors ----------------------------------------------------------------------------------

# (service, method, error, code botocore reports, message botocore reports)
ERROR_CASES = [
    (
        "kinesis",
        "POST",
        AwsError("ResourceNotFoundException", "Stream s under account 0 not found.", 400),
        "ResourceNotFoundException",
        "Stream s under account 0 not found.",
    ),
    (
        "sagemaker",
        "POST",
        AwsError("InternalFailure", "The request processing has failed.", 500),
        "InternalFailure",
        "The request processing has failed.",
    ),
    (
        "logs",
        "POST",
        AwsError("ResourceAlreadyExistsException", "The specified log group already exists", 400),
        "ResourceAlreadyExistsException",
        "The specified log group already exists",
    ),
    (
        "sagemaker-runtime",
        "POST",
        AwsError("ValidationError", "Endpoint ep of account 0 not found.", 400),
        "ValidationError",
        "Endpoint ep of account 0 not found.",
    ),
    (
        "lambda",
        "GET",
        AwsError("ResourceNotFoundException", "Function not found: arn", 404),
        "ResourceNotFoundException",
        "Function not found: arn",
    ),
    (
        "s3",
        "GET",
        AwsError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": "a/b"}),
        "NoSuchKey",
        "The specified key does not exist.",
    ),
    (
        "s3",
        "PUT",
        AwsError("InternalError", "We encountered an internal error.", 500),
        "InternalError",
        "We encountered an internal error.",
    ),
    # HEAD responses have no body: botocore reports the bare status as the code.
    ("s3", "HEAD", AwsError("NoSuchKey", "gone", 404), "404", "Not Found"),
    ("s3", "HEAD", AwsError("Forbidden", "denied", 403), "403", "Forbidden"),
    (
        "sts",
        "POST",
        AwsError("ExpiredTokenException", "The security token included is expired", 400),
        "ExpiredTokenException",
        "The security token included is expired",
    ),
    (
        "sts",
        "POST",
        AwsError("InternalFailure", "boom", 500),
        "InternalFailure",
        "boom",
    ),
]


@pytest.mark.parametrize(
    ("service", "method", "error", "code", "message"),
    ERROR_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2].code}-{c[2].status_code}" for c in ERROR_CASES],
)
def test_errors_parse_in_botocore_to_code_message_status_and_request_id(
    service: str, method: str, error: AwsError, code: str, message: str
) -> None:
    model = specs.service_model(service)
    resp = protocols.for_service(specs.protocol(service)).serialize_error(
        error, model, REQUEST_ID, method
    )
    parsed = botocore_parse(specs.protocol(service), None, None, resp)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == message
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == error.status_code
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    for key, value in error.fields.items():
        if method != "HEAD" and service == "s3":  # S3 passes extra elements through to Error
            assert parsed["Error"][key] == value


def _modeled_errors() -> list[tuple[str, str]]:
    out = []
    for service in SERVED:
        model = specs.service_model(service)
        out.extend((service, shape.name) for shape in model.error_shapes)
    return out


MODELED = _modeled_errors()


def _error_status(model: ServiceModel, name: str) -> int:
    return int(model.shape_for(name).metadata.get("error", {}).get("httpStatusCode", 400))


@pytest.mark.parametrize(("service", "name"), MODELED, ids=[op_id(c) for c in MODELED])
def test_modeled_error_fields_reach_the_client_exception(service: str, name: str) -> None:
    """What botocore's endpoint does for a modeled error: match the code to the error shape and
    parse the response again with it, so `e.response` carries the shape's members."""
    model = specs.service_model(service)
    protocol = specs.protocol(service)
    shape = model.shape_for(name)
    code = shape.metadata.get("error", {}).get("code", name)
    fields = {k: v for k, v in example(shape, seed=3).items() if k not in ("message", "Message")}
    error = AwsError(code, "it went wrong", _error_status(model, name), fields=fields)
    resp = protocols.for_service(protocol).serialize_error(error, model, REQUEST_ID, "POST")
    parsed = botocore_parse(protocol, None, None, resp)
    assert parsed["Error"]["Code"] == code
    assert model.shape_for_error_code(parsed["Error"]["Code"]).name == name
    modeled = botocore_parse(protocol, None, shape, resp)
    modeled.pop("ResponseMetadata", None)
    got = normalise(shape, {k: v for k, v in modeled.items() if k not in ("message", "Message")})
    want = normalise(shape, fields)
    assert got == want, first_difference(got, want)
