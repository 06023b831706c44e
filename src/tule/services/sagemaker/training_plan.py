"""How a training job will run, decided before anything starts: which image kind (a built-in
algorithm or a framework image in script mode), where its instances go, and its channels.

Everything that can make a job fail before it touches data fails here, with the FailureReason
SageMaker users expect (`ClientError: ...`): an algorithm resource or an image tule cannot run,
heterogeneous clusters, or an instance type this machine cannot host (GPUs, Neuron chips).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tule.runtime.instances import Placement, PlacementError, place
from tule.runtime.workspace import input_data_config
from tule.services.sagemaker import images
from tule.services.sagemaker.script_mode import Script
from tule.services.sagemaker.training_status import Record

DEFAULT_INSTANCE_TYPE = "ml.m5.large"


class JobFailure(Exception):
    """Ends the job as Failed; str(e) is the FailureReason."""


@dataclass(frozen=True)
class Plan:
    """One job's execution plan."""

    image: str
    builtin: images.BuiltInImage | None  # exactly one of builtin and script is set
    script: Script | None
    hyperparameters: dict[str, str]  # as sent, every value a string
    instance_type: str
    hosts: list[str]  # algo-1 .. algo-N
    placement: Placement  # per instance
    channels: list[dict[str, Any]]
    default_mode: str  # AlgorithmSpecification.TrainingInputMode
    data_config: dict[str, dict[str, str]]  # inputdataconfig.json

    def mode(self, channel: dict[str, Any]) -> str:
        return channel.get("InputMode") or self.default_mode


def plan_job(record: Record) -> Plan:
    spec = record["AlgorithmSpecification"]
    if spec.get("AlgorithmName"):
        raise JobFailure(
            f"ClientError: tule cannot run the algorithm resource '{spec['AlgorithmName']}': "
            "only SageMaker's built-in algorithm images and framework images run here."
        )
    image = spec["TrainingImage"]
    hyperparameters = {k: str(v) for k, v in (record.get("HyperParameters") or {}).items()}
    framework = images.classify(image)
    script = None
    if isinstance(framework, images.FrameworkImage):
        # The XGBoost image is both: a script when `sagemaker_program` names one.
        script = Script.from_hyperparameters(hyperparameters, framework.framework)
    builtin = None if script else images.builtin_for(image)
    if script is None and builtin is None:
        raise JobFailure(f"ClientError: {images.unsupported_reason(image)}")
    resources = record["ResourceConfig"]
    if resources.get("InstanceGroups"):
        raise JobFailure(
            "ClientError: heterogeneous clusters (ResourceConfig.InstanceGroups) are not "
            "supported in tule yet."
        )
    instance_type = resources.get("InstanceType") or DEFAULT_INSTANCE_TYPE
    count = max(1, int(resources.get("InstanceCount") or 1))
    try:
        placement = place(instance_type, instance_count=count)
    except PlacementError as exc:
        raise JobFailure(f"ClientError: {exc}") from None
    channels = record.get("InputDataConfig") or []
    default_mode = spec.get("TrainingInputMode") or "File"
    return Plan(
        image=image,
        builtin=builtin,
        script=script,
        hyperparameters=hyperparameters,
        instance_type=instance_type,
        hosts=[f"algo-{i + 1}" for i in range(count)],
        placement=placement,
        channels=channels,
        default_mode=default_mode,
        data_config=input_data_config(channels, default_mode=default_mode),
    )
