"""The SageMaker Python SDK v2, unchanged, hosting on tule: an XGBoost `Estimator` fitted then
`deploy()`ed and called through its `Predictor`, a `LinearLearner` fitted on a RecordSet whose
default predictor speaks RecordIO-protobuf both ways, `delete_endpoint()`, and a script-mode
`SKLearnModel` serving a model trained in the test through an `inference.py`.

The SDK's S3, Logs and runtime clients find tule through AWS_ENDPOINT_URL; the session has a
default bucket and a full role ARN so nothing asks IAM, and telemetry is opted out. The SDK's
endpoint waiter sleeps 30 s before each DescribeEndpoint: its clock is sped up; and its
constant config is schema-validated once instead of on every lookup.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tule.testing import TuleServer
from tule.testing.hosting import tar_gz, wait_deleted
from tule.testing.sdk import sdk_session

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
sagemaker = pytest.importorskip("sagemaker")
from sagemaker.inputs import TrainingInput  # noqa: E402
from sagemaker.serializers import CSVSerializer  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
REGION = "us-east-1"
BUCKET = "sdk-hosting"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("tule-sdk-hosting"), fsync=False) as s:
        s.client("s3").create_bucket(Bucket=BUCKET)
        yield s


@pytest.fixture
def session(server: TuleServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return sdk_session(server, BUCKET, monkeypatch)


def _s3_object(server: TuleServer, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    return server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def _member(archive: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def _binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


def _assert_endpoint_gone(server: TuleServer, endpoint: str) -> None:
    sm = server.client("sagemaker")
    wait_deleted(sm, endpoint)
    with pytest.raises(ClientError) as err:
        sm.describe_endpoint(EndpointName=endpoint)
    assert err.value.response["Error"]["Code"] in ("ValidationException", "ValidationError")
    assert "Could not find endpoint" in err.value.response["Error"]["Message"]


def test_xgboost_estimator_deploy_predicts_like_its_booster(
    server: TuleServer, session: Any
) -> None:
    import xgboost as xgb
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator

    x, y = _binary(300, seed=0)
    train = io.StringIO()
    np.savetxt(train, np.column_stack([y, x]), delimiter=",", fmt="%.7g")
    key = "xgb/train/train.csv"
    server.client("s3").put_object(Bucket=BUCKET, Key=key, Body=train.getvalue().encode())
    estimator = Estimator(
        image_uri=image_uris.retrieve("xgboost", REGION, "1.7-1"),
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/xgb/output",
        sagemaker_session=session,
    )
    estimator.set_hyperparameters(objective="binary:logistic", num_round=10, max_depth=3)
    estimator.fit(
        {"train": TrainingInput(f"s3://{BUCKET}/{key}", content_type="text/csv")}, logs=False
    )

    predictor = estimator.deploy(
        initial_instance_count=1, instance_type="ml.m5.large", serializer=CSVSerializer()
    )
    described = server.client("sagemaker").describe_endpoint(EndpointName=predictor.endpoint_name)
    assert described["EndpointStatus"] == "InService"
    rows = x[:8]
    answer = predictor.predict(rows)
    assert isinstance(answer, bytes)  # the default BytesDeserializer
    lines = answer.decode().splitlines()
    assert len(lines) == len(rows)
    got = np.array([float(v) for v in lines], dtype=np.float32)

    booster = xgb.Booster()
    booster.load_model(
        bytearray(_member(_s3_object(server, estimator.model_data), "xgboost-model"))
    )
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(rows)), rtol=1e-6)

    predictor.delete_endpoint()
    _assert_endpoint_gone(server, predictor.endpoint_name)


def test_linear_learner_record_set_deploy_speaks_protobuf(server: TuleServer, session: Any) -> None:
    from sagemaker import LinearLearner
    from sagemaker.amazon.common import RecordDeserializer, RecordSerializer

    x, y = _binary(300, seed=1)
    estimator = LinearLearner(
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        predictor_type="binary_classifier",
        epochs=3,
        sagemaker_session=session,
        output_path=f"s3://{BUCKET}/ll/output",
    )
    records = estimator.record_set(x, labels=y)
    estimator.fit(records, mini_batch_size=50, logs=False)
    job = estimator.latest_training_job.describe()
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")

    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large")
    assert isinstance(predictor.serializer, RecordSerializer)
    assert isinstance(predictor.deserializer, RecordDeserializer)
    # float64 rows: the serializer keeps the dtype, so they arrive as Float64Tensors.
    rows = x[:10].astype(np.float64)
    records_out = predictor.predict(rows)
    assert len(records_out) == len(rows)
    scores = np.array([r.label["score"].float32_tensor.values[0] for r in records_out])
    labels = np.array([r.label["predicted_label"].float32_tensor.values[0] for r in records_out])
    assert all(set(r.label) == {"score", "predicted_label"} for r in records_out)
    assert ((scores > 0) & (scores < 1)).all()
    np.testing.assert_array_equal(labels, (scores > 0.5).astype(np.float32))
    # The classes are separable by a line: the model gets nearly all of them right.
    assert (labels == y[:10]).mean() >= 0.8

    # The same rows through boto3 with a JSON answer: the same numbers.
    runtime = server.client("sagemaker-runtime")
    body = runtime.invoke_endpoint(
        EndpointName=predictor.endpoint_name,
        ContentType="text/csv",
        Accept="application/json",
        Body="\n".join(",".join(repr(float(v)) for v in row) for row in x[:10]),
    )["Body"].read()
    predictions = json.loads(body)["predictions"]
    np.testing.assert_allclose([p["score"] for p in predictions], scores, rtol=1e-6)
    assert [p["predicted_label"] for p in predictions] == labels.astype(int).tolist()

    predictor.delete_endpoint()
    _assert_endpoint_gone(server, predictor.endpoint_name)


INFERENCE_SCRIPT = textwrap.dedent(
    """
    import os

    import joblib


    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))
    """
)


@pytest.mark.skipif(
    importlib.util.find_spec("tule.runtime.inference_toolkit") is None,
    reason="tule.runtime.inference_toolkit is not there yet",
)
def test_sklearn_model_script_mode_deploy_predicts_like_the_model(
    server: TuleServer, session: Any, tmp_path: Path
) -> None:
    import joblib
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.sklearn import SKLearnModel
    from sklearn.linear_model import LogisticRegression

    x, y = _binary(200, seed=2)
    model = LogisticRegression().fit(x, y)
    saved = tmp_path / "model.joblib"
    joblib.dump(model, saved)
    key = "sklearn/model.tar.gz"
    server.client("s3").put_object(
        Bucket=BUCKET, Key=key, Body=tar_gz({"model.joblib": saved.read_bytes()})
    )
    source = tmp_path / "src"
    source.mkdir()
    (source / "inference.py").write_text(INFERENCE_SCRIPT)

    sklearn_model = SKLearnModel(
        model_data=f"s3://{BUCKET}/{key}",
        role=ROLE,
        entry_point="inference.py",
        source_dir=str(source),
        framework_version="1.2-1",
        sagemaker_session=session,
    )
    predictor = sklearn_model.deploy(
        initial_instance_count=1,
        instance_type="ml.m5.large",
        serializer=CSVSerializer(),
        deserializer=JSONDeserializer(),
    )
    rows = x[:12]
    got = predictor.predict(rows)
    assert got == model.predict(rows).tolist()
    assert sorted(set(got)) == [0.0, 1.0]

    predictor.delete_endpoint()
    _assert_endpoint_gone(server, predictor.endpoint_name)
