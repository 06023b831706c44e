"""botocore's service models, loaded once: the source of truth for every wire shape.

A service botocore now speaks in a REST protocol may still be spoken to in the JSON protocol it
had before (`EARLIER_JSON`): AWS answers both, and every other SDK (Java, .NET, Go, JS, the
Athena JDBC and ODBC drivers) and botocore releases before the move send `X-Amz-Target`
requests. `wire_model(service, "json")` is that earlier form, derived from the current model:
the same operations and shapes, every input and output member in the JSON body under its own
name, each operation a POST to `/`.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(name: str) -> ServiceModel:
    """The botocore model of a service by its boto3 name (`s3`, `sagemaker-runtime`, ...)."""
    return _session().get_service_model(name)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


# Service -> (X-Amz-Target prefix, JSON version) of the JSON protocol it was served in before
# botocore's model moved it to rest-json (Athena in botocore 1.44.1x; AWS still answers both).
EARLIER_JSON: dict[str, tuple[str, str]] = {"athena": ("AmazonAthena", "1.1")}

_BOUND = ("uri", "querystring", "header", "headers", "statusCode")


@cache
def wire_model(service: str, wire: str | None = None) -> ServiceModel:
    """The model a request is read and answered with: the service's own, or (`wire="json"`)
    its earlier JSON form for a service in `EARLIER_JSON` (see the module docstring)."""
    if wire is None or wire == protocol(service) or service not in EARLIER_JSON:
        return service_model(service)
    return ServiceModel(earlier_json_description(service), service_name=service)


@cache
def earlier_json_description(service: str) -> dict[str, Any]:
    """The service description (botocore's `service-2.json` layout) of a service's earlier
    JSON form; shared: do not change it."""
    prefix, version = EARLIER_JSON[service]
    data = copy.deepcopy(_session().get_service_data(service))
    data["metadata"].update(
        protocol="json", protocols=["json"], jsonVersion=version, targetPrefix=prefix
    )
    shapes = data["shapes"]
    for name, op in list(data["operations"].items()):
        if _rest_only(op, shapes):
            del data["operations"][name]
            continue
        op["http"] = {"method": "POST", "requestUri": "/"}
    for shape in shapes.values():
        for member in shape.get("members", {}).values():
            if member.get("location") in _BOUND:
                # A URI label, query key or header becomes a body member under its own name.
                member.pop("location")
                member.pop("locationName", None)
    return data


def _rest_only(op: dict[str, Any], shapes: dict[str, Any]) -> bool:
    """Whether an operation exists only in REST form: one whose input or output is a raw
    payload or is carried in headers (a byte stream), which the JSON protocol cannot hold."""
    for ref in (op.get("input"), op.get("output")):
        shape = shapes.get(ref["shape"], {}) if ref else {}
        if "payload" in shape or any(
            m.get("location") in ("header", "headers") for m in shape.get("members", {}).values()
        ):
            return True
    return False


def protocol(service: str) -> str:
    """The wire protocol boto3 uses for the service (`json`, `rest-json`, `rest-xml`, `query`)."""
    return service_model(service).metadata["protocol"]


def service_id(service: str) -> str:
    """The service's id as AWS names it in errors (`S3`, `SageMaker`, `CloudWatch Logs`)."""
    return service_model(service).metadata.get("serviceId", service)
