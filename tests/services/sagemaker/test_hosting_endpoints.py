"""Endpoints through boto3: create, invoke, route by weight, update, delete (real model servers)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from sagemaker_helpers import unique

from tule.testing import hosting
from tule.testing.hosting import create_model, csv_body, deploy, upload_model, variant


@pytest.fixture(scope="module")
def runtime(server: Any) -> Any:
    return server.client("sagemaker-runtime")


@pytest.fixture(scope="module")
def xgb_model(sm: Any, s3: Any) -> tuple[str, Any, np.ndarray]:
    s3.create_bucket(Bucket="hosting-models")
    booster, archive, x = hosting.xgboost_model()
    uri = upload_model(s3, "hosting-models", "xgb/model.tar.gz", archive)
    name = unique("xgb-model")
    create_model(sm, name, uri)
    return name, booster, x


def test_endpoint_predictions_equal_the_models_offline_predictions(
    sm: Any, runtime: Any, xgb_model: tuple[str, Any, np.ndarray]
) -> None:
    import xgboost as xgb

    model, booster, x = xgb_model
    endpoint = unique("ep")
    described = deploy(sm, endpoint, [variant("AllTraffic", model)])
    assert described["EndpointStatus"] == "InService", described
    summary = described["ProductionVariants"][0]
    assert summary["CurrentInstanceCount"] == 1 and summary["CurrentWeight"] == 1.0
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=csv_body(x[:20])
    )
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    got = np.array(
        [float(v) for v in answer["Body"].read().decode().replace("\n", ",").split(",") if v]
    )
    expected = booster.predict(xgb.DMatrix(x[:20]))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_weights_one_to_three_split_traffic_and_target_variant_pins(
    sm: Any, runtime: Any, xgb_model: tuple[str, Any, np.ndarray]
) -> None:
    model, _, x = xgb_model
    endpoint = unique("ab")
    deploy(sm, endpoint, [variant("A", model, weight=1.0), variant("B", model, weight=3.0)])
    body = csv_body(x[:1])
    counts = {"A": 0, "B": 0}
    for _ in range(1000):
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
        counts[answer["InvokedProductionVariant"]] += 1
    assert 200 <= counts["A"] <= 300, counts
    pinned = {
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=body, TargetVariant="A"
        )["InvokedProductionVariant"]
        for _ in range(20)
    }
    assert pinned == {"A"}
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "A", "DesiredWeight": 0.0}],
    )
    described = hosting.wait_endpoint(sm, endpoint)
    weights = {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}
    assert weights == {"A": 0.0, "B": 3.0}
    after = {
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)[
            "InvokedProductionVariant"
        ]
        for _ in range(50)
    }
    assert after == {"B"}
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=body, TargetVariant="C"
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_update_endpoint_swaps_config_while_a_client_keeps_invoking(
    sm: Any, runtime: Any, xgb_model: tuple[str, Any, np.ndarray]
) -> None:
    model, _, x = xgb_model
    endpoint = unique("bg")
    deploy(sm, endpoint, [variant("Blue", model)])
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-green", ProductionVariants=[variant("Green", model)]
    )
    body = csv_body(x[:1])
    seen: list[str] = []
    failures: list[Exception] = []
    done = threading.Event()

    def client() -> None:
        while not done.is_set():
            try:
                answer = runtime.invoke_endpoint(
                    EndpointName=endpoint, ContentType="text/csv", Body=body
                )
                seen.append(answer["InvokedProductionVariant"])
            except Exception as exc:  # any failure fails the test below
                failures.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        while len(seen) < 20:
            pass
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-green")
        described = hosting.wait_endpoint(sm, endpoint)
        count = len(seen)
        while len(seen) < count + 20:
            pass
    finally:
        done.set()
        thread.join()
    assert failures == []
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{endpoint}-green"
    assert seen[0] == "Blue" and seen[-1] == "Green"


def test_unknown_endpoint_is_a_validation_error(runtime: Any) -> None:
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName="nope", ContentType="text/csv", Body=b"1,2")
    error = err.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == "Endpoint nope of account 000000000000 not found."
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_model_error_carries_the_containers_status_and_endpoint_keeps_serving(
    sm: Any, runtime: Any, xgb_model: tuple[str, Any, np.ndarray]
) -> None:
    model, _, x = xgb_model
    endpoint = unique("err")
    deploy(sm, endpoint, [variant("AllTraffic", model)])
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3,4,5,6,7,8,9"
        )
    response = err.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert "Received client error (400) from primary" in response["Error"]["Message"]
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=csv_body(x[:2])
    )
    assert answer["Body"].read()


def test_delete_endpoint_then_describe_is_not_found(
    sm: Any, xgb_model: tuple[str, Any, np.ndarray]
) -> None:
    model, _, _ = xgb_model
    endpoint = unique("del")
    deploy(sm, endpoint, [variant("AllTraffic", model)])
    sm.delete_endpoint(EndpointName=endpoint)
    hosting.wait_deleted(sm, endpoint)
    with pytest.raises(ClientError) as err:
        sm.describe_endpoint(EndpointName=endpoint)
    assert "Could not find endpoint" in err.value.response["Error"]["Message"]


def test_large_payloads_are_answered_and_over_six_mib_refused(
    sm: Any, runtime: Any, xgb_model: tuple[str, Any, np.ndarray]
) -> None:
    import xgboost as xgb

    model, booster, _ = xgb_model
    endpoint = unique("big")
    deploy(sm, endpoint, [variant("AllTraffic", model)])
    rows = np.random.default_rng(3).normal(size=(40000, 4)).astype(np.float32)
    body = csv_body(rows)
    assert 1 << 20 < len(body) < 6 * (1 << 20)
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
    got = np.array(answer["Body"].read().split(), dtype=np.float64)
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(rows)), rtol=1e-6)
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=b"1" * (6 * (1 << 20) + 1)
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
