"""What rest-json and rest-xml share: members bound to the URI, query string and headers."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _InputPlan:
    """How to find an input shape's bound members in a request without asking for each one:
    a request sets a few of PutObject's ~40 headers, so its headers are looked up in
    `by_header`, and only the bindings found (plus the URI ones, and the query ones when there
    is a query) are parsed, in the shape's order as before."""

    # (name, member, location, wire name, lower-case wire name, type) per binding.
    bindings: tuple[tuple[str, Shape, str, str, str, str], ...]
    by_header: dict[str, tuple[int, ...]]
    always: tuple[int, ...]  # URI labels and header-prefix maps (x-amz-meta-)
    in_query: tuple[int, ...]


@cache
def _input_plan(shape: Shape) -> _InputPlan:
    bindings = tuple(
        (name, member, loc, wire, wire.lower(), member.type_name)
        for name, member, loc, wire in _bound(shape)
    )
    by_header: dict[str, list[int]] = {}
    always: list[int] = []
    in_query: list[int] = []
    for i, binding in enumerate(bindings):
        loc = binding[2]
        if loc == "header":
            by_header.setdefault(binding[4], []).append(i)
        elif loc == "querystring":
            in_query.append(i)
        else:
            always.append(i)
    return _InputPlan(
        bindings, {k: tuple(v) for k, v in by_header.items()}, tuple(always), tuple(in_query)
    )


def parse_located(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict:
    """Input members bound to the URI, the query string and headers."""
    shape = op.input_shape
    out: dict[str, Any] = {}
    if shape is None:
        return out
    plan = _input_plan(shape)
    if not plan.bindings:
        return out
    headers = req.headers
    hits = list(plan.always)
    by_header = plan.by_header
    for key in headers:
        found = by_header.get(key)
        if found is not None:
            hits.extend(found)
    # Without a query, no query binding can bind anything (a query map binds what is left).
    query = req.query_params() if plan.in_query and req.query else []
    if query:
        hits.extend(plan.in_query)
    hits.sort()
    bound_query: set[str] = set()
    query_maps: list[str] = []
    for i in hits:
        name, member, loc, wire, lower, kind = plan.bindings[i]
        if loc == "header":
            value = headers.get(lower)
            if value is None:
                continue
            if kind == "list":
                out[name] = [
                    scalar_from_text(member.member, v.strip(), name) for v in value.split(",")
                ]
            elif kind == "timestamp":
                # An unparseable date in a header (If-Modified-Since, ...) is ignored, as HTTP
                # servers and S3 do, rather than failing the request.
                with contextlib.suppress(AwsError):
                    out[name] = scalar_from_text(member, value, name, "rfc822")
            elif kind == "string":
                out[name] = value
            else:
                out[name] = scalar_from_text(member, value, name, "rfc822")
        elif loc == "uri":
            raw = path_params.get(wire)
            if raw is not None:
                out[name] = scalar_from_text(member, unquote(raw), name)
        elif loc == "querystring":
            if kind == "map":
                query_maps.append(name)  # collected after the named ones, below
                continue
            values = [v for k, v in query if k == wire]
            bound_query.add(wire)
            if not values:
                continue
            if kind == "list":
                out[name] = [scalar_from_text(member.member, v, name) for v in values]
            else:
                out[name] = scalar_from_text(member, values[0], name)
        elif loc == "headers":
            found = {k[len(lower) :]: v for k, v in headers.items() if k.startswith(lower)}
            if found:
                out[name] = found
    for name in query_maps:
        rest = {k: v for k, v in query if k not in bound_query}
        if rest:
            out[name] = rest
    return out


@cache
def body_members(shape: Shape | None) -> dict[str, Shape]:
    """Members that travel in the body (not bound to URI, query or headers); looked up once
    per shape, and read only."""
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
    bound = _bound(shape)
    positions = _output_positions(shape)
    # An output sets a few of its shape's bound members (GetObject's ~40): visit those, in
    # the shape's order.
    hits = sorted(i for key in output if (i := positions.get(key)) is not None)
    for i in hits:
        name, member, loc, wire = bound[i]
        value = output[name]
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


@cache
def _output_positions(shape: Shape) -> dict[str, int]:
    """Member name -> its position among the shape's bound members."""
    return {binding[0]: i for i, binding in enumerate(_bound(shape))}
