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


def for_service(protocol: str) -> ModuleType:
    return PROTOCOLS[protocol]
