"""The service table: which AWS services tule serves, their handlers and their domain objects.

Each entry names the botocore service (`s3`, `logs`, ...), the module holding its handlers (one
function per operation, named as botocore's snake_case operation name), and a factory that builds
the service's domain object from a `ServiceEnv`. Services listed without a domain still route,
so every operation of their model answers a clear not-implemented error.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tule.context import RequestContext
from tule.services.base import ServiceEnv

Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ServiceEntry:
    """One served AWS service."""

    name: str
    package: str | None  # e.g. "tule.services.s3"; None: routed, nothing implemented yet
    factory: str | None = None  # attribute of the package that builds the domain object

    def handlers_module(self) -> ModuleType | None:
        if self.package is None:
            return None
        return importlib.import_module(f"{self.package}.handlers")

    def build(self, env: ServiceEnv) -> Any:
        if self.package is None or self.factory is None:
            return None
        return getattr(importlib.import_module(self.package), self.factory)(env)


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry("s3", "tule.services.s3", "S3"),
    ServiceEntry("sts", "tule.services.sts", "STS"),
    ServiceEntry("logs", "tule.services.logs", "Logs"),
    ServiceEntry("lambda", "tule.services.lambda_", "Lambda"),
    ServiceEntry("kinesis", "tule.services.kinesis", "Kinesis"),
    ServiceEntry("glue", "tule.services.glue", "Glue"),
    ServiceEntry("firehose", "tule.services.firehose", "Firehose"),
    ServiceEntry("athena", "tule.services.athena", "Athena"),
    ServiceEntry("sagemaker", "tule.services.sagemaker", "SageMaker"),
    ServiceEntry("sagemaker-runtime", "tule.services.sagemaker_runtime", "SageMakerRuntime"),
)

_FIRST_CAP = re.compile(r"(.)([A-Z][a-z]+)")
_ALL_CAP = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(operation: str) -> str:
    """botocore's operation-name conversion (`ListObjectsV2` -> `list_objects_v2`)."""
    return _ALL_CAP.sub(r"\1_\2", _FIRST_CAP.sub(r"\1_\2", operation)).lower()


def handler_table(entry: ServiceEntry, operation_names: list[str]) -> dict[str, Handler]:
    """Operation name -> handler for the operations this service implements."""
    module = entry.handlers_module()
    if module is None:
        return {}
    table: dict[str, Handler] = {}
    for op in operation_names:
        fn = getattr(module, snake_case(op), None)
        if callable(fn):
            table[op] = fn
    return table
