"""SigV4 through the server with `--auth`: good signatures pass, every bad one gets AWS's error."""

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tule.clock import ManualClock
from tule.testing import TuleServer

KEYS = {"AKIDTULETEST": "tule-secret"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(tmp_path: Path, clock: ManualClock) -> Iterator[TuleServer]:
    with TuleServer(tmp_path, clock=clock, auth=True, keys=KEYS) as srv:
        yield srv


def _client(
    server: TuleServer, service: str, key: str = "AKIDTULETEST", secret: str = "tule-secret"
):
    return server.client(service, aws_access_key_id=key, aws_secret_access_key=secret)


def _code(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_valid_signature_is_accepted_and_identifies_the_key(server: TuleServer) -> None:
    who = _client(server, "sts").get_caller_identity()
    assert who["UserId"] == "AKIDTULETEST"
    assert who["Account"] == "000000000000"


def test_unknown_key_is_rejected_per_protocol(server: TuleServer) -> None:
    assert _code(lambda: _client(server, "s3", key="NOPE").list_buckets()) == (
        "InvalidAccessKeyId",
        403,
    )
    code, _ = _code(lambda: _client(server, "sagemaker", key="NOPE").list_training_jobs())
    assert code == "UnrecognizedClientException"
    code, _ = _code(lambda: _client(server, "sts", key="NOPE").get_caller_identity())
    assert code == "InvalidClientTokenId"


def test_wrong_secret_is_a_signature_mismatch(server: TuleServer) -> None:
    assert _code(lambda: _client(server, "s3", secret="wrong").list_buckets()) == (
        "SignatureDoesNotMatch",
        403,
    )
    code, _ = _code(lambda: _client(server, "kinesis", secret="wrong").list_streams())
    assert code == "InvalidSignatureException"


def test_clock_skew_over_15_minutes_is_rejected(server: TuleServer, clock: ManualClock) -> None:
    clock.advance(16 * 60)
    assert _code(lambda: _client(server, "s3").list_buckets()) == ("RequestTimeTooSkewed", 403)
    code, _ = _code(lambda: _client(server, "logs").describe_log_groups())
    assert code == "InvalidSignatureException"


def test_presigned_url_is_checked_and_expires(server: TuleServer, clock: ManualClock) -> None:
    s3 = server.client(
        "s3",
        aws_access_key_id="AKIDTULETEST",
        aws_secret_access_key="tule-secret",
        config=Config(signature_version="s3v4"),
    )
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=60)
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(tampered)
    assert bad.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in bad.value.read()
    clock.advance(120)
    with pytest.raises(urllib.error.HTTPError) as late:
        urllib.request.urlopen(url)
    assert late.value.code == 403
    body = late.value.read()
    assert b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_unsigned_request_is_rejected(server: TuleServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.endpoint_url + "/")
    assert err.value.code == 403
    assert b"<Code>AccessDenied</Code>" in err.value.read()


def test_valid_presigned_get_and_put_work_with_auth(server: TuleServer) -> None:
    s3 = server.client(
        "s3",
        aws_access_key_id="AKIDTULETEST",
        aws_secret_access_key="tule-secret",
        config=Config(signature_version="s3v4"),
    )
    s3.create_bucket(Bucket="signed")
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "signed", "Key": "a b/c.txt"}, ExpiresIn=300
    )
    request = urllib.request.Request(put_url, data=b"presigned body", method="PUT")
    with urllib.request.urlopen(request) as resp:
        assert resp.status == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "signed", "Key": "a b/c.txt"}, ExpiresIn=300
    )
    with urllib.request.urlopen(get_url) as resp:
        assert resp.read() == b"presigned body"


# Bodies above the streaming threshold reach the handler while they arrive; their signed
# x-amz-content-sha256 is checked at their end, before anything is stored.
LARGE = bytes(range(256)) * (12 * 1024)  # 3 MiB


def test_large_signed_upload_streams_and_round_trips(server: TuleServer) -> None:
    s3 = _client(server, "s3")
    s3.create_bucket(Bucket="streamed")
    s3.put_object(Bucket="streamed", Key="big", Body=LARGE)
    assert s3.get_object(Bucket="streamed", Key="big")["Body"].read() == LARGE


def test_large_body_not_matching_its_signed_hash_is_refused_and_not_stored(
    server: TuleServer,
) -> None:
    s3 = _client(server, "s3")
    s3.create_bucket(Bucket="streamed")

    def tamper(request, **_) -> None:
        # After signing: same length, different bytes, so only the payload hash can tell.
        request.body = LARGE[:-1] + b"!"

    s3.meta.events.register("before-send.s3.PutObject", tamper)
    assert _code(lambda: s3.put_object(Bucket="streamed", Key="big", Body=LARGE)) == (
        "XAmzContentSHA256Mismatch",
        400,
    )
    s3.meta.events.unregister("before-send.s3.PutObject", tamper)
    assert _code(lambda: s3.head_object(Bucket="streamed", Key="big"))[1] == 404
    state = server.app.domains["s3"].state
    state.bodies.drain()
    assert list(state.blobs.blob_ids()) == []
