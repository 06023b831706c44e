"""Channel checks and inference requests, answered as the containers answer them."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from test_layer_toy import Centroids, CentroidsModel

from tule.algorithms.base import AlgorithmError, ChannelData, ChannelSpec
from tule.algorithms.formats import recordio_protobuf as rp
from tule.algorithms.inference import InferenceError, choose_accept, invoke

CSV = "text/csv"
MODEL = CentroidsModel(np.array([0.0, 1.0]), np.array([[0.0, 0.0], [10.0, 10.0]]))
ALGO = Centroids()


def _channels(**content_types: str) -> dict[str, ChannelData]:
    return {name: ChannelData(name, ct) for name, ct in content_types.items()}


def test_channels_missing_unknown_and_wrong_type_in_json_schema_words() -> None:
    with pytest.raises(AlgorithmError, match="'train' is a required property"):
        ALGO.validate_channels(_channels(test=CSV))
    with pytest.raises(AlgorithmError, match=r"\('validation' was unexpected\)"):
        ALGO.validate_channels(_channels(train=CSV, validation=CSV))
    with pytest.raises(AlgorithmError, match="'text/libsvm' is not one of"):
        ALGO.validate_channels(_channels(train="text/libsvm"))
    ALGO.validate_channels(_channels(train="text/csv;label_size=1", test="recordio-protobuf"))
    ALGO.validate_channels(_channels(train=""))  # no ContentType: the channel's default


def test_channels_in_xgboost_words_and_input_modes() -> None:
    from test_layer_hyperparameters import XGB

    class Boosted(Centroids):
        hyperparameters = XGB
        channels = (ChannelSpec("train", True, (CSV,), CSV, ("File",)),)

    algo = Boosted()
    with pytest.raises(AlgorithmError, match=r"^Missing required channel: train$"):
        algo.validate_channels({})
    with pytest.raises(AlgorithmError, match=r"^Extraneous channel found: code$"):
        algo.validate_channels(_channels(train=CSV, code=CSV))
    pipe = {"train": ChannelData("train", CSV, stream_factory=lambda: io.BytesIO())}
    with pytest.raises(AlgorithmError, match="'TrainingInputMode': 'Pipe'"):
        algo.validate_channels(pipe)


def test_every_request_type_gives_the_same_predictions() -> None:
    rows = np.array([[1.0, 1.0], [9.0, 9.5]], dtype=np.float32)
    csv_body = b"1,1\n9,9.5\n"
    buf = io.BytesIO()
    rp.write_dense(buf, rows.astype(np.float64))  # SDK predictors keep float64
    bodies = {
        CSV: csv_body,
        "application/json": json.dumps({"instances": [{"features": r} for r in rows.tolist()]}),
        "application/jsonlines": "\n".join(json.dumps({"features": r}) for r in rows.tolist()),
        "application/x-recordio-protobuf": buf.getvalue(),
    }
    for content_type, body in bodies.items():
        payload, answered = invoke(
            MODEL, ALGO, body if isinstance(body, bytes) else body.encode(), content_type, None
        )
        assert answered == "application/json"
        predictions = json.loads(payload)["predictions"]
        assert [p["predicted_label"] for p in predictions] == [0.0, 1.0], content_type


def test_accept_types_and_response_shapes() -> None:
    body = b"1,1\n9,9.5\n"
    lines, kind = invoke(MODEL, ALGO, body, CSV, "application/jsonlines")
    assert kind == "application/jsonlines" and len(lines.splitlines()) == 2
    records, kind = invoke(MODEL, ALGO, body, CSV, "application/x-recordio-protobuf")
    labels = [r.label["predicted_label"].values.tolist() for r in rp.read_records(records)]
    assert labels == [[0.0], [1.0]]
    table, kind = invoke(MODEL, ALGO, body, CSV, "text/csv")
    assert table.decode().splitlines()[1].startswith("1.0,")
    assert choose_accept(ALGO, "image/png, application/jsonlines;q=0.5")[0] == (
        "application/jsonlines"
    )
    assert choose_accept(ALGO, "*/*")[0] == "application/json"


def test_accept_parameters_reach_the_model() -> None:
    payload, _ = invoke(MODEL, ALGO, b"1,1\n", CSV, "application/json; verbose=true")
    assert len(json.loads(payload)["predictions"][0]["distances"]) == 2


def test_json_wrapper_is_the_algorithms_choice() -> None:
    class Projector(Centroids):
        json_response_key = "projections"

    payload, _ = invoke(MODEL, Projector, b"1,1\n", CSV, "application/json")
    assert list(json.loads(payload)) == ["projections"]


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status"),
    [
        (b"1,1\n", "image/png", None, 415),
        (b"1,1\n", CSV, "image/png", 406),
        (b"", CSV, None, 204),
        (b"1,x\n", CSV, None, 400),
        (b"1,2,3\n", CSV, None, 400),
        (b"[[1, 2]]", "application/json", None, 400),
    ],
)
def test_failures_carry_the_container_status(body, content_type, accept, status) -> None:
    with pytest.raises(InferenceError) as info:
        invoke(MODEL, ALGO, body, content_type, accept)
    assert info.value.status == status
    assert status == 204 or info.value.message


def test_undecodable_status_is_the_algorithms_choice() -> None:
    class Strict(Centroids):
        decode_error_status = 415

    with pytest.raises(InferenceError) as info:
        invoke(MODEL, Strict, b"1,x\n", CSV, None)
    assert info.value.status == 415


def test_sdk_predictor_serializers_round_trip() -> None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    serializers = pytest.importorskip("sagemaker.serializers")
    deserializers = pytest.importorskip("sagemaker.deserializers")
    request = serializers.RecordSerializer().serialize(np.array([[9.0, 9.0], [0.0, 1.0]]))
    payload, kind = invoke(
        MODEL,
        ALGO,
        request.read(),
        "application/x-recordio-protobuf",
        "application/x-recordio-protobuf",
    )
    records = deserializers.RecordDeserializer().deserialize(io.BytesIO(payload), kind)
    assert [r.label["predicted_label"].float32_tensor.values[0] for r in records] == [1.0, 0.0]
