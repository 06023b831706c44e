"""Helpers the SageMaker tests import: the images and role they name, unique names, training
job requests and waiting for a job to end."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
LINEAR_LEARNER_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
KMEANS_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}-{int(time.time() * 1000) % 100000}"


def wait_for(sm: Any, name: str, timeout: float = 120.0) -> dict[str, Any]:
    """DescribeTrainingJob until the job ends (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        job = sm.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {name} still {job['TrainingJobStatus']} after {timeout}s: {job}")
        time.sleep(0.1)


def channel(name: str, uri: str, content_type: str | None = None, **extra: Any) -> dict[str, Any]:
    data_source = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}
    if "distribution" in extra:
        data_source["S3DataSource"]["S3DataDistributionType"] = extra.pop("distribution")
    out: dict[str, Any] = {"ChannelName": name, "DataSource": data_source, **extra}
    if content_type:
        out["ContentType"] = content_type
    return out


def create_job(
    sm: Any,
    bucket: str,
    image: str,
    channels: list[dict[str, Any]],
    hyperparameters: dict[str, str],
    **extra: Any,
) -> str:
    name = extra.pop("name", None) or unique("job")
    if channels:
        extra["InputDataConfig"] = channels
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=ROLE,
        AlgorithmSpecification={
            "TrainingImage": image,
            "TrainingInputMode": extra.pop("mode", "File"),
        },
        HyperParameters=hyperparameters,
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={
            "InstanceType": extra.pop("instance_type", "ml.m5.large"),
            "InstanceCount": extra.pop("instance_count", 1),
            "VolumeSizeInGB": 10,
        },
        StoppingCondition={"MaxRuntimeInSeconds": extra.pop("max_runtime", 600)},
        **extra,
    )
    return name
