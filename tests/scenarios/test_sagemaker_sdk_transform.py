"""The SageMaker Python SDK v2, unchanged, running a batch transform against tule: a `Model`
made from an XGBoost artifact in S3, its `transformer()` with MultiRecord batches and Line
assembly, and `transform()` with DataProcessing filters that keep an id column beside each
prediction; `wait()` tails the job's logs until it ends.

As in the training scenario, the SDK's own S3 and Logs clients find tule through
AWS_ENDPOINT_URL, the session has a default bucket and a full role ARN, telemetry is off, and
the SDK's polling runs on a fast clock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tule.testing import TuleServer, hosting
from tule.testing.sdk import sdk_session

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
sagemaker = pytest.importorskip("sagemaker")

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
REGION = "us-east-1"
BUCKET = "sdk-transform"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("tule-sdk-transform"), fsync=False) as s:
        s.client("s3").create_bucket(Bucket=BUCKET)
        yield s


@pytest.fixture
def session(server: TuleServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return sdk_session(server, BUCKET, monkeypatch)


def test_model_transformer_joins_ids_to_predictions(
    server: TuleServer, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xgboost as xgb
    from sagemaker import image_uris
    from sagemaker.model import Model

    s3 = server.client("s3")
    booster, archive, _ = hosting.xgboost_model()
    model_data = hosting.upload_model(s3, BUCKET, "sdk/model/model.tar.gz", archive)
    rng = np.random.default_rng(3)
    parts = {
        name: rng.normal(size=(rows, 4)).astype(np.float32)
        for name, rows in (("part-1.csv", 400), ("part-2.csv", 250))
    }
    for name, x in parts.items():
        lines = (f"{name}-{i}," + ",".join(repr(float(v)) for v in row) for i, row in enumerate(x))
        s3.put_object(Bucket=BUCKET, Key=f"sdk/batch/{name}", Body="\n".join(lines).encode())

    model = Model(
        image_uri=image_uris.retrieve("xgboost", REGION, "1.7-1"),
        model_data=model_data,
        role=ROLE,
        sagemaker_session=session,
    )
    transformer = model.transformer(
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/sdk/predictions",
        accept="text/csv",
        assemble_with="Line",
        strategy="MultiRecord",
    )
    transformer.transform(
        data=f"s3://{BUCKET}/sdk/batch/",
        content_type="text/csv",
        split_type="Line",
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
    )
    transformer.wait()

    job = session.describe_transform_job(transformer.latest_transform_job.name)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ModelName"] == transformer.model_name
    assert job["DataProcessing"] == {
        "InputFilter": "$[1:]",
        "OutputFilter": "$[0,-1]",
        "JoinSource": "Input",
    }
    for name, x in parts.items():
        key = f"sdk/predictions/{name}.out"
        lines = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()
        assert [line.split(",")[0] for line in lines] == [f"{name}-{i}" for i in range(len(x))]
        got = np.array([float(line.split(",")[1]) for line in lines])
        np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(x)), rtol=1e-6)
