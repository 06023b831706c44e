"""Training jobs on several instances: one worker per instance (`algo-1..N`), ShardedByS3Key
giving each its share, the built-ins combining their work through xgboost's collective, and
script mode getting torch.distributed's environment."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from sagemaker_helpers import (
    KMEANS_IMAGE,
    SKLEARN_IMAGE,
    XGBOOST_IMAGE,
    channel,
    create_job,
    wait_for,
)

from tule.algorithms.kmeans import KMeans


def _csv(rows: np.ndarray) -> bytes:
    out = io.StringIO()
    np.savetxt(out, rows, delimiter=",", fmt="%.6f")
    return out.getvalue().encode()


def _model_files(s3: Any, uri: str) -> dict[str, bytes]:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _run_both(
    sm: Any,
    s3: Any,
    bucket: str,
    image: str,
    parts: list[bytes],
    content_type: str,
    hps: dict[str, str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    for i, part in enumerate(parts):
        s3.put_object(Bucket=bucket, Key=f"parts/part-{i}.csv", Body=part)
    jobs = []
    for count in (1, 2):
        name = create_job(
            sm,
            bucket,
            image,
            [
                channel(
                    "train", f"s3://{bucket}/parts/", content_type, distribution="ShardedByS3Key"
                )
            ],
            hps,
            instance_count=count,
        )
        job = wait_for(sm, name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        jobs.append(job)
    return jobs[0], jobs[1]


def test_two_instance_xgboost_matches_one_instance(
    sm: Any, s3: Any, logs: Any, bucket: str
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] > 0).astype(float)
    rows = np.column_stack([y, x])
    parts = [_csv(rows[i::4]) for i in range(4)]
    hps = {
        "objective": "binary:logistic",
        "num_round": "20",
        "max_depth": "4",
        "eval_metric": "error",
    }
    one, two = _run_both(sm, s3, bucket, XGBOOST_IMAGE, parts, "text/csv", hps)
    predictions = []
    for job in (one, two):
        booster = xgb.Booster()
        booster.load_model(
            bytearray(_model_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])["xgboost-model"])
        )
        predictions.append(booster.predict(xgb.DMatrix(x)))
    accuracy = [float(((p > 0.5) == y).mean()) for p in predictions]
    assert abs(accuracy[0] - accuracy[1]) < 0.02, accuracy
    assert accuracy[1] > 0.9
    assert float(np.abs(predictions[0] - predictions[1]).mean()) < 0.05
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{two['TrainingJobName']}/"
    )["logStreams"]
    hosts = sorted(s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams)
    assert hosts == ["algo-1", "algo-2"]
    final = {m["MetricName"]: m["Value"] for m in two["FinalMetricDataList"]}
    assert final["train:error"] < 0.1


def test_two_instance_kmeans_matches_one_instance(sm: Any, s3: Any, bucket: str) -> None:
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [8.0, 8.0], [-8.0, 8.0], [8.0, -8.0]])
    x = np.vstack([c + rng.normal(scale=0.4, size=(250, 2)) for c in centres])
    rng.shuffle(x)
    parts = [_csv(x[i::4]) for i in range(4)]
    hps = {"k": "4", "feature_dim": "2", "mini_batch_size": "100", "init_method": "kmeans++"}
    one, two = _run_both(sm, s3, bucket, KMEANS_IMAGE, parts, "text/csv;label_size=0", hps)
    for job in (one, two):
        got = _kmeans_centres(s3, job)
        distances = np.linalg.norm(got[:, None, :] - centres[None, :, :], axis=2)
        assert np.all(distances.min(axis=0) < 0.5), got


def _kmeans_centres(s3: Any, job: dict[str, Any]) -> np.ndarray:
    files = _model_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert list(files) == ["model_algo-1"]
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "model_algo-1").write_bytes(files["model_algo-1"])
        return np.asarray(KMeans.model_class.load(Path(d)).centroids)


DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import json, os
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    value = torch.tensor([float(rank + 1)])
    dist.all_reduce(value)
    print(f"rank {rank} of {world}: sum {value.item()}", flush=True)
    hosts = json.loads(os.environ["SM_HOSTS"])
    assert os.environ["SM_CURRENT_HOST"] == hosts[rank]
    if rank == 0:
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "sum.txt"), "w") as f:
            f.write(str(value.item()))
    dist.destroy_process_group()
    """
)


def test_distributed_script_mode_gets_torch_distributed_environment(
    sm: Any, s3: Any, bucket: str
) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = DISTRIBUTED_SCRIPT.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=archive.getvalue())
    name = create_job(
        sm,
        bucket,
        SKLEARN_IMAGE.replace(
            "sagemaker-scikit-learn:1.2-1-cpu-py3", "pytorch-training:2.1-cpu-py310"
        ),
        [],
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
        },
        instance_count=2,
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert _model_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"]) == {"sum.txt": b"3.0"}
