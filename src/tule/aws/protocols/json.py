"""The `json` protocol (1.0 and 1.1): POST / with X-Amz-Target, JSON bodies both ways.

Used by SageMaker, Kinesis, Firehose, Glue, Athena and CloudWatch Logs.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from tule.aws.http import HttpRequest, HttpResponse
from tule.aws.protocols.common import (
    WireError,
    check_int_range,
    decode_base64,
    format_timestamp,
    invalid_value,
    parse_timestamp,
    timestamp_format,
)
from tule.errors import AwsError


def load_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body; an empty body is `{}`."""
    if not body.strip():
        return {}
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: a document nested deeper than the decoder's recursion limit.
        raise WireError(
            "SerializationException", "Start of structure or map found where not expected."
        ) from None
    if not isinstance(doc, dict):
        raise WireError(
            "SerializationException", "Start of structure or map found where not expected."
        )
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(doc):
        raise WireError("SerializationException", "Invalid UTF-16 surrogate in a JSON string.")
    return doc


# `\ud800`-style escapes: json.loads joins a valid pair into one character but keeps a lone
# half as is, a string no store (SQLite, UTF-8 files) can hold; AWS's parsers refuse it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(doc: Any) -> bool:
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; AWS's parsers refuse them, and echoing one back would
    # write a body botocore cannot read.
    raise ValueError(name)


def from_json(shape: Shape, value: Any, member: str) -> Any:
    """Convert a decoded JSON value to the shape's Python form, checking its type."""
    if value is None:
        return None
    t = shape.type_name
    if t == "structure" and shape.is_document_type:
        return value  # a document is free-form JSON (Glue's Iceberg field types)
    if t == "structure":
        if not isinstance(value, dict):
            raise invalid_value(member, value, "a structure")
        out: dict[str, Any] = {}
        for name, sub in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = from_json(sub, value[name], f"{member}.{name}" if member else name)
        return out
    if t == "list":
        if not isinstance(value, list):
            raise invalid_value(member, value, "a list")
        return [from_json(shape.member, v, f"{member}.{i + 1}") for i, v in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict):
            raise invalid_value(member, value, "a map")
        return {str(k): from_json(shape.value, v, f"{member}.{k}") for k, v in value.items()}
    if t == "string":
        if not isinstance(value, str):
            raise invalid_value(member, value, "a string")
        return value
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_value(member, value, "an integer")
        return check_int_range(shape, value, member)
    if t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_value(member, value, "a number")
        try:
            return float(value)
        except OverflowError:  # an integer literal beyond a double's range
            raise invalid_value(member, value, "a number") from None
    if t == "boolean":
        if not isinstance(value, bool):
            raise invalid_value(member, value, "a boolean")
        return value
    if t == "blob":
        if not isinstance(value, str):
            raise invalid_value(member, value, "base64-encoded binary data")
        return decode_base64(value, member)
    if t == "timestamp":
        return parse_timestamp(value, member)
    return value


def to_json(shape: Shape, value: Any) -> Any:
    """Convert a handler's Python value to its JSON form for the shape."""
    t = shape.type_name
    if t == "structure" and shape.is_document_type:
        return value
    if t == "structure":
        return {
            name: to_json(sub, value[name])
            for name, sub in shape.members.items()
            if value.get(name) is not None
        }
    if t == "list":
        return [to_json(shape.member, v) for v in value]
    if t == "map":
        return {k: to_json(shape.value, v) for k, v in value.items()}
    if t == "blob":
        raw = value if isinstance(value, bytes) else str(value).encode()
        return base64.b64encode(raw).decode()
    if t == "timestamp":
        return format_timestamp(value, timestamp_format(shape, "unixTimestamp"))
    if t in ("float", "double"):
        return float(value)
    return value


def parse_request(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict:
    doc = load_body(req.body)
    if op.input_shape is None:
        return {}
    return from_json(op.input_shape, doc, "")


def content_type(service: ServiceModel) -> str:
    return f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"


def serialize_response(op: OperationModel, output: dict, request_id: str) -> HttpResponse:
    body = {} if op.output_shape is None else to_json(op.output_shape, output)
    return HttpResponse(
        200,
        {"content-type": content_type(op.service_model), "x-amzn-requestid": request_id},
        json.dumps(body, separators=(",", ":")).encode(),
    )


def serialize_error(
    err: AwsError, service: ServiceModel, request_id: str, method: str = "POST"
) -> HttpResponse:
    body: dict[str, Any] = {"__type": err.code, "message": err.message}
    body.update(err.fields)
    headers = {
        "content-type": content_type(service),
        "x-amzn-requestid": request_id,
        "x-amzn-errortype": err.code,
        **err.headers,
    }
    return HttpResponse(err.status_code, headers, json.dumps(body, default=str).encode())
