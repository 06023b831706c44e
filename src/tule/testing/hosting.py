"""Helpers for hosting scenarios: a model artifact in S3 made with the real library, an
endpoint deployed from it, and waiting for endpoint states (tests, the demo, benchmarks)."""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A model.tar.gz holding `files` (name -> bytes) at its root, as SageMaker packs models."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def xgboost_model(
    rows: int = 200, features: int = 4, rounds: int = 10, seed: int = 0
) -> tuple[Any, bytes, np.ndarray]:
    """(booster, model.tar.gz bytes, the features it was trained on): a binary classifier."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "seed": seed},
        xgb.DMatrix(x, label=y),
        rounds,
    )
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "xgboost-model.ubj"
        booster.save_model(str(path))
        archive = tar_gz({"xgboost-model": path.read_bytes()})
    return booster, archive, x


def upload_model(s3: Any, bucket: str, key: str, archive: bytes) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=archive)
    return f"s3://{bucket}/{key}"


def create_model(
    sm: Any, name: str, model_data_url: str, image: str = XGBOOST_IMAGE, **extra: Any
) -> None:
    container = {"Image": image, "ModelDataUrl": model_data_url, **extra}
    sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)


def variant(
    name: str, model: str, weight: float = 1.0, count: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": count,
        "InitialVariantWeight": weight,
        **extra,
    }


def deploy(
    sm: Any, endpoint: str, variants: Sequence[dict[str, Any]], *, wait: bool = True, **config: Any
) -> dict[str, Any] | None:
    """An endpoint config `<endpoint>-config` with these variants, and the endpoint."""
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-config", ProductionVariants=list(variants), **config
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")
    return wait_endpoint(sm, endpoint) if wait else None


def wait_endpoint(sm: Any, endpoint: str, timeout: float = 120.0) -> dict[str, Any]:
    """DescribeEndpoint until it leaves Creating/Updating/SystemUpdating (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] not in ("Creating", "Updating", "SystemUpdating"):
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"endpoint {endpoint} still {described['EndpointStatus']}")
        time.sleep(0.05)


def wait_deleted(sm: Any, endpoint: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sm.describe_endpoint(EndpointName=endpoint)
        except sm.exceptions.ClientError:
            return
        time.sleep(0.05)
    raise TimeoutError(f"endpoint {endpoint} not deleted")


def csv_body(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()
