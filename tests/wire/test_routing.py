"""Focused routing cases: which service and operation a request on the shared endpoint is for."""

from __future__ import annotations

import pytest
from wire_support import SERVED, botocore_request, to_http_request

from tule.aws import specs
from tule.aws.http import HttpRequest
from tule.aws.protocols import rest_xml
from tule.aws.routing import Route, route

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def _request(
    method: str,
    path: str,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "127.0.0.1:4566",
) -> HttpRequest:
    return HttpRequest(method, path, query, {"host": host, **(headers or {})}, body)


def _route(req: HttpRequest) -> Route:
    return route(req, SERVED)


# ---- X-Amz-Target ----------------------------------------------------------------------------

JSON_TARGETS = [
    ("sagemaker", "SageMaker", "CreateTrainingJob"),
    ("kinesis", "Kinesis_20131202", "PutRecord"),
    ("firehose", "Firehose_20150804", "PutRecordBatch"),
    ("glue", "AWSGlue", "GetTables"),
    ("athena", "AmazonAthena", "StartQueryExecution"),
    ("logs", "Logs_20140328", "PutLogEvents"),
]
# Services botocore moved to another protocol (Athena became rest-json in botocore 1.44.1x)
# route by their new protocol; only those still `json` route by target.
JSON_TARGETS = [t for t in JSON_TARGETS if specs.protocol(t[0]) == "json"]


@pytest.mark.parametrize(("service", "prefix", "operation"), JSON_TARGETS)
def test_x_amz_target_picks_json_service_and_operation(
    service: str, prefix: str, operation: str
) -> None:
    req = _request(
        "POST",
        "/",
        headers={
            "x-amz-target": f"{prefix}.{operation}",
            "content-type": "application/x-amz-json-1.1",
        },
        body=b"{}",
    )
    r = _route(req)
    assert (r.service, r.operation) == (service, operation)
    assert specs.service_model(service).metadata["targetPrefix"] == prefix


@pytest.mark.parametrize(("service", "prefix", "operation"), JSON_TARGETS)
def test_botocore_signed_json_request_routes_by_target(
    service: str, prefix: str, operation: str
) -> None:
    op = specs.operation_model(service, operation)
    req = to_http_request(botocore_request(op, {}))
    assert req.headers["x-amz-target"] == f"{prefix}.{operation}"
    r = _route(req)
    assert (r.service, r.operation) == (service, operation)


@pytest.mark.parametrize(("service", "prefix", "operation"), JSON_TARGETS)
def test_unknown_target_operation_routes_to_the_service_with_no_operation(
    service: str, prefix: str, operation: str
) -> None:
    req = _request("POST", "/", headers={"x-amz-target": f"{prefix}.NoSuchOperation"})
    r = _route(req)
    assert (r.service, r.operation) == (service, None)


def test_target_without_operation_routes_to_the_service_with_no_operation() -> None:
    r = _route(_request("POST", "/", headers={"x-amz-target": "Kinesis_20131202"}))
    assert (r.service, r.operation) == ("kinesis", None)


# ---- SageMaker Runtime ----------------------------------------------------------------------

RUNTIME_PATHS = [
    ("invocations", "InvokeEndpoint"),
    ("async-invocations", "InvokeEndpointAsync"),
    ("invocations-response-stream", "InvokeEndpointWithResponseStream"),
]


@pytest.mark.parametrize(("suffix", "operation"), RUNTIME_PATHS)
def test_runtime_invocation_paths_route_to_sagemaker_runtime(suffix: str, operation: str) -> None:
    # Signed with the `sagemaker` scope, like the control plane: the path decides.
    scope = "Credential=AKID/20240102/us-east-1/sagemaker/aws4_request"
    req = _request(
        "POST",
        f"/endpoints/my-ep/{suffix}",
        headers={"content-type": "text/csv", "authorization": f"AWS4-HMAC-SHA256 {scope}"},
        body=b"1,2,3",
    )
    r = _route(req)
    assert (r.service, r.operation, r.path_params) == (
        "sagemaker-runtime",
        operation,
        {"EndpointName": "my-ep"},
    )


def test_runtime_path_with_another_method_is_not_an_invocation() -> None:
    r = _route(_request("GET", "/endpoints/my-ep/invocations"))
    assert (r.service, r.operation) == ("s3", "GetObject")
    assert r.path_params == {"Bucket": "endpoints", "Key": "my-ep/invocations"}


@pytest.mark.skipif(specs.protocol("athena") != "rest-json", reason="athena is json here")
def test_a_rest_json_service_routes_by_its_signature_scope() -> None:
    auth = (
        "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/athena/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
    )
    headers = {"content-type": "application/json", "authorization": auth}
    r = _route(_request("POST", "/query-executions", headers=headers, body=b"{}"))
    assert (r.service, r.operation) == ("athena", "StartQueryExecution")
    # Unsigned, the same path is a bucket and key: only the scope claims it for Athena.
    r = _route(_request("GET", "/workgroups/primary"))
    assert (r.service, r.operation) == ("s3", "GetObject")


# ---- Lambda ----------------------------------------------------------------------------------

LAMBDA_CASES = [
    ("GET", "/2015-03-31/functions", "", "ListFunctions", {}),
    ("POST", "/2015-03-31/functions", "", "CreateFunction", {}),
    ("GET", "/2015-03-31/functions/my-fn", "", "GetFunction", {"FunctionName": "my-fn"}),
    (
        "POST",
        "/2015-03-31/functions/my-fn/invocations",
        "",
        "Invoke",
        {"FunctionName": "my-fn"},
    ),
    ("GET", "/2018-10-31/layers", "", "ListLayers", {}),
    (
        "GET",
        "/2018-10-31/layers",
        "find=LayerVersion&Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Alayer%3Al%3A1",
        "GetLayerVersionByArn",
        {},
    ),
    (
        "GET",
        "/2019-09-30/functions/my-fn/provisioned-concurrency",
        "List=ALL",
        "ListProvisionedConcurrencyConfigs",
        {"FunctionName": "my-fn"},
    ),
    (
        "GET",
        "/2019-09-30/functions/my-fn/provisioned-concurrency",
        "Qualifier=live",
        "GetProvisionedConcurrencyConfig",
        {"FunctionName": "my-fn"},
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "operation", "labels"),
    LAMBDA_CASES,
    ids=[f"{c[0]} {c[1]}?{c[2][:20]}" for c in LAMBDA_CASES],
)
def test_lambda_dated_paths_route_to_lambda(
    method: str, path: str, query: str, operation: str, labels: dict[str, str]
) -> None:
    r = _route(_request(method, path, query))
    assert (r.service, r.operation, r.path_params) == ("lambda", operation, labels)


def test_lambda_function_arn_in_the_path_is_one_label() -> None:
    arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amy-fn"
    r = _route(_request("GET", f"/2015-03-31/functions/{arn}"))
    assert (r.service, r.operation, r.path_params) == (
        "lambda",
        "GetFunction",
        {"FunctionName": arn},
    )


# ---- STS (query protocol) ---------------------------------------------------------------------


def test_sts_form_body_routes_by_action() -> None:
    req = _request(
        "POST",
        "/",
        headers={"content-type": FORM},
        body=b"Action=GetCallerIdentity&Version=2011-06-15",
    )
    r = _route(req)
    assert (r.service, r.operation) == ("sts", "GetCallerIdentity")


def test_sts_action_in_get_query_routes_by_action() -> None:
    r = _route(_request("GET", "/", "Action=GetCallerIdentity&Version=2011-06-15"))
    assert (r.service, r.operation) == ("sts", "GetCallerIdentity")


def test_sts_unknown_action_routes_to_sts_with_no_operation() -> None:
    req = _request("POST", "/", headers={"content-type": FORM}, body=b"Action=Nope&Version=1")
    r = _route(req)
    assert (r.service, r.operation) == ("sts", None)


def test_botocore_sts_request_routes_to_sts() -> None:
    op = specs.operation_model("sts", "AssumeRole")
    req = to_http_request(botocore_request(op, {"RoleArn": "arn:r", "RoleSessionName": "s"}))
    assert req.headers["content-type"].startswith("application/x-www-form-urlencoded")
    r = _route(req)
    assert (r.service, r.operation) == ("sts", "AssumeRole")


def test_form_body_without_action_is_not_sts() -> None:
    req = _request("POST", "/my-bucket", "delete", headers={"content-type": FORM}, body=b"a=b")
    assert (_route(req).service, _route(req).operation) == ("s3", "DeleteObjects")


# ---- S3, path style -------------------------------------------------------------------------

S3_KEYS = ["a/b c.txt", "ünï/çødé.txt", "a+b=c&d.txt", "dir/", "~tilde/%percent", "日本語"]


@pytest.mark.parametrize("key", S3_KEYS)
def test_s3_encoded_keys_route_and_decode_as_botocore_sent_them(key: str) -> None:
    op = specs.operation_model("s3", "PutObject")
    req = to_http_request(botocore_request(op, {"Bucket": "my-bucket", "Key": key, "Body": b"x"}))
    r = _route(req)
    assert (r.service, r.operation, r.path_params["Bucket"]) == ("s3", "PutObject", "my-bucket")
    parsed = rest_xml.parse_request(op, req, r.path_params)
    assert parsed["Key"] == key
    assert parsed["Body"].read() == b"x"


def test_s3_space_is_percent_encoded_in_the_path() -> None:
    op = specs.operation_model("s3", "GetObject")
    req = to_http_request(botocore_request(op, {"Bucket": "my-bucket", "Key": "a/b c.txt"}))
    assert req.path == "/my-bucket/a/b%20c.txt"
    r = _route(req)
    assert (r.operation, r.path_params) == (
        "GetObject",
        {"Bucket": "my-bucket", "Key": "a/b%20c.txt"},
    )


def test_s3_literal_plus_in_a_path_is_a_plus_not_a_space() -> None:
    op = specs.operation_model("s3", "GetObject")
    req = _request("GET", "/my-bucket/a+b.txt")
    r = _route(req)
    assert r.operation == "GetObject"
    assert rest_xml.parse_request(op, req, r.path_params)["Key"] == "a+b.txt"


S3_CASES = [
    ("GET", "/", "", {}, "ListBuckets"),
    ("PUT", "/my-bucket", "", {}, "CreateBucket"),
    ("PUT", "/my-bucket/", "", {}, "CreateBucket"),
    ("HEAD", "/my-bucket", "", {}, "HeadBucket"),
    ("DELETE", "/my-bucket/", "", {}, "DeleteBucket"),
    ("GET", "/my-bucket", "", {}, "ListObjects"),
    ("GET", "/my-bucket/", "", {}, "ListObjects"),
    ("GET", "/my-bucket", "list-type=2&prefix=a%2F&delimiter=%2F", {}, "ListObjectsV2"),
    ("GET", "/my-bucket/", "list-type=2", {}, "ListObjectsV2"),
    ("GET", "/my-bucket", "versions", {}, "ListObjectVersions"),
    ("GET", "/my-bucket", "uploads", {}, "ListMultipartUploads"),
    ("POST", "/my-bucket", "delete", {}, "DeleteObjects"),
    ("GET", "/my-bucket", "location", {}, "GetBucketLocation"),
    ("GET", "/my-bucket", "lifecycle", {}, "GetBucketLifecycleConfiguration"),
    ("PUT", "/my-bucket", "lifecycle", {}, "PutBucketLifecycleConfiguration"),
    ("PUT", "/my-bucket", "tagging", {}, "PutBucketTagging"),
    ("GET", "/my-bucket/k", "", {}, "GetObject"),
    ("HEAD", "/my-bucket/k", "", {}, "HeadObject"),
    ("PUT", "/my-bucket/k", "", {}, "PutObject"),
    ("PUT", "/my-bucket/k", "", {"x-amz-copy-source": "src/k"}, "CopyObject"),
    ("DELETE", "/my-bucket/k", "", {}, "DeleteObject"),
    ("DELETE", "/my-bucket/k", "versionId=v1", {}, "DeleteObject"),
    ("POST", "/my-bucket/k", "uploads", {}, "CreateMultipartUpload"),
    ("PUT", "/my-bucket/k", "partNumber=1&uploadId=u", {}, "UploadPart"),
    (
        "PUT",
        "/my-bucket/k",
        "partNumber=1&uploadId=u",
        {"x-amz-copy-source": "src/k"},
        "UploadPartCopy",
    ),
    ("GET", "/my-bucket/k", "uploadId=u", {}, "ListParts"),
    ("GET", "/my-bucket/k", "partNumber=2", {}, "GetObject"),
    ("DELETE", "/my-bucket/k", "uploadId=u", {}, "AbortMultipartUpload"),
    ("POST", "/my-bucket/k", "uploadId=u", {}, "CompleteMultipartUpload"),
    ("GET", "/my-bucket/k", "tagging", {}, "GetObjectTagging"),
    (
        "GET",
        "/my-bucket/k",
        "attributes",
        {"x-amz-object-attributes": "ETag"},
        "GetObjectAttributes",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    S3_CASES,
    ids=[f"{c[0]} {c[1]}?{c[2]}{' +' + ','.join(c[3]) if c[3] else ''}" for c in S3_CASES],
)
def test_s3_path_style_operations(
    method: str, path: str, query: str, headers: dict[str, str], operation: str
) -> None:
    r = _route(_request(method, path, query, headers))
    assert (r.service, r.operation) == ("s3", operation)
    if path != "/":
        assert r.path_params["Bucket"] == "my-bucket"
    assert r.bucket_from_host is None


def test_s3_unknown_method_for_a_path_has_no_operation() -> None:
    r = _route(_request("PATCH", "/my-bucket/k"))
    assert (r.service, r.operation) == ("s3", None)


# ---- S3, virtual-host style ------------------------------------------------------------------

VIRTUAL_CASES = [
    ("my-bucket.localhost:4566", "GET", "/a/b.txt", "", "GetObject", "a/b.txt"),
    ("my-bucket.localhost:4566", "GET", "/", "", "ListObjects", None),
    ("my-bucket.localhost:4566", "GET", "/", "list-type=2", "ListObjectsV2", None),
    ("my-bucket.localhost:4566", "PUT", "/", "", "CreateBucket", None),
    ("my-bucket.localhost", "PUT", "/k", "", "PutObject", "k"),
    ("my.dotted.bucket.localhost:4566", "HEAD", "/k", "", "HeadObject", "k"),
    ("my-bucket.s3.us-east-1.amazonaws.com", "GET", "/k", "", "GetObject", "k"),
    ("my-bucket.s3.amazonaws.com", "DELETE", "/k", "uploadId=u", "AbortMultipartUpload", "k"),
]


@pytest.mark.parametrize(
    ("host", "method", "path", "query", "operation", "key"),
    VIRTUAL_CASES,
    ids=[f"{c[0]} {c[1]} {c[2]}?{c[3]}" for c in VIRTUAL_CASES],
)
def test_s3_virtual_host_style_takes_the_bucket_from_host(
    host: str, method: str, path: str, query: str, operation: str, key: str | None
) -> None:
    bucket = host.split(".localhost")[0].split(".s3.")[0]
    r = _route(_request(method, path, query, host=host))
    assert (r.service, r.operation, r.bucket_from_host) == ("s3", operation, bucket)
    assert r.path_params.get("Bucket") == bucket
    assert r.path_params.get("Key") == key


@pytest.mark.parametrize("host", ["127.0.0.1:4566", "localhost:4566", "localhost", "[::1]:4566"])
def test_hosts_without_a_bucket_label_are_path_style(host: str) -> None:
    r = _route(_request("GET", "/my-bucket/k", host=host))
    assert (r.operation, r.bucket_from_host) == ("GetObject", None)
    assert r.path_params == {"Bucket": "my-bucket", "Key": "k"}
