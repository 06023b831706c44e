"""A request botocore builds routes to its own operation and parses back to the same params.

For a sample of operations of every served service (implemented in tule or not), example params
are serialized by botocore's own serializer, rendered into a URL as the client does, signed, and
handed to the router and the protocol module as the gateway would receive them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.config import Config
from shape_examples import examples
from wire_support import (
    SERVED,
    botocore_request,
    drop_wire_defaults,
    first_difference,
    normalise,
    op_id,
    s3_client_headers,
    sampled_operations,
    to_http_request,
)

from tule.aws import specs
from tule.aws.http import HttpRequest
from tule.aws.protocols import registry as protocols
from tule.aws.routing import route

CASES = sampled_operations()

# Requests the wire cannot tell apart. Each deprecated S3 operation sends exactly the request
# of its successor (same method, URI and query keys), and the router picks the successor.
SAME_WIRE_AS = {
    ("s3", "GetBucketLifecycle"): "GetBucketLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "PutBucketLifecycleConfiguration",
    ("s3", "GetBucketNotification"): "GetBucketNotificationConfiguration",
    ("s3", "PutBucketNotification"): "PutBucketNotificationConfiguration",
}
# Bodies that cannot be decoded unambiguously, whoever reads them: the deprecated
# TopicConfiguration has a scalar `Event` and a flattened list `Events` whose elements are
# also named `Event`.
AMBIGUOUS_BODY = {("s3", "PutBucketNotification")}


def _expected_operation(service: str, operation: str, params: dict[str, Any]) -> str:
    if (service, operation) in SAME_WIRE_AS:
        return SAME_WIRE_AS[service, operation]
    if (service, operation) == ("s3", "ListDirectoryBuckets") and "MaxDirectoryBuckets" not in (
        params
    ):
        # `GET /?continuation-token=...` is ListBuckets too; only `max-directory-buckets`
        # (on AWS, the s3express-control host) tells the two apart.
        return "ListBuckets"
    return operation


S3_BUCKET_CASES = [
    (s, o)
    for s, o in CASES
    if s == "s3"
    and "{Bucket}" in specs.operation_model(s, o).http["requestUri"]
    and not specs.operation_model(s, o).endpoint
]


def _variants(service: str, operation: str) -> list[tuple[str, dict[str, Any]]]:
    op = specs.operation_model(service, operation)
    if op.input_shape is None:
        return [("no input", {})]
    return examples(op.input_shape)


def _sent(service: str, operation: str, params: dict, endpoint: str | None = None):
    op = specs.operation_model(service, operation)
    extra, injected = s3_client_headers(op, params) if service == "s3" else ({}, set())
    kwargs = {"endpoint": endpoint} if endpoint else {}
    return to_http_request(botocore_request(op, params, extra_headers=extra, **kwargs)), injected


def _parsed(
    service: str, operation: str, req: HttpRequest, path_params: dict, sent: dict, injected: set
) -> Any:
    op = specs.operation_model(service, operation)
    codec = protocols.for_service(specs.protocol(service))
    parsed = codec.parse_request(op, req, path_params)
    drop_wire_defaults(op, sent, parsed)
    for name in injected:
        parsed.pop(name, None)
    return normalise(op.input_shape, parsed)


@pytest.mark.parametrize(("service", "operation"), CASES, ids=[op_id(c) for c in CASES])
def test_botocore_request_routes_to_its_operation_and_parses_back(
    service: str, operation: str
) -> None:
    _check_round_trip(service, operation)


def test_every_other_operation_routes_and_parses_back() -> None:
    """The operations left out of the sample, in one sweep (each takes about a millisecond)."""
    sampled = set(CASES)
    failures = []
    for service in SERVED:
        for operation in specs.service_model(service).operation_names:
            if (service, operation) in sampled:
                continue
            try:
                _check_round_trip(service, operation)
            except Exception as exc:  # report every operation that fails, not just the first
                failures.append(f"{service}.{operation}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


def _check_round_trip(service: str, operation: str) -> None:
    op = specs.operation_model(service, operation)
    for label, params in _variants(service, operation):
        req, injected = _sent(service, operation, params)
        r = route(req, SERVED)
        where = f"{label}: {req.method} {req.path}?{req.query}"
        assert (r.service, r.operation) == (
            service,
            _expected_operation(service, operation, params),
        ), where
        if (service, operation) in AMBIGUOUS_BODY:
            continue
        got = _parsed(service, operation, req, r.path_params, params, injected)
        want = normalise(op.input_shape, params)
        assert got == want, f"{where}: {first_difference(got, want)}"


@pytest.mark.parametrize(
    ("service", "operation"), S3_BUCKET_CASES, ids=[op_id(c) for c in S3_BUCKET_CASES]
)
def test_s3_virtual_host_request_routes_and_parses_back(service: str, operation: str) -> None:
    """botocore's virtual addressing moves the bucket from the path into the Host header."""
    op = specs.operation_model(service, operation)
    for label, params in _variants(service, operation):
        req, injected = _sent(service, operation, params, "http://localhost:4566")
        prefix = "/" + params["Bucket"]
        assert req.path == prefix or req.path.startswith(prefix + "/"), req.path
        req.path = req.path[len(prefix) :] or "/"
        req.headers["host"] = f"{params['Bucket']}.localhost:4566"
        r = route(req, SERVED)
        where = f"{label}: {req.method} {req.headers['host']}{req.path}?{req.query}"
        assert (r.service, r.operation, r.bucket_from_host) == (
            service,
            _expected_operation(service, operation, params),
            params["Bucket"],
        ), where
        if (service, operation) in AMBIGUOUS_BODY:
            continue
        got = _parsed(service, operation, req, r.path_params, params, injected)
        want = normalise(op.input_shape, params)
        assert got == want, f"{where}: {first_difference(got, want)}"


def test_known_exceptions_name_real_operations() -> None:
    for (service, operation), other in SAME_WIRE_AS.items():
        model = specs.service_model(service)
        assert model.operation_model(operation).deprecated
        assert other in model.operation_names
    assert set(SAME_WIRE_AS) >= AMBIGUOUS_BODY


def test_sample_covers_every_served_service() -> None:
    assert {s for s, _ in CASES} == set(SERVED)
    assert len([c for c in CASES if c[0] == "s3"]) == len(specs.service_model("s3").operation_names)


# ---- requests from a real boto3 client ------------------------------------------------------

# Members a client fills in by itself: S3 request checksums and `x-amz-checksum-mode` to have
# responses validated (botocore >= 1.36), `EncodingType=url` on listings, Content-Length from
# the HTTP layer, idempotency tokens.
CLIENT_FILLED = {
    "ChecksumAlgorithm",
    "ChecksumCRC32",
    "ChecksumMode",
    "ContentMD5",
    "ContentLength",
    "EncodingType",
}

CLIENT_CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "s3",
        "PutObject",
        {
            "Bucket": "my-bucket",
            "Key": "a/b c+d.txt",
            "Body": b"hello",
            "ContentType": "text/plain",
            "Metadata": {"Foo-Bar": "v1", "x": "y"},
        },
    ),
    (
        "s3",
        "UploadPart",
        {"Bucket": "b", "Key": "k", "PartNumber": 2, "UploadId": "u1", "Body": b"p"},
    ),
    ("s3", "CopyObject", {"Bucket": "b", "Key": "k2", "CopySource": "src/k1"}),
    (
        "s3",
        "DeleteObjects",
        {"Bucket": "b", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b/c"}], "Quiet": True}},
    ),
    (
        "s3",
        "PutBucketLifecycleConfiguration",
        {
            "Bucket": "b",
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "ID": "r1",
                        "Status": "Enabled",
                        "Filter": {"Prefix": "logs/"},
                        "Expiration": {"Days": 3},
                    }
                ]
            },
        },
    ),
    ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "a/", "Delimiter": "/", "MaxKeys": 10}),
    ("s3", "GetObject", {"Bucket": "b", "Key": "k", "Range": "bytes=0-1"}),
    (
        "s3",
        "CreateBucket",
        {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}},
    ),
    ("athena", "StartQueryExecution", {"QueryString": "SELECT 1", "WorkGroup": "primary"}),
    ("kinesis", "PutRecord", {"StreamName": "s", "Data": b"\x00\x01", "PartitionKey": "pk"}),
    (
        "sagemaker-runtime",
        "InvokeEndpoint",
        {"EndpointName": "ep1", "Body": b"1,2,3", "ContentType": "text/csv", "Accept": "text/csv"},
    ),
    ("lambda", "Invoke", {"FunctionName": "f", "Payload": b'{"a": 1}', "LogType": "Tail"}),
    ("sts", "GetCallerIdentity", {}),
    (
        "logs",
        "PutLogEvents",
        {
            "logGroupName": "g",
            "logStreamName": "s",
            "logEvents": [{"timestamp": 1, "message": "m"}],
        },
    ),
]


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def _capture(**kwargs: Any) -> None:
    raise _Captured(kwargs["request"])


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
    )


@cache
def _client(service: str) -> Any:
    """A boto3 client whose requests stop just before they would be sent."""
    client = _session().client(
        service,
        endpoint_url="http://127.0.0.1:4566",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    client.meta.events.register("before-send", _capture)
    return client


@pytest.mark.parametrize(
    ("service", "operation", "params"), CLIENT_CASES, ids=[f"{c[0]}.{c[1]}" for c in CLIENT_CASES]
)
def test_boto3_client_request_routes_and_parses_back(
    service: str, operation: str, params: dict[str, Any]
) -> None:
    """The request exactly as boto3 sends it, handlers included (checksums, `Expect`, tokens)."""
    op = specs.operation_model(service, operation)
    method = getattr(_client(service), xform_name(operation))
    with pytest.raises(_Captured) as captured:
        method(**params)
    req = to_http_request(captured.value.request)
    r = route(req, SERVED)
    assert (r.service, r.operation) == (service, operation)
    if service == "s3" and op.has_streaming_input:
        assert req.headers.get("expect") == "100-continue"
    if op.http_checksum.get("requestChecksumRequired") or "requestAlgorithmMember" in (
        op.http_checksum
    ):
        assert "x-amz-checksum-crc32" in req.headers
    parsed = protocols.for_service(specs.protocol(service)).parse_request(op, req, r.path_params)
    got = normalise(op.input_shape, parsed)
    want = normalise(op.input_shape, params)
    filled = CLIENT_FILLED | {
        name
        for name, member in (op.input_shape.members.items() if op.input_shape else ())
        if member.metadata.get("idempotencyToken")
    }
    assert {k: v for k, v in got.items() if k in want} == want, first_difference(got, want)
    assert set(got) - set(want) <= filled
