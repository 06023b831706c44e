"""What rest-json and rest-xml share: members bound to the URI, query string and headers."""

from __future__ import annotations

import contextlib
import io
from functools import cache
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, Shape

from tule.aws.http import HttpRequest
from tule.aws.protocols.common import scalar_from_text, scalar_to_text
from tule.errors import AwsError

BODY_LOCATIONS = (None, "")


@cache
def _bound(shape: Shape) -> tuple[tuple[str, Shape, str, str], ...]:
    """(name, member, location, wire name) of the members bound outside the body, in order.
    Both directions run per request, over shapes of up to ~50 members of which a request sets
    a few: looking the bindings up once per shape halves their cost."""
    out = []
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        if loc not in BODY_LOCATIONS:
            out.append((name, member, loc, member.serialization.get("name", name)))
    return tuple(out)


def parse_located(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict:
    """Input members bound to the URI, the query string and headers."""
    shape = op.input_shape
    out: dict[str, Any] = {}
    if shape is None:
        return out
    query = req.query_params()
    bound_query: set[str] = set()
    bound = _bound(shape)
    for name, member, loc, wire in bound:
        if loc == "uri":
            raw = path_params.get(wire)
            if raw is not None:
                out[name] = scalar_from_text(member, unquote(raw), name)
        elif loc == "querystring":
            if member.type_name == "map":
                continue  # collected after the named ones, below
            values = [v for k, v in query if k == wire]
            bound_query.add(wire)
            if not values:
                continue
            if member.type_name == "list":
                out[name] = [scalar_from_text(member.member, v, name) for v in values]
            else:
                out[name] = scalar_from_text(member, values[0], name)
        elif loc == "header":
            value = req.headers.get(wire.lower())
            if value is None:
                continue
            if member.type_name == "list":
                out[name] = [
                    scalar_from_text(member.member, v.strip(), name) for v in value.split(",")
                ]
            elif member.type_name == "timestamp":
                # An unparseable date in a header (If-Modified-Since, ...) is ignored, as HTTP
                # servers and S3 do, rather than failing the request.
                with contextlib.suppress(AwsError):
                    out[name] = scalar_from_text(member, value, name, "rfc822")
            else:
                out[name] = scalar_from_text(member, value, name, "rfc822")
        elif loc == "headers":
            prefix = wire.lower()
            found = {k[len(prefix) :]: v for k, v in req.headers.items() if k.startswith(prefix)}
            if found:
                out[name] = found
    for name, member, loc, _ in bound:
        if loc == "querystring" and member.type_name == "map":
            rest = {k: v for k, v in query if k not in bound_query}
            if rest:
                out[name] = rest
    return out


def body_members(shape: Shape | None) -> dict[str, Shape]:
    """Members that travel in the body (not bound to URI, query or headers)."""
    if shape is None:
        return {}
    return {
        n: m for n, m in shape.members.items() if m.serialization.get("location") in BODY_LOCATIONS
    }


def payload_member(shape: Shape | None) -> str | None:
    return None if shape is None else shape.serialization.get("payload")


def streaming_body(req: HttpRequest) -> io.BufferedIOBase | io.BytesIO:
    """The request body as a stream, for streaming blob payloads (S3 PutObject)."""
    if req.body_stream is not None:
        return req.body_stream  # type: ignore[return-value]
    return io.BytesIO(req.body)


def raw_payload(member: Shape, req: HttpRequest) -> tuple[bool, Any]:
    """A blob or text payload as it travels (not encoded as JSON or XML): (found, value).

    Streaming blobs (S3 PutObject) come as a stream; a text payload such as PutBucketPolicy's
    JSON policy is passed as text."""
    if member.type_name == "blob":
        if member.serialization.get("streaming"):
            return True, streaming_body(req)
        if req.body_stream is not None:
            # A large non-streaming blob (Lambda's Invoke Payload) arrives spooled: botocore
            # counts any blob payload as streaming input, so the dispatcher left it unread.
            req.body, req.body_stream = req.body_stream.read(), None
        return True, req.body
    if member.type_name == "string":
        return True, req.body.decode("utf-8", errors="replace")
    return False, None


def located_output(op: OperationModel, output: dict) -> tuple[int | None, dict[str, str]]:
    """The status code and headers that output members bound to them produce."""
    shape = op.output_shape
    status: int | None = None
    headers: dict[str, str] = {}
    if shape is None:
        return status, headers
    for name, member, loc, wire in _bound(shape):
        value = output.get(name)
        if value is None:
            continue
        if loc == "statusCode":
            status = int(value)
        elif loc == "header":
            if member.type_name == "list":
                headers[wire.lower()] = ",".join(scalar_to_text(member.member, v) for v in value)
            else:
                headers[wire.lower()] = scalar_to_text(member, value, "rfc822")
        elif loc == "headers":
            for k, v in value.items():
                headers[f"{wire}{k}".lower()] = str(v)
    return status, headers
