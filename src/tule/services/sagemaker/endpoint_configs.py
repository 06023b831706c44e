"""Endpoint configurations: Create, Describe, List, Delete (specs/aws-apis.md §4.2).

A configuration names the production variants (a model, an instance type and count, a traffic
weight — 1.0 unless given), shadow variants, data capture and asynchronous inference. It is
read when an endpoint is created or updated; deleting it later does not affect endpoints
already using it, as on AWS.
"""

from __future__ import annotations

from typing import Any

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.sagemaker import errors
from tule.services.sagemaker.listing import Listing
from tule.services.sagemaker.models import Models
from tule.services.sagemaker.records import Record, Records

LISTING = Listing(
    name_member="EndpointConfigName",
    sort_keys={"Name": "EndpointConfigName", "CreationTime": "CreationTime"},
    summary=("EndpointConfigName", "EndpointConfigArn", "CreationTime"),
)
DEFAULT_WEIGHT = 1.0
_ECHOED = (
    "DataCaptureConfig",
    "AsyncInferenceConfig",
    "KmsKeyId",
    "ExplainerConfig",
    "ExecutionRoleArn",
    "VpcConfig",
    "EnableNetworkIsolation",
    "MetricsConfig",
)


class EndpointConfigs:
    """The endpoint-configuration records of every (account, region)."""

    def __init__(self, store: MetadataStore, clock: Clock, models: Models) -> None:
        self.clock = clock
        self.models = models
        self.records = Records(store, "endpoint-config", self._not_found)

    def _not_found(self, account: str, region: str, name: str) -> Exception:
        arn = self.records.arn(account, region, name)
        return errors.validation(f'Could not find endpoint configuration "{arn}".')

    def create(self, account: str, region: str, request: dict[str, Any]) -> str:
        name = request["EndpointConfigName"]
        arn = self.records.arn(account, region, name)
        variants = [self._variant(account, region, v) for v in request["ProductionVariants"]]
        shadows = [
            self._variant(account, region, v) for v in request.get("ShadowProductionVariants") or []
        ]
        names = [v["VariantName"] for v in variants + shadows]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise errors.validation(
                f"Variant names must be unique within an endpoint configuration. Duplicate: "
                f"{duplicates[0]}"
            )
        capture = request.get("DataCaptureConfig")
        if capture and not str(capture.get("DestinationS3Uri", "")).startswith("s3://"):
            raise errors.validation("DataCaptureConfig.DestinationS3Uri must be an S3 URI.")
        record: Record = {
            "EndpointConfigName": name,
            "EndpointConfigArn": arn,
            "ProductionVariants": variants,
            "CreationTime": self.clock.time(),
        }
        if shadows:
            record["ShadowProductionVariants"] = shadows
        for member in _ECHOED:
            if member in request:
                record[member] = request[member]
        if not self.records.create(account, region, name, record):
            raise errors.validation(
                f'Cannot create already existing endpoint configuration "{arn}".'
            )
        return arn

    def _variant(self, account: str, region: str, variant: dict[str, Any]) -> dict[str, Any]:
        name = variant["VariantName"]
        if not variant.get("ModelName"):
            raise errors.validation(f"ModelName is required for production variant {name}.")
        self.models.describe(account, region, variant["ModelName"])
        serverless = variant.get("ServerlessConfig")
        if serverless is None and not (
            variant.get("InstanceType") and variant.get("InitialInstanceCount")
        ):
            raise errors.validation(
                f"InstanceType and InitialInstanceCount are required for production variant "
                f"{name} unless it has a ServerlessConfig."
            )
        if serverless is not None and (
            variant.get("InstanceType") or variant.get("InitialInstanceCount")
        ):
            raise errors.validation(
                f"Production variant {name} cannot have both ServerlessConfig and "
                "InstanceType/InitialInstanceCount."
            )
        out = dict(variant)
        out.setdefault("InitialVariantWeight", DEFAULT_WEIGHT)
        return out

    def describe(self, account: str, region: str, name: str) -> Record:
        return self.records.get(account, region, name)

    def delete(self, account: str, region: str, name: str) -> None:
        self.records.get(account, region, name)
        self.records.delete(account, region, name)

    def list(
        self, account: str, region: str, request: dict[str, Any]
    ) -> tuple[list[Record], str | None]:
        return LISTING.page(self.records.all(account, region), request)
