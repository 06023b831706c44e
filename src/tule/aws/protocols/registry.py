"""Protocol name -> the module that parses and serializes it."""

from __future__ import annotations

from types import ModuleType

from tule.aws.protocols import json, query, rest_json, rest_xml

PROTOCOLS: dict[str, ModuleType] = {
    "json": json,
    "rest-json": rest_json,
    "rest-xml": rest_xml,
    "query": query,
}

VALIDATION_CODES = {"rest-xml": "InvalidArgument", "query": "ValidationError"}
# Services whose own validation error code differs from their protocol's (SageMaker Runtime
# models `ValidationError`, not the JSON services' `ValidationException`).
SERVICE_VALIDATION_CODES = {"sagemaker-runtime": "ValidationError"}


def validation_code(service: str, protocol: str) -> str:
    """The error code of a request that breaks its input shape."""
    return SERVICE_VALIDATION_CODES.get(service) or VALIDATION_CODES.get(
        protocol, "ValidationException"
    )


def for_service(protocol: str) -> ModuleType:
    return PROTOCOLS[protocol]
