"""Models: CreateModel, DescribeModel, ListModels, DeleteModel (specs/aws-apis.md §4.1).

A model names its container(s) — one `PrimaryContainer`, or `Containers` run as a serial
inference pipeline (or addressed one by one in Direct mode) — and where the trained artifacts
are. Nothing runs until an endpoint or a transform job uses it.
"""

from __future__ import annotations

from typing import Any

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.sagemaker import errors
from tule.services.sagemaker.listing import Listing
from tule.services.sagemaker.records import Record, Records

LISTING = Listing(
    name_member="ModelName",
    sort_keys={"Name": "ModelName", "CreationTime": "CreationTime"},
    summary=("ModelName", "ModelArn", "CreationTime"),
)
_ECHOED = (
    "PrimaryContainer",
    "Containers",
    "InferenceExecutionConfig",
    "ExecutionRoleArn",
    "VpcConfig",
    "EnableNetworkIsolation",
)


def containers(model: Record) -> list[dict[str, Any]]:
    """The model's container definitions in pipeline order."""
    if model.get("PrimaryContainer"):
        return [model["PrimaryContainer"]]
    return list(model.get("Containers") or [])


def serial(model: Record) -> bool:
    """Whether requests flow through every container in turn (an inference pipeline)."""
    mode = (model.get("InferenceExecutionConfig") or {}).get("Mode", "Serial")
    return mode == "Serial"


class Models:
    """The model records of every (account, region)."""

    def __init__(self, store: MetadataStore, clock: Clock) -> None:
        self.clock = clock
        self.records = Records(store, "model", self._not_found)

    def _not_found(self, account: str, region: str, name: str) -> Exception:
        return errors.validation(
            f'Could not find model "{self.records.arn(account, region, name)}".'
        )

    def create(self, account: str, region: str, request: dict[str, Any]) -> str:
        name = request["ModelName"]
        arn = self.records.arn(account, region, name)
        primary, pipeline = request.get("PrimaryContainer"), request.get("Containers")
        if bool(primary) == bool(pipeline):
            raise errors.validation(
                "Either PrimaryContainer or Containers must be specified, but not both."
            )
        for container in [primary] if primary else pipeline:
            _check_container(container)
        mode = (request.get("InferenceExecutionConfig") or {}).get("Mode")
        if mode == "Direct" and pipeline:
            hostnames = [c.get("ContainerHostname") for c in pipeline]
            if not all(hostnames) or len(set(hostnames)) != len(hostnames):
                raise errors.validation(
                    "ContainerHostname must be set and unique for every container of a model "
                    "with InferenceExecutionConfig Mode Direct."
                )
        record: Record = {"ModelName": name, "ModelArn": arn, "CreationTime": self.clock.time()}
        for member in _ECHOED:
            if member in request:
                record[member] = request[member]
        if not self.records.create(account, region, name, record):
            raise errors.validation(f'Cannot create already existing model "{arn}".')
        return arn

    def describe(self, account: str, region: str, name: str) -> Record:
        return self.records.get(account, region, name)

    def delete(self, account: str, region: str, name: str) -> None:
        self.records.get(account, region, name)
        self.records.delete(account, region, name)

    def list(
        self, account: str, region: str, request: dict[str, Any]
    ) -> tuple[list[Record], str | None]:
        return LISTING.page(self.records.all(account, region), request)


def _check_container(container: dict[str, Any]) -> None:
    if not container.get("Image") and not container.get("ModelPackageName"):
        raise errors.validation("Image must be specified for every container of a model.")
    if container.get("ModelPackageName"):
        raise errors.validation(
            "ModelPackageName is not supported by tule yet (model packages are not "
            "implemented); give Image and ModelDataUrl."
        )
    url = container.get("ModelDataUrl")
    if url and not (url.startswith("s3://") or url.startswith("https://")):
        raise errors.validation(
            f"Could not access model data at {url}. Please ensure that the URL is a valid S3 URL."
        )
    if container.get("Mode") == "MultiModel":
        raise errors.validation(
            "Multi-model endpoints (Mode MultiModel) are not supported by tule yet."
        )
