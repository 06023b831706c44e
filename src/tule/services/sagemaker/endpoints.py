"""Endpoints: Create, Update, UpdateEndpointWeightsAndCapacities, Delete, Describe, List
(specs/aws-apis.md §4.3).

An endpoint is a record (shaped as DescribeEndpoint answers) and, while it serves, a running
`Deployment`. Every change runs on a thread of its own and moves the status as AWS does:
Creating -> InService (every instance passed /ping) or Failed; Updating -> InService, the old
configuration serving until the new one is up, then switched at once (blue/green) — if the
new one cannot start, the old one keeps serving and FailureReason says why; Deleting -> gone.
After a restart of the server, endpoints that were serving are started again from the
configuration they were created with (a copy is kept in the record, since the configuration
may have been deleted since).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.sagemaker import errors
from tule.services.sagemaker.deployments import Deployment, DeploymentFailure, Launcher, Variant
from tule.services.sagemaker.endpoint_configs import EndpointConfigs
from tule.services.sagemaker.listing import Listing
from tule.services.sagemaker.records import Record, Records

log = logging.getLogger("tule.sagemaker.endpoints")

LISTING = Listing(
    name_member="EndpointName",
    status_member="EndpointStatus",
    sort_keys={"Name": "EndpointName", "CreationTime": "CreationTime", "Status": "EndpointStatus"},
    summary=("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus"),
)
CONFIG = "_Config"  # the configuration being served (internal: Describe's shape drops it)
# Old instances get this long between SIGTERM and SIGKILL once traffic has moved off them.
STOP_GRACE_S = 5.0
Key = tuple[str, str, str]


def _variant_summary(variant: Variant, definition: dict[str, Any], now: float) -> dict[str, Any]:
    images = []
    for container in _model_containers(variant):
        image = container.get("Image")
        if image:
            images.append({"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": now})
    summary: dict[str, Any] = {
        "VariantName": variant.name,
        "DeployedImages": images,
        "CurrentWeight": variant.weight,
        "DesiredWeight": variant.weight,
    }
    if definition.get("ServerlessConfig"):
        summary["CurrentServerlessConfig"] = definition["ServerlessConfig"]
        summary["DesiredServerlessConfig"] = definition["ServerlessConfig"]
    else:
        summary["CurrentInstanceCount"] = len(variant.instances)
        summary["DesiredInstanceCount"] = len(variant.instances)
    return summary


def _model_containers(variant: Variant) -> list[dict[str, Any]]:
    return list(variant.definition.get("_Containers") or [])


def _capture_summary(config: dict[str, Any]) -> dict[str, Any] | None:
    capture = config.get("DataCaptureConfig")
    if not capture:
        return None
    enabled = bool(capture.get("EnableCapture", True))
    out = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
        "DestinationS3Uri": capture["DestinationS3Uri"],
    }
    if capture.get("KmsKeyId"):
        out["KmsKeyId"] = capture["KmsKeyId"]
    return out


class Endpoints:
    """The endpoints of every (account, region), and the deployments serving them."""

    def __init__(
        self,
        store: MetadataStore,
        clock: Clock,
        configs: EndpointConfigs,
        launcher: Callable[[str, str, str], Launcher],
    ) -> None:
        self.clock = clock
        self.configs = configs
        self.launcher = launcher  # (account, region, endpoint) -> Launcher
        self.records = Records(store, "endpoint", self._not_found)
        self.live: dict[Key, Deployment] = {}
        self._operations: dict[Key, threading.Thread] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _not_found(self, account: str, region: str, name: str) -> Exception:
        return errors.validation(
            f'Could not find endpoint "{self.records.arn(account, region, name)}".'
        )

    # -- operations ----------------------------------------------------------------------------

    def create(self, account: str, region: str, request: dict[str, Any]) -> str:
        name = request["EndpointName"]
        arn = self.records.arn(account, region, name)
        config = self._resolved_config(account, region, request["EndpointConfigName"])
        now = self.clock.time()
        record: Record = {
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": request["EndpointConfigName"],
            "EndpointStatus": "Creating",
            "CreationTime": now,
            "LastModifiedTime": now,
            CONFIG: config,
        }
        if config.get("AsyncInferenceConfig"):
            record["AsyncInferenceConfig"] = config["AsyncInferenceConfig"]
        if request.get("DeploymentConfig"):
            record["LastDeploymentConfig"] = request["DeploymentConfig"]
        if not self.records.create(account, region, name, record):
            raise errors.validation(f'Cannot create already existing endpoint "{arn}".')
        self._run((account, region, name), lambda: self._deploy((account, region, name), config))
        return arn

    def update(self, account: str, region: str, request: dict[str, Any]) -> str:
        name = request["EndpointName"]
        key = (account, region, name)
        config = self._resolved_config(account, region, request["EndpointConfigName"])

        def change(record: Record) -> None:
            status = record["EndpointStatus"]
            if status != "InService":
                raise errors.validation(
                    f'Cannot update in-progress endpoint "{record["EndpointArn"]}".'
                    if status != "Failed"
                    else f'Cannot update failed endpoint "{record["EndpointArn"]}".'
                )
            record["EndpointStatus"] = "Updating"
            record["LastModifiedTime"] = self.clock.time()
            record.pop("FailureReason", None)
            record["PendingDeploymentSummary"] = {
                "EndpointConfigName": request["EndpointConfigName"],
                "StartTime": self.clock.time(),
            }

        record = self.records.update(account, region, name, change)
        if request.get("RetainAllVariantProperties"):
            config = self._retained(key, config, request)
        self._run(key, lambda: self._switch(key, config, request["EndpointConfigName"]))
        return record["EndpointArn"]

    def update_weights_and_capacities(
        self, account: str, region: str, name: str, desired: list[dict[str, Any]]
    ) -> str:
        key = (account, region, name)
        deployment = self.live.get(key)

        def change(record: Record) -> None:
            if record["EndpointStatus"] != "InService" or deployment is None:
                raise errors.validation(
                    f'Cannot update in-progress endpoint "{record["EndpointArn"]}".'
                )
            summaries = {v["VariantName"]: v for v in record.get("ProductionVariants") or []}
            for item in desired:
                if item["VariantName"] not in summaries:
                    raise errors.validation(
                        f"The variant name(s) [{item['VariantName']}] is/are not present in the "
                        f"endpoint {record['EndpointArn']}."
                    )
                summary = summaries[item["VariantName"]]
                if "DesiredWeight" in item:
                    summary["DesiredWeight"] = float(item["DesiredWeight"])
                if "DesiredInstanceCount" in item:
                    summary["DesiredInstanceCount"] = int(item["DesiredInstanceCount"])
            record["EndpointStatus"] = "Updating"
            record["LastModifiedTime"] = self.clock.time()

        record = self.records.update(account, region, name, change)
        assert deployment is not None
        self._run(key, lambda: self._apply_capacities(key, deployment, desired))
        return record["EndpointArn"]

    def delete(self, account: str, region: str, name: str) -> None:
        key = (account, region, name)

        def change(record: Record) -> None:
            record["EndpointStatus"] = "Deleting"
            record["LastModifiedTime"] = self.clock.time()

        self.records.update(account, region, name, change)
        with self._lock:
            previous = self._operations.get(key)
            deployment = self.live.pop(key, None)

        def remove() -> None:
            if previous is not None:
                previous.join()
            leftover = self.live.pop(key, None)
            for d in (deployment, leftover):
                if d is not None:
                    d.stop(STOP_GRACE_S)
            self.records.delete(account, region, name)

        self._run(key, remove)

    def describe(self, account: str, region: str, name: str) -> Record:
        return self.records.get(account, region, name)

    def list(
        self, account: str, region: str, request: dict[str, Any]
    ) -> tuple[list[Record], str | None]:
        return LISTING.page(self.records.all(account, region), request)

    def exists(self, arn: str) -> bool:
        return self.records.exists_arn(arn)

    def serving(self, account: str, region: str, name: str) -> Deployment | None:
        """The deployment answering requests for this endpoint, if it serves."""
        return self.live.get((account, region, name))

    def recover(self) -> None:
        """After a restart: endpoints that were serving start again; deletes finish."""
        for key_text, record in self.records.every():
            _, account, region, name = key_text.split("/", 3)
            key = (account, region, name)
            status = record["EndpointStatus"]
            if status == "Deleting":
                self.records.delete(account, region, name)
            elif status != "Failed" and record.get(CONFIG):
                restarted = "SystemUpdating" if status == "InService" else "Creating"

                def change(r: Record, restarted: str = restarted) -> None:
                    r["EndpointStatus"] = restarted
                    r.pop("PendingDeploymentSummary", None)

                self.records.update(account, region, name, change)
                config = record[CONFIG]
                self._run(key, lambda key=key, config=config: self._deploy(key, config))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            operations = list(self._operations.values())
        for thread in operations:
            thread.join(timeout=30)
        with self._lock:
            live, self.live = list(self.live.values()), {}
        for deployment in live:
            deployment.stop(1.0)

    # -- the work, on threads ------------------------------------------------------------------

    def _run(self, key: Key, work: Callable[[], None]) -> None:
        def body() -> None:
            try:
                work()
            except Exception:
                log.exception("endpoint %s: operation failed", key[2])

        thread = threading.Thread(target=body, name=f"endpoint-{key[2]}", daemon=True)
        with self._lock:
            if self._closed:
                return
            self._operations[key] = thread
        thread.start()

    def _start(self, key: Key, config: dict[str, Any]) -> Deployment:
        return self.launcher(*key).deployment(config)

    def _deploy(self, key: Key, config: dict[str, Any]) -> None:
        try:
            deployment = self._start(key, config)
        except DeploymentFailure as exc:
            self._set(key, "Failed", failure=str(exc))
            return
        with self._lock:
            self.live[key] = deployment
        self._set(key, "InService", deployment=deployment)

    def _switch(self, key: Key, config: dict[str, Any], config_name: str) -> None:
        try:
            deployment = self._start(key, config)
        except DeploymentFailure as exc:
            # The old configuration never stopped serving: roll back to it (specs §4.3).
            self._set(key, "InService", failure=str(exc))
            return
        with self._lock:
            old = self.live.get(key)
            self.live[key] = deployment
        self._set(key, "InService", deployment=deployment, config_name=config_name)
        if old is not None:
            old.stop(STOP_GRACE_S)

    def _apply_capacities(
        self, key: Key, deployment: Deployment, desired: list[dict[str, Any]]
    ) -> None:
        launcher = self.launcher(*key)
        failure = None
        for item in desired:
            variant = deployment.variants[item["VariantName"]]
            if "DesiredWeight" in item:
                variant.weight = float(item["DesiredWeight"])
            count = item.get("DesiredInstanceCount")
            if count is None or count == len(variant.instances):
                continue
            if count > len(variant.instances):
                try:
                    extra = launcher.variant(variant.definition, count - len(variant.instances))
                except DeploymentFailure as exc:
                    failure = str(exc)
                    continue
                variant.instances = variant.instances + extra.instances
            else:
                kept, gone = variant.instances[: max(1, count)], variant.instances[max(1, count) :]
                variant.instances = kept
                for instance in gone:
                    instance.stop(STOP_GRACE_S)
        self._set(key, "InService", deployment=deployment, failure=failure)

    def _set(
        self,
        key: Key,
        status: str,
        *,
        deployment: Deployment | None = None,
        failure: str | None = None,
        config_name: str | None = None,
    ) -> None:
        now = self.clock.time()

        def change(record: Record) -> None:
            if record["EndpointStatus"] == "Deleting":
                return
            record["EndpointStatus"] = status
            record["LastModifiedTime"] = now
            record.pop("PendingDeploymentSummary", None)
            if failure:
                record["FailureReason"] = failure
            else:
                record.pop("FailureReason", None)
            if config_name:
                record["EndpointConfigName"] = config_name
            if deployment is not None:
                record[CONFIG] = deployment.config
                record["ProductionVariants"] = [
                    _variant_summary(v, v.definition, now) for v in deployment.variants.values()
                ]
                if deployment.shadows:
                    record["ShadowProductionVariants"] = [
                        _variant_summary(v, v.definition, now) for v in deployment.shadows
                    ]
                capture = _capture_summary(deployment.config)
                if capture:
                    record["DataCaptureConfig"] = capture
                if deployment.config.get("AsyncInferenceConfig"):
                    record["AsyncInferenceConfig"] = deployment.config["AsyncInferenceConfig"]

        try:
            self.records.update(*key, change)
        except Exception:  # deleted meanwhile
            log.debug("endpoint %s vanished before its status was set", key[2])

    # -- configurations ------------------------------------------------------------------------

    def _resolved_config(self, account: str, region: str, name: str) -> dict[str, Any]:
        """The configuration with each variant's model containers copied in, so a deployment
        (and a restart) does not depend on records deleted later."""
        config = dict(self.configs.describe(account, region, name))
        for member in ("ProductionVariants", "ShadowProductionVariants"):
            variants = []
            for variant in config.get(member) or []:
                model = self.configs.models.describe(account, region, variant["ModelName"])
                copy = dict(variant)
                copy["_Model"] = model
                copy["_Containers"] = (
                    [model["PrimaryContainer"]]
                    if model.get("PrimaryContainer")
                    else model.get("Containers") or []
                )
                variants.append(copy)
            if variants:
                config[member] = variants
        return config

    def _retained(
        self, key: Key, config: dict[str, Any], request: dict[str, Any]
    ) -> dict[str, Any]:
        """RetainAllVariantProperties: variants of the same name keep their current weight
        and instance count, unless ExcludeRetainedVariantProperties lists the property."""
        current = self.live.get(key)
        if current is None:
            return config
        excluded = {
            p["VariantPropertyType"] for p in request.get("ExcludeRetainedVariantProperties") or []
        }
        variants = []
        for definition in config["ProductionVariants"]:
            copy = dict(definition)
            old = current.variants.get(definition["VariantName"])
            if old is not None:
                if "DesiredWeight" not in excluded:
                    copy["InitialVariantWeight"] = old.weight
                if "DesiredInstanceCount" not in excluded and not copy.get("ServerlessConfig"):
                    copy["InitialInstanceCount"] = len(old.instances)
            variants.append(copy)
        return dict(config, ProductionVariants=variants)
