"""The `json` protocol (1.0 and 1.1): POST / with X-Amz-Target, JSON bodies both ways.

Used by SageMaker, Kinesis, Firehose, Glue, Athena and CloudWatch Logs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson
from botocore.model import OperationModel, ServiceModel, Shape

from tule.aws.http import HttpRequest, HttpResponse
from tule.aws.protocols import json_shapes
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
from tule.wire import Verbatim

# What json.dumps(..., separators=(",", ":")) builds per call, built once.
COMPACT = json.JSONEncoder(separators=(",", ":"))


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
        if isinstance(value, Verbatim):
            return value
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


def convert_input(shape: Shape, value: Any, member: str) -> Any:
    """`from_json`, through the shape's compiled converter when it takes the value."""
    if value is None:
        return None
    compiled = json_shapes.input_converter(shape)
    if compiled is not None:
        try:
            return compiled(value)
        except Exception:  # the reference conversion raises the right error
            pass
    return from_json(shape, value, member)


def convert_output(shape: Shape, value: Any) -> Any:
    """`to_json`, through the shape's compiled converter."""
    compiled = json_shapes.output_converter(shape)
    if compiled is None:
        return value
    try:
        return compiled(value)
    except Exception:  # the reference conversion fails the same way
        return to_json(shape, value)


def parse_request(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict:
    shape = op.input_shape
    if shape is not None:
        fast = _fast_parse(shape, req.body)
        if fast is not None:
            return fast
    doc = load_body(req.body)
    if shape is None:
        return {}
    return convert_input(shape, doc, "")


def _fast_parse(shape: Shape, body: bytes) -> dict | None:
    """The request through orjson and the shape's compiled converter, or None when either
    refuses it (then the stdlib decoder and the reference conversion answer exactly as ever).

    orjson reads a valid document as json.loads does, except that it refuses more (lone
    surrogates, NaN, infinities, a BOM, other encodings than UTF-8: all errors the slow path
    words) and reads integers beyond 64 bits as floats, which no integer member takes and
    the compiled converter refuses inside documents."""
    compiled = json_shapes.input_converter(shape)
    if compiled is None:
        return None
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict):
            return compiled(doc)
    except Exception:  # the slow path gives the error its exact words
        pass
    return None


@cache
def content_type(service: ServiceModel) -> str:
    return f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"


# orjson writes what it does not pass through (datetimes, dataclasses, subclasses of the JSON
# types) differently from json.dumps, or not at all: refused, they go the stdlib's way.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def render(shape: Shape | None, output: dict) -> bytes:
    """The JSON body for an output shape: its compiled converter and orjson when both take the
    value, else `to_json` and json.dumps.

    orjson writes non-ASCII text as UTF-8 where json.dumps escapes it, and floats in their
    shortest form: the same document to any JSON reader. It writes NaN and infinities as
    null, where json.dumps writes NaN: a body holding `null` is written again the stdlib's
    way (the structures we write hold no nulls of their own, so that is rare)."""
    if shape is None:
        return b"{}"
    compiled = json_shapes.output_converter(shape)
    try:
        data = orjson.dumps(
            output if compiled is None else compiled(output), option=_ORJSON_OPTIONS
        )
        if b"null" not in data:
            return data
    except Exception:  # the reference conversion fails the same way, or writes what orjson won't
        pass
    return COMPACT.encode(to_json(shape, output)).encode()


def render_members(members: Mapping[str, Shape], output: dict) -> bytes:
    """`render` for some members of an output (rest-json's body: the others travel in the
    status line and headers)."""
    try:
        body: dict[str, Any] = {}
        for name, member in members.items():
            value = output.get(name)
            if value is not None:
                compiled = json_shapes.output_converter(member)
                body[name] = value if compiled is None else compiled(value)
        data = orjson.dumps(body, option=_ORJSON_OPTIONS)
        if b"null" not in data:
            return data
    except Exception:  # as in `render`
        pass
    body = {
        name: to_json(member, output[name])
        for name, member in members.items()
        if output.get(name) is not None
    }
    return COMPACT.encode(body).encode()


def serialize_response(op: OperationModel, output: dict, request_id: str) -> HttpResponse:
    return HttpResponse(
        200,
        {"content-type": content_type(op.service_model), "x-amzn-requestid": request_id},
        render(op.output_shape, output),
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
