"""The `query` protocol (STS): form-encoded `Action=` requests, XML responses."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from botocore.model import OperationModel, ServiceModel, Shape

from tule.aws.http import HttpRequest, HttpResponse
from tule.aws.protocols import xmlcodec
from tule.aws.protocols.common import WireError, scalar_from_text
from tule.errors import AwsError


def form_params(req: HttpRequest) -> dict[str, str]:
    """Form fields from the body (POST) or the query string (GET)."""
    try:
        text = req.body.decode("utf-8") if req.body else req.query
    except UnicodeDecodeError:
        raise WireError("MalformedQueryString", "The request body is not valid UTF-8.") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def parse_request(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict:
    if op.input_shape is None:
        return {}
    return _structure(op.input_shape, form_params(req), "")


def _structure(shape: Shape, params: dict[str, str], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = prefix + member.serialization.get("name", name)
        value = _member(member, params, key)
        if value is not None:
            out[name] = value
    return out


def _member(shape: Shape, params: dict[str, str], key: str) -> Any:
    t = shape.type_name
    if t == "structure":
        if not any(k.startswith(key + ".") for k in params):
            return None
        return _structure(shape, params, key + ".")
    if t == "list":
        inner = "" if shape.serialization.get("flattened") else ".member"
        if params.get(key) == "" and not any(k.startswith(key + ".") for k in params):
            return []
        items, i = [], 1
        while any(k == f"{key}{inner}.{i}" or k.startswith(f"{key}{inner}.{i}.") for k in params):
            items.append(_member(shape.member, params, f"{key}{inner}.{i}"))
            i += 1
        return items or None
    if t == "map":
        inner = "" if shape.serialization.get("flattened") else ".entry"
        k_name = shape.key.serialization.get("name", "key")
        v_name = shape.value.serialization.get("name", "value")
        out, i = {}, 1
        while f"{key}{inner}.{i}.{k_name}" in params:
            out[params[f"{key}{inner}.{i}.{k_name}"]] = _member(
                shape.value, params, f"{key}{inner}.{i}.{v_name}"
            )
            i += 1
        return out or None
    if key not in params:
        return None
    return scalar_from_text(shape, params[key], key)


def namespace(service: ServiceModel) -> str:
    return service.metadata.get("xmlNamespace", "https://sts.amazonaws.com/doc/2011-06-15/")


def serialize_response(op: OperationModel, output: dict, request_id: str) -> HttpResponse:
    root = ET.Element(f"{op.name}Response", xmlns=namespace(op.service_model))
    shape = op.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
        result = ET.SubElement(root, wrapper)
        xmlcodec.fill(shape, output, result)
    meta = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(meta, "RequestId").text = request_id
    return HttpResponse(
        200,
        {"content-type": "text/xml", "x-amzn-requestid": request_id},
        xmlcodec.dumps(root),
    )


def serialize_error(
    err: AwsError, service: ServiceModel, request_id: str, method: str = "POST"
) -> HttpResponse:
    root = ET.Element("ErrorResponse", xmlns=namespace(service))
    error = ET.SubElement(root, "Error")
    ET.SubElement(error, "Type").text = "Sender" if err.sender_fault else "Receiver"
    ET.SubElement(error, "Code").text = err.code
    ET.SubElement(error, "Message").text = err.message
    # Modeled error members (STS's `reason`, `ResourceId`) sit beside Code and Message.
    for name, value in err.fields.items():
        ET.SubElement(error, name).text = str(value)
    ET.SubElement(root, "RequestId").text = request_id
    return HttpResponse(
        err.status_code,
        {"content-type": "text/xml", "x-amzn-requestid": request_id, **err.headers},
        xmlcodec.dumps(root),
    )
