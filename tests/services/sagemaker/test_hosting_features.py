"""Endpoint features through boto3: data capture, shadow variants, asynchronous inference,
failures, restarts of a dead model server, control-plane errors and listings."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from sagemaker_helpers import unique

from tule.testing import hosting
from tule.testing.hosting import create_model, csv_body, deploy, upload_model, variant

BUCKET = "hosting-features"


@pytest.fixture(scope="module")
def runtime(server: Any) -> Any:
    return server.client("sagemaker-runtime")


@pytest.fixture(scope="module")
def model(sm: Any, s3: Any) -> tuple[str, np.ndarray]:
    s3.create_bucket(Bucket=BUCKET)
    _, archive, x = hosting.xgboost_model()
    uri = upload_model(s3, BUCKET, "xgb/model.tar.gz", archive)
    name = unique("model")
    create_model(sm, name, uri)
    return name, x


def _objects(s3: Any, prefix: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        keys = [
            o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        ]
        if keys or time.monotonic() > deadline:
            return keys
        time.sleep(0.1)


def test_data_capture_writes_requests_and_responses_as_json_lines(
    sm: Any, s3: Any, runtime: Any, model: tuple[str, np.ndarray]
) -> None:
    name, x = model
    endpoint = unique("capture")
    deploy(
        sm,
        endpoint,
        [variant("AllTraffic", name)],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["DataCaptureConfig"]["CaptureStatus"] == "Started"
    body = csv_body(x[:2])
    answers = [
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=body, InferenceId=f"id-{i}"
        )["Body"].read()
        for i in range(3)
    ]
    keys = _objects(s3, f"capture/{endpoint}/AllTraffic/")
    assert keys, "no capture file"
    assert all(k.endswith(".jsonl") for k in keys)
    hour_path = keys[0].split("/")[3:7]
    assert [len(p) for p in hour_path] == [4, 2, 2, 2]  # yyyy/mm/dd/hh
    lines = []
    for key in keys:
        text = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        lines += [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": body.decode(),
        "encoding": "CSV",
    }
    assert first["captureData"]["endpointOutput"]["data"] == answers[0].decode()
    assert first["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
    assert {line["eventMetadata"]["inferenceId"] for line in lines} == {"id-0", "id-1", "id-2"}


def test_shadow_variant_gets_a_copy_and_is_never_returned(
    sm: Any, logs: Any, runtime: Any, model: tuple[str, np.ndarray]
) -> None:
    name, x = model
    endpoint = unique("shadow")
    deploy(
        sm,
        endpoint,
        [variant("Prod", name)],
        ShadowProductionVariants=[variant("Shadow", name)],
    )
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == ["Shadow"]
    variants = {
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=csv_body(x[:1])
        )["InvokedProductionVariant"]
        for _ in range(10)
    }
    assert variants == {"Prod"}
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    deadline = time.monotonic() + 10
    messages: list[str] = []
    while time.monotonic() < deadline and len(messages) < 10:
        events = logs.filter_log_events(
            logGroupName=group, logStreamNamePrefix="Shadow/comparisons"
        )
        messages = [e["message"] for e in events["events"]]
        time.sleep(0.2)
    assert len(messages) == 10
    assert all("responses identical" in m for m in messages)


def test_async_inference_writes_the_answer_to_s3(
    sm: Any, s3: Any, runtime: Any, model: tuple[str, np.ndarray]
) -> None:
    name, x = model
    endpoint = unique("async")
    deploy(
        sm,
        endpoint,
        [variant("AllTraffic", name)],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/async-out"}},
    )
    s3.put_object(Bucket=BUCKET, Key="async-in/req.csv", Body=csv_body(x[:3]))
    answer = runtime.invoke_endpoint_async(
        EndpointName=endpoint,
        ContentType="text/csv",
        InputLocation=f"s3://{BUCKET}/async-in/req.csv",
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    output = answer["OutputLocation"]
    assert output == f"s3://{BUCKET}/async-out/{answer['InferenceId']}.out"
    keys = _objects(s3, f"async-out/{answer['InferenceId']}.out")
    assert keys
    direct = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=csv_body(x[:3])
    )
    stored = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    assert stored == direct["Body"].read()


def test_endpoint_logs_name_the_variant_and_instance(
    sm: Any, logs: Any, model: tuple[str, np.ndarray]
) -> None:
    name, _ = model
    endpoint = unique("logs")
    deploy(sm, endpoint, [variant("AllTraffic", name, count=2)])
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    streams = logs.describe_log_streams(logGroupName=f"/aws/sagemaker/Endpoints/{endpoint}")
    names = sorted(s["logStreamName"] for s in streams["logStreams"])
    assert len(names) == 2 and all(n.startswith("AllTraffic/i-") for n in names)


def test_a_dead_model_server_is_restarted_and_the_endpoint_stays_in_service(
    server: Any, sm: Any, runtime: Any, model: tuple[str, np.ndarray]
) -> None:
    name, x = model
    endpoint = unique("restart")
    deploy(sm, endpoint, [variant("AllTraffic", name)])
    deployment = server.app.domains["sagemaker"].hosting.endpoints.serving(
        "000000000000", "us-east-1", endpoint
    )
    model_server = deployment.variants["AllTraffic"].instances[0].servers[0][1]
    os.kill(model_server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while model_server.restarts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert model_server.restarts == 1
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=csv_body(x[:1])
    )
    assert answer["Body"].read()
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_missing_model_data_fails_the_endpoint_with_a_reason(sm: Any) -> None:
    name = unique("broken")
    create_model(sm, name, f"s3://{BUCKET}/missing/model.tar.gz")
    endpoint = unique("failed")
    described = deploy(sm, endpoint, [variant("AllTraffic", name)])
    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        f"Failed to download model data(bucket: {BUCKET}, key: missing/model.tar.gz)."
    )


def test_unservable_image_fails_the_endpoint(sm: Any) -> None:
    name = unique("custom")
    create_model(sm, name, f"s3://{BUCKET}/xgb/model.tar.gz", image="my-registry/my-image:1")
    described = deploy(sm, unique("custom-ep"), [variant("AllTraffic", name)])
    assert described["EndpointStatus"] == "Failed"
    assert "tule cannot serve the image 'my-registry/my-image:1'" in described["FailureReason"]


def test_failed_update_rolls_back_and_keeps_serving(
    sm: Any, runtime: Any, model: tuple[str, np.ndarray]
) -> None:
    name, x = model
    endpoint = unique("rollback")
    deploy(sm, endpoint, [variant("Good", name)])
    broken = unique("broken")
    create_model(sm, broken, f"s3://{BUCKET}/missing/model.tar.gz")
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-bad", ProductionVariants=[variant("Bad", broken)]
    )
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-bad")
    described = hosting.wait_endpoint(sm, endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{endpoint}-config"
    assert "Failed to download model data" in described["FailureReason"]
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=csv_body(x[:1])
    )
    assert answer["InvokedProductionVariant"] == "Good"


def test_control_plane_errors_use_awss_wording(sm: Any, model: tuple[str, np.ndarray]) -> None:
    name, _ = model
    arn = f"arn:aws:sagemaker:us-east-1:000000000000:model/{name.lower()}"
    with pytest.raises(ClientError) as err:
        create_model(sm, name, f"s3://{BUCKET}/xgb/model.tar.gz")
    assert (
        err.value.response["Error"]["Message"] == f'Cannot create already existing model "{arn}".'
    )
    with pytest.raises(ClientError) as err:
        sm.describe_model(ModelName="absent")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find model" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.create_endpoint(EndpointName=unique("x"), EndpointConfigName="absent")
    assert "Could not find endpoint configuration" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.create_endpoint_config(
            EndpointConfigName=unique("cfg"), ProductionVariants=[variant("A", "absent")]
        )
    assert "Could not find model" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.create_endpoint_config(
            EndpointConfigName=unique("cfg"),
            ProductionVariants=[variant("A", name), variant("A", name)],
        )
    assert "unique" in err.value.response["Error"]["Message"]


def test_list_and_describe_models_and_configs(sm: Any, model: tuple[str, np.ndarray]) -> None:
    name, _ = model
    described = sm.describe_model(ModelName=name)
    assert described["PrimaryContainer"]["Image"] == hosting.XGBOOST_IMAGE
    found = sm.list_models(NameContains=name)["Models"]
    assert [m["ModelName"] for m in found] == [name]
    config = unique("cfg")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant("A", name)])
    echoed = sm.describe_endpoint_config(EndpointConfigName=config)
    assert echoed["ProductionVariants"][0]["InitialVariantWeight"] == 1.0
    assert [
        c["EndpointConfigName"]
        for c in sm.list_endpoint_configs(NameContains=config)["EndpointConfigs"]
    ] == [config]
    sm.delete_endpoint_config(EndpointConfigName=config)
    with pytest.raises(ClientError):
        sm.describe_endpoint_config(EndpointConfigName=config)
    tags = sm.list_tags(ResourceArn=described["ModelArn"])["Tags"]
    assert tags == []
    statuses = {
        e["EndpointStatus"] for e in sm.list_endpoints(StatusEquals="InService")["Endpoints"]
    }
    assert statuses <= {"InService"}


def test_serverless_variant_serves_and_describes_its_config(
    sm: Any, runtime: Any, model: tuple[str, np.ndarray]
) -> None:
    name, x = model
    endpoint = unique("serverless")
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    described = deploy(
        sm,
        endpoint,
        [{"VariantName": "AllTraffic", "ModelName": name, "ServerlessConfig": serverless}],
    )
    assert described["EndpointStatus"] == "InService", described
    summary = described["ProductionVariants"][0]
    assert summary["CurrentServerlessConfig"] == serverless
    assert "CurrentInstanceCount" not in summary
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=csv_body(x[:1])
    )
    assert answer["Body"].read()
    with pytest.raises(ClientError) as err:
        sm.create_endpoint_config(
            EndpointConfigName=unique("both"),
            ProductionVariants=[
                {**variant("A", name), "ServerlessConfig": serverless},
            ],
        )
    assert "cannot have both" in err.value.response["Error"]["Message"]


def test_tags_come_with_create_and_go_with_delete(sm: Any, model: tuple[str, np.ndarray]) -> None:
    name, _ = model
    config = unique("tagged")
    arn = sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[variant("A", name)],
        Tags=[{"Key": "team", "Value": "ml"}],
    )["EndpointConfigArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sm.delete_endpoint_config(EndpointConfigName=config)
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant("A", name)])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []
