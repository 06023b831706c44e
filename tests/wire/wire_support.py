"""What the wire round-trip tests share: the operation sample, botocore-built requests, and the
normalisation that makes a sent value and a parsed value comparable."""

from __future__ import annotations

import base64
import io
import random
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from botocore.model import OperationModel, Shape
from botocore.response import StreamingBody
from botocore.serialize import create_serializer
from botocore.utils import parse_timestamp

from tule.aws import specs
from tule.aws.http import HttpRequest
from tule.services.registry import SERVICES

ENDPOINT = "http://127.0.0.1:4566"
REGION = "us-east-1"
CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SERVED: tuple[str, ...] = tuple(entry.name for entry in SERVICES)

# Services whose every operation is exercised; the others get a seeded sample of this size.
ALL_OPERATIONS = {"s3", "sts", "logs", "sagemaker-runtime", "firehose"}
SAMPLE_SIZE = 30
SAMPLE_SEED = 20240102


def sampled_operations() -> list[tuple[str, str]]:
    """(service, operation) pairs: every operation of the small services, a seeded sample of
    the large ones."""
    out = []
    for service in SERVED:
        names = sorted(specs.service_model(service).operation_names)
        if service not in ALL_OPERATIONS and len(names) > SAMPLE_SIZE:
            names = sorted(random.Random(f"{SAMPLE_SEED}-{service}").sample(names, SAMPLE_SIZE))
        out.extend((service, name) for name in names)
    return out


def op_id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}.{pair[1]}"


# ---- requests as botocore sends them ---------------------------------------------------------


def signing_name(service: str) -> str:
    md = specs.service_model(service).metadata
    return md.get("signingName") or md["endpointPrefix"]


def botocore_request(
    op: OperationModel,
    params: dict[str, Any],
    endpoint: str = ENDPOINT,
    extra_headers: dict[str, str] | None = None,
) -> AWSPreparedRequest:
    """The request botocore would put on the wire for `params`: serialized by botocore's own
    serializer, its URL rendered as the client renders it, signed with SigV4."""
    protocol = op.service_model.metadata["protocol"]
    serializer = create_serializer(protocol, include_validation=False)
    request_dict = serializer.serialize_to_request(params, op)
    request_dict["headers"].update(extra_headers or {})
    prepare_request_dict(request_dict, endpoint_url=endpoint)
    aws_request = create_request_object(request_dict)
    service = op.service_model.service_name
    auth_cls = S3SigV4Auth if service == "s3" else SigV4Auth
    auth_cls(CREDENTIALS, signing_name(service), REGION).add_auth(aws_request)
    return aws_request.prepare()


def to_http_request(prepared: AWSPreparedRequest) -> HttpRequest:
    """botocore's prepared request as the gateway receives it: raw path and query, lower-case
    headers with Host, the body as bytes."""
    url = urlsplit(prepared.url)
    headers = {k.lower(): _text(v) for k, v in prepared.headers.items()}
    headers.setdefault("host", url.netloc)
    body = prepared.body
    if body is None:
        raw = b""
    elif isinstance(body, bytes | bytearray):
        raw = bytes(body)
    elif isinstance(body, str):
        raw = body.encode("utf-8")
    else:
        raw = body.read()
    return HttpRequest(prepared.method, url.path or "/", url.query, headers, raw)


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def s3_client_headers(op: OperationModel, params: dict[str, Any]) -> tuple[dict[str, str], set]:
    """Headers boto3's S3 client adds on its own (botocore >= 1.36): a CRC32 checksum and its
    algorithm for operations that take one, `Expect: 100-continue` for uploads. Returns the
    headers and the input members they set, which the caller did not pass."""
    headers: dict[str, str] = {}
    injected: set[str] = set()
    shape = op.input_shape
    checksum = op.http_checksum
    if shape is None:
        return headers, injected
    payload = shape.serialization.get("payload")
    body = params.get(payload) if payload else None
    if (
        op.http.get("method") in ("PUT", "POST")
        and payload
        and shape.members[payload].serialization.get("streaming")
    ):
        headers["Expect"] = "100-continue"
    algorithm_member = checksum.get("requestAlgorithmMember")
    if (algorithm_member or checksum.get("requestChecksumRequired")) and not (
        algorithm_member and algorithm_member in params
    ):
        data = body if isinstance(body, bytes) else b""
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        for name, member in shape.members.items():
            wire = member.serialization.get("name", "").lower()
            if name in params:
                continue
            if wire == "x-amz-checksum-crc32":
                headers["x-amz-checksum-crc32"] = crc
                injected.add(name)
            elif algorithm_member and name == algorithm_member:
                headers[member.serialization.get("name", name)] = "CRC32"
                injected.add(name)
    return headers, injected


def drop_wire_defaults(op: OperationModel, sent: dict[str, Any], parsed: dict[str, Any]) -> None:
    """Remove from `parsed` what the wire cannot tell from absence: an unset payload (botocore
    sends an empty body, or `{}` for rest-json structures) and `Content-Length`, which the HTTP
    layer sets whether or not the caller passed the member bound to it."""
    shape = op.input_shape
    if shape is None:
        return
    payload = shape.serialization.get("payload")
    if payload and payload not in sent:
        value = parsed.get(payload)
        if hasattr(value, "read"):
            value = read_all(value)
        if value in (b"", "", {}):
            parsed.pop(payload, None)
    for name, member in shape.members.items():
        ser = member.serialization
        bound = ser.get("name", "").lower() if ser.get("location") == "header" else None
        if bound == "content-length" and name not in sent:
            parsed.pop(name, None)


# ---- normalisation ---------------------------------------------------------------------------


def normalise(shape: Shape | None, value: Any) -> Any:
    """A value in the form both sides can be compared in: aware UTC datetimes, bytes for blobs,
    streams read, `headers`-bound map keys lower-cased (HTTP header names have no case), None
    members dropped."""
    if shape is None or value is None:
        return value
    t = shape.type_name
    if t == "structure":
        if shape.is_document_type:
            return value
        out = {}
        for name, member in shape.members.items():
            v = value.get(name)
            if v is None:
                continue
            v = normalise(member, v)
            if member.serialization.get("location") == "headers":
                v = {str(k).lower(): val for k, val in v.items()}
            out[name] = v
        return out
    if t == "list":
        return [normalise(shape.member, v) for v in value]
    if t == "map":
        return {k: normalise(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        dt = value if isinstance(value, datetime) else parse_timestamp(value)
        dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)
    if t == "blob":
        return read_all(value)
    if t in ("float", "double"):
        return float(value)
    if t == "string" and hasattr(value, "read"):
        return read_all(value).decode("utf-8")
    return value


def read_all(value: Any) -> bytes:
    if isinstance(value, StreamingBody | io.IOBase) or hasattr(value, "read"):
        data = value.read()
        return data if isinstance(data, bytes) else data.encode("utf-8")
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def first_difference(got: Any, want: Any, path: str = "") -> str:
    """Where two normalised values first differ, for readable assertion messages."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want), key=str):
            here = f"{path}.{key}"
            if key not in got:
                return f"{here}: missing (want {want[key]!r:.120})"
            if key not in want:
                return f"{here}: unexpected {got[key]!r:.120}"
            found = first_difference(got[key], want[key], here)
            if found:
                return found
        return ""
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return ""
    if got != want:
        return f"{path or '<root>'}: got {got!r:.120}, want {want!r:.120}"
    return ""
