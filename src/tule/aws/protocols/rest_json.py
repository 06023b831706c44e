"""The `rest-json` protocol (SageMaker Runtime, Lambda): routes by path, JSON or raw bodies."""

from __future__ import annotations

import json
from typing import Any

from botocore.model import OperationModel, ServiceModel

from tule.aws.http import HttpRequest, HttpResponse
from tule.aws.protocols import json as json_protocol
from tule.aws.protocols.common import scalar_to_text
from tule.aws.protocols.rest import (
    body_members,
    located_output,
    parse_located,
    payload_member,
    raw_payload,
)
from tule.errors import AwsError


def parse_request(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict:
    out = parse_located(op, req, path_params)
    shape = op.input_shape
    if shape is None:
        return out
    payload = payload_member(shape)
    if payload:
        member = shape.members[payload]
        found, value = raw_payload(member, req)
        if found:
            out[payload] = value
        elif req.body.strip():
            doc = json_protocol.load_body(req.body)
            out[payload] = json_protocol.convert_input(member, doc, payload)
    elif body_members(shape):
        doc = json_protocol.load_body(req.body)
        for name, member in body_members(shape).items():
            if doc.get(name) is not None:
                out[name] = json_protocol.convert_input(member, doc[name], name)
    return out


def serialize_response(op: OperationModel, output: dict, request_id: str) -> HttpResponse:
    status, headers = located_output(op, output)
    headers["x-amzn-requestid"] = request_id
    resp = HttpResponse(status or op.http.get("responseCode", 200), headers)
    shape = op.output_shape
    if shape is None:
        return resp
    payload = payload_member(shape)
    if payload:
        member = shape.members[payload]
        value = output.get(payload)
        if value is None:
            return resp
        if member.type_name in ("blob", "string"):
            if isinstance(value, bytes | str):
                resp.body = value.encode() if isinstance(value, str) else value
            else:
                resp.stream = value
        else:
            resp.body = json.dumps(json_protocol.convert_output(member, value)).encode()
            resp.headers.setdefault("content-type", "application/json")
        return resp
    resp.body = json_protocol.render_members(body_members(shape), output)
    resp.headers.setdefault("content-type", "application/json")
    return resp


def serialize_error(
    err: AwsError, service: ServiceModel, request_id: str, method: str = "POST"
) -> HttpResponse:
    body: dict[str, Any] = {"message": err.message}
    headers = {
        "content-type": "application/json",
        "x-amzn-requestid": request_id,
        "x-amzn-errortype": err.code,
    }
    shape = service.shape_for_error_code(err.code)
    for name, value in err.fields.items():
        member = shape.members.get(name) if shape is not None else None
        if member is not None and member.serialization.get("location") == "header":
            # modeled error members bound to headers (Lambda's `Retry-After`) are read there
            wire = member.serialization.get("name", name).lower()
            headers[wire] = scalar_to_text(member, value, "rfc822")
        else:
            body[name] = value
    headers.update(err.headers)
    return HttpResponse(err.status_code, headers, json.dumps(body, default=str).encode())
