"""The SageMaker Python SDK v2, unchanged, training against tule: a built-in XGBoost estimator
whose log streams back, the first-party estimators with record_set() on two instances, and
script-mode SKLearn and PyTorch estimators.

The SDK's own S3 and Logs clients find tule through AWS_ENDPOINT_URL; the session is given a
default bucket and a full role ARN so nothing asks IAM, and telemetry is opted out.
"""

from __future__ import annotations

import io
import os
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tule.testing import TuleServer
from tule.testing.sdk import sdk_session

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
sagemaker = pytest.importorskip("sagemaker")
from sagemaker.inputs import TrainingInput  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
REGION = "us-east-1"
BUCKET = "sdk-bucket"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("tule-sdk"), fsync=False) as s:
        s.client("s3").create_bucket(Bucket=BUCKET)
        yield s


@pytest.fixture
def session(server: TuleServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return sdk_session(server, BUCKET, monkeypatch)


def _upload(server: TuleServer, key: str, body: bytes) -> str:
    server.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def _regression(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (2 * x[:, 0] - x[:, 1] + rng.normal(scale=0.1, size=n)).astype(np.float32)
    return x, y


def _csv(x: np.ndarray, y: np.ndarray) -> bytes:
    out = io.StringIO()
    np.savetxt(out, np.column_stack([y, x]), delimiter=",", fmt="%.6f")
    return out.getvalue().encode()


def _model_members(server: TuleServer, uri: str) -> list[str]:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body = server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def test_xgboost_estimator_fit_streams_the_log(
    server: TuleServer, session: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator

    x, y = _regression()
    train = _upload(server, "xgb-sdk/train/train.csv", _csv(x, y))
    estimator = Estimator(
        image_uri=image_uris.retrieve("xgboost", REGION, "1.7-1"),
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/xgb-sdk/output",
        sagemaker_session=session,
    )
    estimator.set_hyperparameters(objective="reg:squarederror", num_round=20)
    estimator.fit({"train": TrainingInput(train, content_type="text/csv")}, logs=True)
    printed = capsys.readouterr().out
    assert "train-rmse" in printed  # the job's own log lines, streamed by the SDK
    assert "Completed - Training job completed" in printed
    job = estimator.latest_training_job.describe()
    assert job["TrainingJobStatus"] == "Completed"
    assert _model_members(server, estimator.model_data) == ["xgboost-model"]


def _two_instance_first_party(estimator_cls: Any, session: Any, **kwargs: Any) -> Any:
    return estimator_cls(
        role=ROLE,
        instance_count=2,
        instance_type="ml.m5.large",
        sagemaker_session=session,
        output_path=f"s3://{BUCKET}/first-party/output",
        **kwargs,
    )


@pytest.mark.parametrize("algorithm", ["linear-learner", "kmeans", "pca"])
def test_first_party_estimators_fit_record_sets_on_two_instances(
    server: TuleServer, session: Any, algorithm: str
) -> None:
    from sagemaker import PCA, KMeans, LinearLearner

    x, y = _regression(seed=1)
    if algorithm == "linear-learner":
        est = _two_instance_first_party(LinearLearner, session, predictor_type="regressor")
        records = est.record_set(x, labels=y)
    elif algorithm == "kmeans":
        est = _two_instance_first_party(KMeans, session, k=3)
        records = est.record_set(x)
    else:
        est = _two_instance_first_party(PCA, session, num_components=2)
        records = est.record_set(x)
    assert records.s3_data_type == "ManifestFile"
    assert records.distribution == "ShardedByS3Key"
    est.fit(records, mini_batch_size=50, logs=False)
    job = est.latest_training_job.describe()
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ResourceConfig"]["InstanceCount"] == 2
    assert _model_members(server, est.model_data) == ["model_algo-1"]


SKLEARN_SCRIPT = textwrap.dedent(
    """
    import argparse, os, pickle
    import numpy as np
    from sklearn.linear_model import Ridge

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--alpha", type=float, default=1.0)
        parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
        parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
        args = parser.parse_args()
        data = np.loadtxt(os.path.join(args.train, "train.csv"), delimiter=",")
        model = Ridge(alpha=args.alpha).fit(data[:, 1:], data[:, 0])
        print("r2:", model.score(data[:, 1:], data[:, 0]))
        with open(os.path.join(args.model_dir, "model.pkl"), "wb") as f:
            pickle.dump(model, f)
    """
)

PYTORCH_SCRIPT = textwrap.dedent(
    """
    import argparse, os
    import numpy as np
    import torch

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=50)
        parser.add_argument("--lr", type=float, default=0.1)
        args = parser.parse_args()
        data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"), delimiter=",")
        x = torch.tensor(data[:, 1:], dtype=torch.float32)
        y = torch.tensor(data[:, :1], dtype=torch.float32)
        torch.manual_seed(0)
        model = torch.nn.Linear(x.shape[1], 1)
        optimiser = torch.optim.SGD(model.parameters(), lr=args.lr)
        for epoch in range(args.epochs):
            optimiser.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimiser.step()
        print(f"final loss: {loss.item():.4f}")
        torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
    """
)


def test_sklearn_script_mode_estimator_fits(
    server: TuleServer, session: Any, tmp_path: Path
) -> None:
    from sagemaker.sklearn import SKLearn

    (tmp_path / "train.py").write_text(SKLEARN_SCRIPT)
    x, y = _regression(seed=2)
    train = _upload(server, "sk/train/train.csv", _csv(x, y))
    estimator = SKLearn(
        entry_point="train.py",
        source_dir=str(tmp_path),
        framework_version="1.2-1",
        py_version="py3",
        instance_type="ml.m5.large",
        role=ROLE,
        sagemaker_session=session,
        hyperparameters={"alpha": 0.5},
    )
    estimator.fit({"train": train}, logs=False)
    job = estimator.latest_training_job.describe()
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert _model_members(server, estimator.model_data) == ["model.pkl"]


def test_pytorch_script_mode_estimator_fits(
    server: TuleServer, session: Any, tmp_path: Path
) -> None:
    from sagemaker.pytorch import PyTorch

    (tmp_path / "train.py").write_text(PYTORCH_SCRIPT)
    x, y = _regression(seed=3)
    train = _upload(server, "pt/train/train.csv", _csv(x, y))
    estimator = PyTorch(
        entry_point="train.py",
        source_dir=str(tmp_path),
        framework_version="2.1",
        py_version="py310",
        instance_type="ml.m5.large",
        instance_count=1,
        role=ROLE,
        sagemaker_session=session,
        hyperparameters={"epochs": 100, "lr": 0.1},
    )
    estimator.fit({"train": train}, logs=False)
    job = estimator.latest_training_job.describe()
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert _model_members(server, estimator.model_data) == ["model.pth"]
