"""The `rest-xml` protocol (S3): operations bound to method, path and query; XML bodies."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from botocore.model import OperationModel, ServiceModel

from tule.aws.http import HttpRequest, HttpResponse
from tule.aws.protocols import xmlcodec
from tule.aws.protocols.rest import (
    body_members,
    located_output,
    parse_located,
    payload_member,
    raw_payload,
)
from tule.errors import AwsError

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

# The root elements S3 really writes; botocore ignores the root's name, other clients may not.
ROOT_NAMES = {
    "ListObjectsOutput": "ListBucketResult",
    "ListObjectsV2Output": "ListBucketResult",
    "ListBucketsOutput": "ListAllMyBucketsResult",
    "ListObjectVersionsOutput": "ListVersionsResult",
    "CreateMultipartUploadOutput": "InitiateMultipartUploadResult",
    "CompleteMultipartUploadOutput": "CompleteMultipartUploadResult",
    "ListPartsOutput": "ListPartsResult",
    "ListMultipartUploadsOutput": "ListMultipartUploadsResult",
    "DeleteObjectsOutput": "DeleteResult",
    "GetBucketLifecycleConfigurationOutput": "LifecycleConfiguration",
    "GetBucketTaggingOutput": "Tagging",
    "GetObjectTaggingOutput": "Tagging",
    "GetBucketVersioningOutput": "VersioningConfiguration",
    "GetBucketEncryptionOutput": "ServerSideEncryptionConfiguration",
}


def parse_request(op: OperationModel, req: HttpRequest, path_params: dict[str, str]) -> dict:
    out = parse_located(op, req, path_params)
    shape = op.input_shape
    payload = payload_member(shape)
    if shape is None:
        return out
    if payload:
        member = shape.members[payload]
        found, value = raw_payload(member, req)
        if found:
            out[payload] = value
        elif req.body.strip():
            root = xmlcodec.parse_document(req.body)
            out[payload] = xmlcodec.from_xml(member, root, payload)
    elif body_members(shape) and req.body.strip():
        root = xmlcodec.parse_document(req.body)
        decoded = xmlcodec.from_xml(shape, root, "")
        out.update({k: v for k, v in decoded.items() if k in body_members(shape)})
    return out


def root_name(op: OperationModel) -> str:
    shape = op.output_shape
    assert shape is not None
    return shape.serialization.get("name") or ROOT_NAMES.get(
        shape.name, shape.name.removesuffix("Output") + "Result"
    )


def serialize_response(op: OperationModel, output: dict, request_id: str) -> HttpResponse:
    status, headers = located_output(op, output)
    headers.update(s3_ids(request_id))
    shape = op.output_shape
    resp = HttpResponse(status or op.http.get("responseCode", 200), headers)
    if shape is None:
        return resp
    payload = payload_member(shape)
    if op.name == "GetBucketLocation":
        # S3 writes the region as the root's text, and botocore reads it from there.
        root = ET.Element("LocationConstraint")
        root.text = output.get("LocationConstraint") or None
    elif payload:
        member = shape.members[payload]
        value = output.get(payload)
        if value is None:
            return resp
        if member.type_name in ("blob", "string"):
            if isinstance(value, bytes | str):
                resp.body = value.encode() if isinstance(value, str) else value
            else:
                resp.stream = value
            return resp
        root = xmlcodec.to_xml(member, value, member.serialization.get("name", payload))
    elif any(output.get(n) is not None for n in body_members(shape)):
        root = xmlcodec.to_xml(shape, output, root_name(op))
    else:
        return resp
    root.set("xmlns", S3_NAMESPACE)
    resp.body = xmlcodec.dumps(root)
    resp.headers["content-type"] = "application/xml"
    return resp


def s3_ids(request_id: str) -> dict[str, str]:
    return {"x-amz-request-id": request_id, "x-amz-id-2": request_id}


def serialize_error(
    err: AwsError, service: ServiceModel, request_id: str, method: str = "GET"
) -> HttpResponse:
    headers = {**s3_ids(request_id), **err.headers}
    if method == "HEAD" or err.status_code == 304:
        return HttpResponse(err.status_code, headers)
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = err.code
    ET.SubElement(root, "Message").text = err.message
    for k, v in err.fields.items():
        ET.SubElement(root, k).text = _text(v)
    ET.SubElement(root, "RequestId").text = request_id
    ET.SubElement(root, "HostId").text = request_id
    headers["content-type"] = "application/xml"
    return HttpResponse(err.status_code, headers, xmlcodec.dumps(root))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
