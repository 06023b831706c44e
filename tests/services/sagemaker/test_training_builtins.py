"""CreateTrainingJob with the built-in algorithms, through boto3: real training, real artifacts,
the status transitions, metrics and logs, and failures with a clear FailureReason."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from sagemaker_helpers import (
    KMEANS_IMAGE,
    LINEAR_LEARNER_IMAGE,
    XGBOOST_IMAGE,
    channel,
    create_job,
    wait_for,
)

from tule.algorithms.formats import recordio_protobuf as rp
from tule.runtime.instances import local_gpu_count


def _regression(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2] + rng.normal(scale=0.1, size=n)
    return x, y


def _csv(x: np.ndarray, y: np.ndarray | None) -> bytes:
    rows = x if y is None else np.column_stack([y, x])
    out = io.StringIO()
    np.savetxt(out, rows, delimiter=",", fmt="%.6f")
    return out.getvalue().encode()


def _libsvm(x: np.ndarray, y: np.ndarray) -> bytes:
    lines = [
        " ".join([f"{label:.6f}"] + [f"{j}:{v:.6f}" for j, v in enumerate(row)])
        for label, row in zip(y, x, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def _model_files(s3: Any, uri: str) -> dict[str, bytes]:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_xgboost_csv_job_trains_and_reports_transitions_metrics_logs(
    sm: Any, s3: Any, logs: Any, bucket: str
) -> None:
    x, y = _regression()
    s3.put_object(Bucket=bucket, Key="xgb/train/part-0.csv", Body=_csv(x[:300], y[:300]))
    s3.put_object(Bucket=bucket, Key="xgb/validation/v.csv", Body=_csv(x[300:], y[300:]))
    name = create_job(
        sm,
        bucket,
        XGBOOST_IMAGE,
        [
            channel("train", f"s3://{bucket}/xgb/train/", "text/csv"),
            channel("validation", f"s3://{bucket}/xgb/validation/", "text/csv"),
        ],
        {"objective": "reg:squarederror", "num_round": "30", "max_depth": "3"},
        Tags=[{"Key": "team", "Value": "ml"}],
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all("EndTime" in t for t in job["SecondaryStatusTransitions"])
    assert job["TrainingTimeInSeconds"] >= 1 and job["BillableTimeInSeconds"] >= 1
    assert job["TrainingStartTime"] <= job["TrainingEndTime"]
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert 0 < metrics["validation:rmse"] < 1.0, metrics
    assert "train:rmse" in metrics
    definitions = job["AlgorithmSpecification"]["MetricDefinitions"]
    assert 0 < len(definitions) <= 40  # the built-in's own, as SageMaker attaches them
    assert "validation:rmse" in {d["Name"] for d in definitions}

    files = _model_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"s3://{bucket}/output/{name}/output/model.tar.gz"
    )
    booster = xgb.Booster()
    booster.load_model(bytearray(files["xgboost-model"]))
    predictions = booster.predict(xgb.DMatrix(x[300:]))
    assert float(np.sqrt(np.mean((predictions - y[300:]) ** 2))) < 1.0

    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
    )["logStreams"]
    assert [s["logStreamName"].rsplit("-", 1)[0] for s in streams] == [f"{name}/algo-1"]
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamName=streams[0]["logStreamName"],
        startFromHead=True,
    )["events"]
    text = "\n".join(e["message"] for e in events)
    assert "#011validation-rmse:" in text
    tags = sm.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "ml"}]


def test_xgboost_libsvm_job_completes(sm: Any, s3: Any, bucket: str) -> None:
    x, y = _regression(seed=1)
    s3.put_object(Bucket=bucket, Key="svm/train.libsvm", Body=_libsvm(x, y))
    name = create_job(
        sm,
        bucket,
        XGBOOST_IMAGE,
        [channel("train", f"s3://{bucket}/svm/train.libsvm", "text/libsvm")],
        {"objective": "reg:squarederror", "num_round": "10"},
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert {m["MetricName"] for m in job["FinalMetricDataList"]} >= {"train:rmse"}


def _recordio(x: np.ndarray, y: np.ndarray) -> bytes:
    out = io.BytesIO()
    rp.write_dense(out, x.astype(np.float32), y.astype(np.float32))
    return out.getvalue()


def test_linear_learner_recordio_pipe_mode_job_trains(sm: Any, s3: Any, bucket: str) -> None:
    x, y = _regression(seed=2)
    s3.put_object(Bucket=bucket, Key="ll/train/a.rec", Body=_recordio(x[:200], y[:200]))
    s3.put_object(Bucket=bucket, Key="ll/train/b.rec", Body=_recordio(x[200:], y[200:]))
    name = create_job(
        sm,
        bucket,
        LINEAR_LEARNER_IMAGE,
        [channel("train", f"s3://{bucket}/ll/train/", "application/x-recordio-protobuf")],
        {"predictor_type": "regressor", "feature_dim": "5", "epochs": "5", "mini_batch_size": "50"},
        mode="Pipe",
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    # Pipe mode has no Downloading step.
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Training", "Uploading", "Completed"]
    assert _model_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert any(m["MetricName"].startswith("train:") for m in job["FinalMetricDataList"])


def test_kmeans_csv_job_trains(sm: Any, s3: Any, bucket: str) -> None:
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [10, 10], [-10, 10]], dtype=float)
    x = np.vstack([c + rng.normal(scale=0.5, size=(100, 2)) for c in centres])
    s3.put_object(Bucket=bucket, Key="km/train.csv", Body=_csv(x, None))
    name = create_job(
        sm,
        bucket,
        KMEANS_IMAGE,
        [channel("train", f"s3://{bucket}/km/", "text/csv;label_size=0")],
        {"k": "3", "feature_dim": "2", "mini_batch_size": "50"},
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = _model_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert "model_algo-1" in files


def test_bad_hyperparameter_fails_with_its_name(sm: Any, s3: Any, bucket: str) -> None:
    x, y = _regression(n=50)
    s3.put_object(Bucket=bucket, Key="bad/train.csv", Body=_csv(x, y))
    name = create_job(
        sm,
        bucket,
        XGBOOST_IMAGE,
        [channel("train", f"s3://{bucket}/bad/", "text/csv")],
        {"num_round": "ten"},
    )
    job = wait_for(sm, name, timeout=30)
    assert job["TrainingJobStatus"] == "Failed"
    assert "num_round" in job["FailureReason"]
    assert job["SecondaryStatus"] == "Failed"


def test_missing_required_channel_fails(sm: Any, s3: Any, bucket: str) -> None:
    x, y = _regression(n=50)
    s3.put_object(Bucket=bucket, Key="val/v.csv", Body=_csv(x, y))
    name = create_job(
        sm,
        bucket,
        XGBOOST_IMAGE,
        [channel("validation", f"s3://{bucket}/val/", "text/csv")],
        {"num_round": "5"},
    )
    job = wait_for(sm, name, timeout=30)
    assert job["TrainingJobStatus"] == "Failed"
    assert "train" in job["FailureReason"]


def test_empty_prefix_fails_naming_the_uri(sm: Any, bucket: str) -> None:
    name = create_job(
        sm,
        bucket,
        XGBOOST_IMAGE,
        [channel("train", f"s3://{bucket}/nothing-here/", "text/csv")],
        {"num_round": "5"},
    )
    job = wait_for(sm, name, timeout=30)
    assert job["TrainingJobStatus"] == "Failed"
    assert f"s3://{bucket}/nothing-here/" in job["FailureReason"]


def test_wrong_content_type_fails(sm: Any, s3: Any, bucket: str) -> None:
    x, y = _regression(n=50)
    s3.put_object(Bucket=bucket, Key="ct/train.csv", Body=_csv(x, y))
    name = create_job(
        sm,
        bucket,
        KMEANS_IMAGE,
        [channel("train", f"s3://{bucket}/ct/", "image/png")],
        {"k": "2", "feature_dim": "5"},
    )
    job = wait_for(sm, name, timeout=30)
    assert job["TrainingJobStatus"] == "Failed"
    assert "image/png" in job["FailureReason"]


def test_image_tule_cannot_run_fails_naming_it(sm: Any, bucket: str) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-algo:latest"
    name = create_job(sm, bucket, image, [], {})
    job = wait_for(sm, name, timeout=30)
    assert job["TrainingJobStatus"] == "Failed"
    assert image in job["FailureReason"]


@pytest.mark.skipif(local_gpu_count() > 0, reason="this machine has GPUs")
def test_gpu_instance_on_a_machine_without_gpus_fails_clearly(
    sm: Any, s3: Any, bucket: str
) -> None:
    x, y = _regression(n=50)
    s3.put_object(Bucket=bucket, Key="gpu/train.csv", Body=_csv(x, y))
    name = create_job(
        sm,
        bucket,
        XGBOOST_IMAGE,
        [channel("train", f"s3://{bucket}/gpu/", "text/csv")],
        {"num_round": "5"},
        instance_type="ml.p3.2xlarge",
    )
    job = wait_for(sm, name, timeout=30)
    assert job["TrainingJobStatus"] == "Failed"
    assert "GPU" in job["FailureReason"] and "ml.p3.2xlarge" in job["FailureReason"]
