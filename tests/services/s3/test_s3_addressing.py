"""How clients reach S3: virtual-host addressing and presigned URLs."""

from __future__ import annotations

import base64
import http.client
import socket
import urllib.request
import zlib
from typing import Any

import pytest
from botocore.config import Config

from tule.testing import TuleServer


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 80)
        return True
    except OSError:
        return False


def _request(server: TuleServer, method: str, path: str, host: str, body: bytes = b"") -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers={"Host": f"{host}:{server.port}"})
    response = conn.getresponse()
    return response.status, response.read()


def test_virtual_host_style_put_and_get(server: TuleServer, s3: Any, bucket: str) -> None:
    # *.localhost does not resolve on every machine, so send the Host header ourselves.
    host = f"{bucket}.localhost"
    assert _request(server, "PUT", "/dir/key.txt", host, b"virtual bytes")[0] == 200
    assert s3.get_object(Bucket=bucket, Key="dir/key.txt")["Body"].read() == b"virtual bytes"
    assert _request(server, "GET", "/dir/key.txt", host) == (200, b"virtual bytes")
    code, listing = _request(server, "GET", "/?list-type=2", host)
    assert code == 200 and b"<Key>dir/key.txt</Key>" in listing


@pytest.mark.skipif(not _resolves("probe.localhost"), reason="*.localhost does not resolve here")
def test_boto3_virtual_addressing(server: TuleServer, bucket: str) -> None:
    s3 = server.client("s3", config=Config(s3={"addressing_style": "virtual"}))
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_presigned_get_url(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared file.txt", Body=b"shared bytes")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file.txt"}, ExpiresIn=300
    )
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"shared bytes"


def test_presigned_put_url(s3: Any, bucket: str) -> None:
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "upload.bin"}, ExpiresIn=300
    )
    request = urllib.request.Request(url, data=b"uploaded via url", method="PUT")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=bucket, Key="upload.bin")["Body"].read() == b"uploaded via url"


def test_presigned_urls_verify_with_auth_on(tmp_path: Any) -> None:
    with TuleServer(tmp_path / "auth", auth=True, keys={"test": "test"}) as server:
        # boto3 presigns S3 URLs with SigV2 unless told otherwise; the gateway verifies SigV4.
        s3 = server.client("s3", config=Config(signature_version="s3v4"))
        s3.create_bucket(Bucket="signed")
        s3.put_object(Bucket="signed", Key="k", Body=b"checked")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "k"})
        with urllib.request.urlopen(url) as response:
            assert response.read() == b"checked"
        tampered = url.replace("k?", "other?")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(tampered)
        assert caught.value.code == 403


def test_aws_chunked_upload_stores_the_payload_only(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    # What SDKs send over https: chunk framing plus a trailing checksum (spec §1.8).
    payload = b"hello chunked world"
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big"))
    body = (
        f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n"
        b"x-amz-checksum-crc32:" + crc + b"\r\n\r\n"
    )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(
        "PUT",
        f"/{bucket}/chunked",
        body=body,
        headers={
            "Content-Encoding": "aws-chunked,gzip",
            "X-Amz-Decoded-Content-Length": str(len(payload)),
            "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
        },
    )
    assert conn.getresponse().status == 200
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["ContentEncoding"] == "gzip"
    assert got["Body"].read() == payload
