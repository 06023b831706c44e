"""Script-mode endpoints through boto3: a repacked model.tar.gz with `code/inference.py`, a
model that raises (ModelError 500, and the endpoint keeps serving), custom attributes passed
both ways, and a serial inference pipeline of two script containers."""

from __future__ import annotations

import io
import json
import pickle
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sagemaker_helpers import SKLEARN_IMAGE, unique

from tule.testing.hosting import ROLE, deploy, tar_gz, upload_model, variant

BUCKET = "hosting-script-mode"

# Doubles every feature, unless a value is negative (then it fails, as a buggy model does);
# echoes the custom attributes back with its answer.
DOUBLER = """
import json, pickle, os

def model_fn(model_dir):
    with open(os.path.join(model_dir, "factor.pkl"), "rb") as f:
        return pickle.load(f)

def input_fn(body, content_type):
    return [[float(v) for v in line.split(",")] for line in body.strip().splitlines()]

def predict_fn(rows, factor):
    if any(v < 0 for row in rows for v in row):
        raise ValueError("negative values are not supported by this model")
    return [[factor * v for v in row] for row in rows]

def output_fn(prediction, accept, context=None):
    if context is not None:
        header = "X-Amzn-SageMaker-Custom-Attributes"
        attributes = context.get_request_header(0, header)
        if attributes:
            context.set_response_header(0, header, "seen=" + attributes)
    return "\\n".join(",".join(repr(v) for v in row) for row in prediction), "text/csv"
"""

# Sums each row (the second stage of a pipeline: it reads the first stage's CSV answer).
SUMMER = """
import json

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    rows = [[float(v) for v in line.split(",")] for line in body.strip().splitlines()]
    answer = {"sums": [sum(r) for r in rows], "content_type": content_type}
    return json.dumps(answer), "application/json"
"""


@pytest.fixture(scope="module")
def runtime(server: Any) -> Any:
    return server.client("sagemaker-runtime")


def _script_model(sm: Any, s3: Any, name: str, script: str, factor: float = 2.0) -> str:
    archive = tar_gz({"factor.pkl": pickle.dumps(factor), "code/inference.py": script.encode()})
    uri = upload_model(s3, BUCKET, f"{name}/model.tar.gz", archive)
    return uri


def _container(uri: str) -> dict[str, Any]:
    return {
        "Image": SKLEARN_IMAGE,
        "ModelDataUrl": uri,
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
    }


@pytest.fixture(scope="module")
def doubler(sm: Any, s3: Any) -> str:
    s3.create_bucket(Bucket=BUCKET)
    name = unique("doubler")
    uri = _script_model(sm, s3, name, DOUBLER)
    sm.create_model(ModelName=name, PrimaryContainer=_container(uri), ExecutionRoleArn=ROLE)
    endpoint = unique("doubler-ep")
    described = deploy(sm, endpoint, [variant("AllTraffic", name)])
    assert described["EndpointStatus"] == "InService", described
    return endpoint


def test_script_model_answers_and_custom_attributes_pass_both_ways(
    runtime: Any, doubler: str
) -> None:
    answer = runtime.invoke_endpoint(
        EndpointName=doubler, ContentType="text/csv", Body=b"1,2\n3,4", CustomAttributes="trace=7"
    )
    assert answer["Body"].read().decode().splitlines() == ["2.0,4.0", "6.0,8.0"]
    assert answer["ContentType"].startswith("text/csv")
    assert answer["CustomAttributes"] == "seen=trace=7"


def test_a_model_that_raises_is_a_model_error_and_the_endpoint_keeps_serving(
    runtime: Any, doubler: str
) -> None:
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName=doubler, ContentType="text/csv", Body=b"1,-2")
    response = err.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["OriginalStatusCode"] == 500
    assert "Received server error (500) from primary" in response["Error"]["Message"]
    assert "negative values are not supported" in response["OriginalMessage"]
    again = runtime.invoke_endpoint(EndpointName=doubler, ContentType="text/csv", Body=b"5")
    assert again["Body"].read() == b"10.0"


def test_serial_pipeline_feeds_each_container_the_previous_answer(
    sm: Any, s3: Any, runtime: Any, doubler: str
) -> None:
    first = _script_model(sm, s3, unique("stage1"), DOUBLER, factor=3.0)
    second = _script_model(sm, s3, unique("stage2"), SUMMER)
    name = unique("pipeline")
    sm.create_model(
        ModelName=name,
        Containers=[_container(first), _container(second)],
        InferenceExecutionConfig={"Mode": "Serial"},
        ExecutionRoleArn=ROLE,
    )
    endpoint = unique("pipeline-ep")
    described = deploy(sm, endpoint, [variant("AllTraffic", name)])
    assert described["EndpointStatus"] == "InService", described
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=b"1,2\n3,4"
    )
    document = json.load(io.BytesIO(answer["Body"].read()))
    assert document["sums"] == [9.0, 21.0]  # 3x then summed
    assert document["content_type"].startswith("text/csv")  # the first stage's answer type
    assert answer["ContentType"] == "application/json"
