"""botocore's service models, loaded once: the source of truth for every wire shape."""

from __future__ import annotations

from functools import cache

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


def protocol(service: str) -> str:
    """The wire protocol boto3 uses for the service (`json`, `rest-json`, `rest-xml`, `query`)."""
    return service_model(service).metadata["protocol"]


def service_id(service: str) -> str:
    """The service's id as AWS names it in errors (`S3`, `SageMaker`, `CloudWatch Logs`)."""
    return service_model(service).metadata.get("serviceId", service)
