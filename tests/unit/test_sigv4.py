"""SigV4 verification against requests signed by botocore's own signers."""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.compat import HAS_CRT
from botocore.config import Config
from botocore.credentials import Credentials

from tule.aws.auth import Credential, credential_scope, verify
from tule.aws.http import HttpRequest
from tule.errors import AwsError

# botocore reads the clock through this naive-UTC datetime; patching it is what makes
# its signatures deterministic.
SIGNED_AT = datetime(2024, 5, 1, 12, 0, 0)
NOW = float(calendar.timegm(SIGNED_AT.timetuple()))
KEYS = {"AKIDEXAMPLE": "secret"}
CREDS = Credentials("AKIDEXAMPLE", "secret")
ENDPOINT = "http://localhost:4566"
JSON_11 = "application/x-amz-json-1.1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

Signer = type[SigV4Auth]


def fixed_clock(remove_tzinfo: bool = True) -> datetime:
    return SIGNED_AT if remove_tzinfo else SIGNED_AT.replace(tzinfo=UTC)


@contextmanager
def frozen_clock() -> Iterator[None]:
    targets = ["botocore.auth.get_current_datetime"]
    if HAS_CRT:  # With awscrt installed, boto3 signs S3 requests through botocore.crt.auth.
        targets.append("botocore.crt.auth.get_current_datetime")
    with ExitStack() as stack:
        for target in targets:
            stack.enter_context(patch(target, side_effect=fixed_clock))
        yield


def received(prepared: AWSPreparedRequest) -> HttpRequest:
    """What the gateway would receive for a request botocore is about to send."""
    parts = urlsplit(prepared.url)
    headers = {name.lower(): _text(value) for name, value in prepared.headers.items()}
    # The HTTP client adds Host after signing; botocore signed the same netloc.
    headers.setdefault("host", parts.netloc)
    body = prepared.body or b""
    if hasattr(body, "read"):
        body = body.read()
    body = body.encode() if isinstance(body, str) else body
    return HttpRequest(prepared.method, parts.path or "/", parts.query, headers, body)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def signed(
    signer: Signer,
    method: str,
    url: str,
    *,
    service: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    creds: Credentials = CREDS,
    context: dict[str, Any] | None = None,
    **signer_args: Any,
) -> HttpRequest:
    """Sign with botocore at SIGNED_AT and turn the wire form into what the gateway receives."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    request.context.update(context or {})
    with frozen_clock():
        signer(creds, service, "us-east-1", **signer_args).add_auth(request)
    return received(request.prepare())


def s3_request(path: str, query: str = "", method: str = "GET", **kw: Any) -> HttpRequest:
    url = f"{ENDPOINT}{path}" + (f"?{query}" if query else "")
    return signed(S3SigV4Auth, method, url, service="s3", **kw)


def json_request(service: str, target: str, body: bytes = b"{}", **kw: Any) -> HttpRequest:
    headers = {"X-Amz-Target": target, "Content-Type": JSON_11}
    url = f"{ENDPOINT}/"
    return signed(SigV4Auth, "POST", url, service=service, body=body, headers=headers, **kw)


def sts_request(**kw: Any) -> HttpRequest:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = {"Content-Type": FORM}
    url = f"{ENDPOINT}/"
    return signed(SigV4Auth, "POST", url, service="sts", body=body, headers=headers, **kw)


def rejected(
    request: HttpRequest, *, s3: bool, now: float = NOW, keys: dict[str, str] = KEYS
) -> AwsError:
    with pytest.raises(AwsError) as caught:
        verify(request, keys, now, s3=s3)
    return caught.value


def s3_key_path(bucket: str, key: str) -> str:
    # The same encoding botocore's REST serializer gives an S3 key.
    return f"/{bucket}/{quote(key, safe='/~')}"


# --- valid requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/bucket",
        "/bucket/",
        s3_key_path("bucket", "my file.txt"),
        s3_key_path("bucket", "dir/sub dir/naïve-日本.bin"),
        s3_key_path("bucket", "a~b+c=d"),
        "/bucket/raw+plus=equals~tilde",
        s3_key_path("bucket", "a//double/./dot/../key"),
    ],
)
def test_s3_header_signed_paths_verify(path: str) -> None:
    assert verify(s3_request(path), KEYS, NOW, s3=True) == "AKIDEXAMPLE"


@pytest.mark.parametrize(
    "query",
    [
        "uploads",
        "list-type=2&prefix=a%2Fb",
        "prefix=a%20b&delimiter=%2F&max-keys=10",
        "versionId=abc&partNumber=2&uploadId=x%2By",
        "tagging=",
    ],
)
def test_s3_header_signed_queries_verify(query: str) -> None:
    assert verify(s3_request("/bucket/key", query), KEYS, NOW, s3=True) == "AKIDEXAMPLE"


def test_s3_put_with_body_verifies_and_signs_its_hash() -> None:
    body = b"hello world"
    request = s3_request(s3_key_path("bucket", "dir/k y"), method="PUT", body=body)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert verify(request, KEYS, NOW, s3=True) == "AKIDEXAMPLE"


def test_s3_unsigned_payload_accepts_any_body() -> None:
    config = Config(s3={"payload_signing_enabled": False})
    request = signed(
        S3SigV4Auth,
        "PUT",
        "https://s3.amazonaws.com/bucket/key",
        service="s3",
        body=b"data",
        context={"client_config": config},
    )
    assert request.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    request.body = b"different data"
    assert verify(request, KEYS, NOW, s3=True) == "AKIDEXAMPLE"


def test_declared_streaming_payload_is_signed_as_declared() -> None:
    request = s3_request(
        "/bucket/key",
        method="PUT",
        headers={"X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
        context={"checksum": {"request_algorithm": {"in": "trailer", "name": "crc32"}}},
    )
    assert request.headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert verify(request, KEYS, NOW, s3=True) == "AKIDEXAMPLE"


@pytest.mark.parametrize(
    ("service", "target"),
    [("sagemaker", "SageMaker.ListModels"), ("kinesis", "Kinesis_20131202.ListStreams")],
)
def test_json_services_verify(service: str, target: str) -> None:
    request = json_request(service, target, b'{"Limit": 10}')
    assert verify(request, KEYS, NOW, s3=False) == "AKIDEXAMPLE"


def test_rest_json_path_is_normalised_and_encoded_twice() -> None:
    request = signed(
        SigV4Auth,
        "POST",
        f"{ENDPOINT}/endpoints/my%20ep/./x//invocations",
        service="sagemaker",
        body=b"[1, 2]",
        headers={"Content-Type": "application/json"},
    )
    assert request.path == "/endpoints/my%20ep/./x//invocations"
    assert verify(request, KEYS, NOW, s3=False) == "AKIDEXAMPLE"


def test_equivalent_query_encodings_sign_the_same() -> None:
    request = s3_request("/bucket", "prefix=a%2Fb~c&delimiter=%2F")
    # What was signed is the decoded value, however the client chose to encode it.
    request.query = "prefix=a/b%7Ec&delimiter=%2f"
    assert verify(request, KEYS, NOW, s3=True) == "AKIDEXAMPLE"


def test_query_protocol_form_body_verifies() -> None:
    assert verify(sts_request(), KEYS, NOW, s3=False) == "AKIDEXAMPLE"


def test_session_token_is_signed_and_accepted() -> None:
    creds = Credentials("AKIDEXAMPLE", "secret", "session-token/with+chars=")
    request = json_request("kinesis", "Kinesis_20131202.ListStreams", creds=creds)
    assert request.headers["x-amz-security-token"] == "session-token/with+chars="
    assert verify(request, KEYS, NOW, s3=False) == "AKIDEXAMPLE"


def test_date_header_instead_of_x_amz_date() -> None:
    request = s3_request("/bucket/key", headers={"Date": "ignored, botocore rewrites it"})
    assert "x-amz-date" not in request.headers
    assert request.headers["date"] == "Wed, 01 May 2024 12:00:00 -0000"
    assert verify(request, KEYS, NOW, s3=True) == "AKIDEXAMPLE"


def test_non_default_port_in_host_is_signed() -> None:
    request = signed(S3SigV4Auth, "GET", "http://127.0.0.1:9000/bucket?uploads", service="s3")
    assert request.headers["host"] == "127.0.0.1:9000"
    assert verify(request, KEYS, NOW, s3=True) == "AKIDEXAMPLE"


def test_clock_skew_within_fifteen_minutes_is_accepted() -> None:
    request = s3_request("/bucket/key")
    assert verify(request, KEYS, NOW + 14 * 60, s3=True) == "AKIDEXAMPLE"
    assert verify(request, KEYS, NOW - 14 * 60, s3=True) == "AKIDEXAMPLE"


def test_s3_presigned_get_verifies() -> None:
    url = f"{ENDPOINT}{s3_key_path('bucket', 'dir/my file+1.txt')}?versionId=v%2B1"
    request = signed(S3SigV4QueryAuth, "GET", url, service="s3", expires=3600)
    assert "X-Amz-Signature=" in request.query
    assert "authorization" not in request.headers
    assert verify(request, KEYS, NOW + 3599, s3=True) == "AKIDEXAMPLE"


def test_s3_presigned_with_session_token_verifies() -> None:
    creds = Credentials("AKIDEXAMPLE", "secret", "tok+en/==")
    request = signed(
        S3SigV4QueryAuth, "GET", f"{ENDPOINT}/bucket/key", service="s3", creds=creds, expires=60
    )
    assert "X-Amz-Security-Token=tok%2Ben%2F%3D%3D" in request.query
    assert verify(request, KEYS, NOW, s3=True) == "AKIDEXAMPLE"


def test_non_s3_presigned_hashes_the_empty_body() -> None:
    url = f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15"
    request = signed(SigV4QueryAuth, "GET", url, service="sts", expires=900)
    assert verify(request, KEYS, NOW, s3=False) == "AKIDEXAMPLE"


# --- credential scope -------------------------------------------------------------------------


def test_credential_scope_from_header_and_query() -> None:
    expected = Credential("AKIDEXAMPLE", "20240501", "us-east-1", "kinesis")
    assert credential_scope(json_request("kinesis", "Kinesis_20131202.ListStreams")) == expected
    presigned = signed(S3SigV4QueryAuth, "GET", f"{ENDPOINT}/b/k", service="s3", expires=60)
    assert credential_scope(presigned) == Credential("AKIDEXAMPLE", "20240501", "us-east-1", "s3")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer abc"},
        {"authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/s3"},
        {"authorization": "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00"},
    ],
)
def test_credential_scope_absent_or_unparseable(headers: dict[str, str]) -> None:
    assert credential_scope(HttpRequest("GET", "/", headers=headers)) is None


# --- rejections -------------------------------------------------------------------------------


def test_missing_auth() -> None:
    bare = HttpRequest("GET", "/bucket/key", headers={"host": "localhost:4566"})
    error = rejected(bare, s3=True)
    assert (error.code, error.status_code, error.message) == ("AccessDenied", 403, "Access Denied")
    error = rejected(bare, s3=False)
    assert (error.code, error.status_code, error.message) == (
        "MissingAuthenticationTokenException",
        403,
        "Missing Authentication Token",
    )


def test_malformed_authorization_header() -> None:
    request = HttpRequest("GET", "/b", headers={"authorization": "AWS4-HMAC-SHA256 Credential=x"})
    error = rejected(request, s3=True)
    assert (error.code, error.status_code) == ("AuthorizationHeaderMalformed", 400)
    error = rejected(request, s3=False)
    assert (error.code, error.status_code) == ("IncompleteSignatureException", 403)


def test_malformed_presigned_query() -> None:
    request = HttpRequest("GET", "/b/k", query="X-Amz-Credential=AKIDEXAMPLE%2F20240501")
    error = rejected(request, s3=True)
    assert (error.code, error.status_code) == ("AuthorizationQueryParametersError", 400)


def test_unknown_access_key() -> None:
    other = Credentials("AKIDUNKNOWN", "secret")
    error = rejected(s3_request("/bucket/key", creds=other), s3=True)
    assert (error.code, error.status_code) == ("InvalidAccessKeyId", 403)
    assert error.message == "The AWS Access Key Id you provided does not exist in our records."
    assert error.fields["AWSAccessKeyId"] == "AKIDUNKNOWN"
    error = rejected(json_request("sagemaker", "SageMaker.ListModels", creds=other), s3=False)
    assert (error.code, error.status_code) == ("UnrecognizedClientException", 403)
    assert error.message == "The security token included in the request is invalid."


def test_wrong_secret() -> None:
    keys = {"AKIDEXAMPLE": "not-the-secret"}
    error = rejected(s3_request("/bucket/key"), s3=True, keys=keys)
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 403)
    assert error.message.startswith("The request signature we calculated does not match")
    assert error.fields["SignatureProvided"]
    error = rejected(sts_request(), s3=False, keys=keys)
    assert (error.code, error.status_code) == ("InvalidSignatureException", 403)


def test_tampered_body_non_s3() -> None:
    request = json_request("kinesis", "Kinesis_20131202.ListStreams", b'{"Limit": 1}')
    request.body = b'{"Limit": 2}'
    error = rejected(request, s3=False)
    assert (error.code, error.status_code) == ("InvalidSignatureException", 403)


def test_tampered_path() -> None:
    request = s3_request("/bucket/key")
    request.path = "/bucket/other-key"
    assert rejected(request, s3=True).code == "SignatureDoesNotMatch"
    request = signed(SigV4Auth, "POST", f"{ENDPOINT}/endpoints/a/invocations", service="sagemaker")
    request.path = "/endpoints/b/invocations"
    assert rejected(request, s3=False).code == "InvalidSignatureException"


def test_tampered_query() -> None:
    request = s3_request("/bucket", "list-type=2&prefix=a%2Fb")
    request.query = "list-type=2&prefix=a%2Fc"
    error = rejected(request, s3=True)
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 403)


def test_tampered_header() -> None:
    request = s3_request("/bucket/key", method="PUT", headers={"x-amz-meta-owner": "alice"})
    request.headers["x-amz-meta-owner"] = "mallory"
    assert rejected(request, s3=True).code == "SignatureDoesNotMatch"
    request = json_request("sagemaker", "SageMaker.ListModels")
    request.headers["x-amz-target"] = "SageMaker.DeleteModel"
    error = rejected(request, s3=False)
    assert (error.code, error.status_code) == ("InvalidSignatureException", 403)


def test_signed_header_values_are_trimmed_and_collapsed() -> None:
    request = s3_request("/bucket/key", method="PUT", headers={"x-amz-meta-note": "a  b"})
    request.headers["x-amz-meta-note"] = "  a   b "
    assert verify(request, KEYS, NOW, s3=True) == "AKIDEXAMPLE"


@pytest.mark.parametrize("offset", [16 * 60, -16 * 60])
def test_s3_clock_skew(offset: int) -> None:
    error = rejected(s3_request("/bucket/key"), s3=True, now=NOW + offset)
    assert (error.code, error.status_code) == ("RequestTimeTooSkewed", 403)
    assert error.message == (
        "The difference between the request time and the current time is too large."
    )
    assert error.fields["RequestTime"] == "20240501T120000Z"
    assert error.fields["MaxAllowedSkewMilliseconds"] == "900000"


def test_json_request_too_old() -> None:
    request = json_request("kinesis", "Kinesis_20131202.ListStreams")
    error = rejected(request, s3=False, now=NOW + 16 * 60)
    assert (error.code, error.status_code) == ("InvalidSignatureException", 403)
    assert error.message == (
        "Signature expired: 20240501T120000Z is now earlier than 20240501T120100Z "
        "(20240501T121600Z - 15 min.)"
    )


def test_json_request_from_the_future() -> None:
    request = json_request("kinesis", "Kinesis_20131202.ListStreams")
    error = rejected(request, s3=False, now=NOW - 16 * 60)
    assert (error.code, error.status_code) == ("InvalidSignatureException", 403)
    assert error.message.startswith("Signature not yet current: 20240501T120000Z")


def test_expired_presigned_url() -> None:
    request = signed(S3SigV4QueryAuth, "GET", f"{ENDPOINT}/bucket/key", service="s3", expires=60)
    error = rejected(request, s3=True, now=NOW + 61)
    assert (error.code, error.status_code, error.message) == (
        "AccessDenied",
        403,
        "Request has expired",
    )
    assert error.fields["Expires"] == "2024-05-01T12:01:00Z"


def test_presigned_url_from_the_future_is_skewed() -> None:
    request = signed(S3SigV4QueryAuth, "GET", f"{ENDPOINT}/bucket/key", service="s3", expires=60)
    error = rejected(request, s3=True, now=NOW - 16 * 60)
    assert (error.code, error.status_code) == ("RequestTimeTooSkewed", 403)


def test_expired_non_s3_presigned_url() -> None:
    url = f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15"
    request = signed(SigV4QueryAuth, "GET", url, service="sts", expires=60)
    error = rejected(request, s3=False, now=NOW + 61)
    assert (error.code, error.status_code) == ("InvalidSignatureException", 403)
    assert error.message.startswith("Signature expired: 20240501T120000Z is now earlier than")


def test_presigned_expiry_over_a_week_is_refused() -> None:
    request = signed(S3SigV4QueryAuth, "GET", f"{ENDPOINT}/b/k", service="s3", expires=604801)
    error = rejected(request, s3=True)
    assert (error.code, error.status_code) == ("AuthorizationQueryParametersError", 400)


def test_tampered_presigned_url() -> None:
    request = signed(S3SigV4QueryAuth, "GET", f"{ENDPOINT}/bucket/key", service="s3", expires=60)
    request.path = "/bucket/other"
    assert rejected(request, s3=True).code == "SignatureDoesNotMatch"


def test_content_sha256_mismatch() -> None:
    request = s3_request("/bucket/key", method="PUT", body=b"original")
    request.body = b"replaced"
    error = rejected(request, s3=True)
    assert (error.code, error.status_code) == ("XAmzContentSHA256Mismatch", 400)
    assert error.fields["S3ComputedContentSHA256"] == hashlib.sha256(b"replaced").hexdigest()


def test_scope_date_must_match_request_date() -> None:
    request = s3_request("/bucket/key")
    request.headers["x-amz-date"] = "20240502T000000Z"
    error = rejected(request, s3=True, now=NOW + 12 * 3600)
    assert (error.code, error.status_code) == ("AuthorizationHeaderMalformed", 400)


# --- whole boto3 clients ----------------------------------------------------------------------


class Sent(Exception):
    """Raised from botocore's before-send hook to capture the request instead of sending it."""

    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


def sent_by_client(
    service: str, call: Callable[[Any], object], endpoint: str = ENDPOINT
) -> HttpRequest:
    client = boto3.client(
        service,
        region_name="eu-west-1",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        aws_session_token="tok+en/=",
    )

    def capture(request: AWSPreparedRequest, **_: Any) -> None:
        raise Sent(request)

    client.meta.events.register("before-send", capture)
    with frozen_clock(), pytest.raises(Sent) as caught:
        call(client)
    return received(caught.value.request)


CLIENT_CALLS: list[tuple[str, Callable[[Any], object], str]] = [
    ("s3", lambda c: c.put_object(Bucket="b", Key="d/my f+x=y~z/naïve 日本", Body=b"hi"), ENDPOINT),
    ("s3", lambda c: c.list_objects_v2(Bucket="b", Prefix="a/b c", Delimiter="/"), ENDPOINT),
    ("s3", lambda c: c.create_multipart_upload(Bucket="b", Key="k k"), ENDPOINT),
    ("s3", lambda c: c.get_object(Bucket="b", Key="a//b/../c"), ENDPOINT),
    # Over https botocore streams the body with an unsigned, checksum-trailed payload.
    ("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x" * 10), "https://localhost:4566"),
    ("kinesis", lambda c: c.list_streams(), ENDPOINT),
    ("sagemaker", lambda c: c.list_models(), ENDPOINT),
    ("sts", lambda c: c.get_caller_identity(), ENDPOINT),
    (
        "sagemaker-runtime",
        lambda c: c.invoke_endpoint(EndpointName="ep", Body=b"[1]", ContentType="text/csv"),
        ENDPOINT,
    ),
]


@pytest.mark.parametrize(("service", "call", "endpoint"), CLIENT_CALLS)
def test_requests_from_real_clients_verify(
    service: str, call: Callable[[Any], object], endpoint: str
) -> None:
    request = sent_by_client(service, call, endpoint)
    assert verify(request, KEYS, NOW, s3=service == "s3") == "AKIDEXAMPLE"
    scope = credential_scope(request)
    assert scope is not None and scope.region == "eu-west-1"


def test_presigned_url_from_real_client_verifies() -> None:
    client = boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )
    with frozen_clock():
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": "b", "Key": "a b+c"}, ExpiresIn=100
        )
    parts = urlsplit(url)
    request = HttpRequest("GET", parts.path, parts.query, {"host": parts.netloc})
    assert verify(request, KEYS, NOW + 99, s3=True) == "AKIDEXAMPLE"
    assert rejected(request, s3=True, now=NOW + 101).message == "Request has expired"
