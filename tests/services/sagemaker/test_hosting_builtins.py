"""Hosting the built-in algorithms of Algorithms I through boto3: each one trained by a real
training job, deployed from the job's artifact, invoked with every content type it takes and
every Accept it offers; the answers have SageMaker's shapes and equal the model's offline
predictions (specs/algorithms.md §0.3 and each algorithm's Inference section)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from sagemaker.amazon.common import read_records, write_numpy_to_dense_tensor
from sagemaker.deserializers import RecordDeserializer
from sagemaker_helpers import (
    KMEANS_IMAGE,
    LINEAR_LEARNER_IMAGE,
    XGBOOST_IMAGE,
    channel,
    create_job,
    unique,
    wait_for,
)

from tule.algorithms import registry
from tule.testing.hosting import create_model, csv_body, variant, wait_endpoint

PCA_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1"
KNN_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1"
BUCKET = "hosting-builtins"
CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
PROTOBUF = "application/x-recordio-protobuf"
# (the registry's name, the image) of each endpoint; the two Linear Learners share a name.
ALGORITHMS = {
    "xgboost": ("xgboost", XGBOOST_IMAGE),
    "ll-binary": ("linear-learner", LINEAR_LEARNER_IMAGE),
    "ll-regressor": ("linear-learner", LINEAR_LEARNER_IMAGE),
    "kmeans": ("kmeans", KMEANS_IMAGE),
    "pca": ("pca", PCA_IMAGE),
    "knn": ("knn", KNN_IMAGE),
}
IM_ALGORITHMS = ["ll-binary", "ll-regressor", "kmeans", "pca", "knn"]


# -- data -------------------------------------------------------------------------------------


def _f32(x: np.ndarray) -> np.ndarray:
    """float32 values, so that CSV/JSON text round-trips to the very numbers the model sees."""
    return np.asarray(x, dtype=np.float32)


def _csv(x: np.ndarray, y: np.ndarray | None = None) -> bytes:
    rows = x if y is None else np.column_stack([y, x])
    out = io.StringIO()
    np.savetxt(out, rows, delimiter=",", fmt="%.7g")
    return out.getvalue().encode()


def _protobuf(x: np.ndarray, y: np.ndarray | None = None) -> bytes:
    out = io.BytesIO()
    write_numpy_to_dense_tensor(out, x, y)
    return out.getvalue()


def _datasets() -> dict[str, dict[str, Any]]:
    """Per endpoint: its training channel (key, body, content type), hyperparameters and the
    rows to query it with."""
    rng = np.random.default_rng(11)
    x = _f32(rng.normal(size=(300, 4)))
    binary = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    target = (3 * x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2]).astype(np.float32)
    centres = np.array([[0, 0, 0], [8, 8, 0], [-8, 8, 8]], dtype=np.float32)
    blob = rng.integers(0, 3, 300)
    blobs = _f32(centres[blob] + rng.normal(scale=0.7, size=(300, 3)))
    plane = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 5)) + rng.normal(scale=0.05, size=5)
    plane = _f32(plane + 3.0)
    query = _f32(rng.normal(size=(6, 4)))
    query_blobs = _f32(centres[[0, 1, 2, 1, 0]] + rng.normal(scale=0.7, size=(5, 3)))
    return {
        "xgboost": {
            "train": ("train.csv", _csv(x, binary), CSV),
            "hp": {"objective": "binary:logistic", "num_round": "10", "max_depth": "3"},
            "query": query,
        },
        "ll-binary": {
            "train": ("train.csv", _csv(x, binary), CSV),
            "hp": {
                "predictor_type": "binary_classifier",
                "feature_dim": "4",
                "epochs": "3",
                "mini_batch_size": "50",
            },
            "query": query,
        },
        "ll-regressor": {
            # RecordIO-protobuf training data, as the SDK's record_set() writes it.
            "train": ("train.pbr", _protobuf(x, target), PROTOBUF),
            "hp": {
                "predictor_type": "regressor",
                "feature_dim": "4",
                "epochs": "3",
                "mini_batch_size": "50",
            },
            "query": query,
        },
        "kmeans": {
            "train": ("train.csv", _csv(blobs), "text/csv;label_size=0"),
            "hp": {"k": "3", "feature_dim": "3", "mini_batch_size": "50"},
            "query": query_blobs,
        },
        "pca": {
            "train": ("train.csv", _csv(plane), "text/csv;label_size=0"),
            "hp": {"feature_dim": "5", "num_components": "2", "mini_batch_size": "50"},
            "query": _f32(plane[:5] + 0.1),
        },
        "knn": {
            "train": ("train.csv", _csv(blobs, blob.astype(np.float32)), "text/csv;label_size=1"),
            "hp": {
                "feature_dim": "3",
                "k": "5",
                "predictor_type": "classifier",
                "sample_size": "200",
            },
            "query": query_blobs,
        },
    }


DATA = _datasets()


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runtime(server: Any) -> Any:
    return server.client("sagemaker-runtime")


@pytest.fixture(scope="module")
def jobs(sm: Any, s3: Any) -> dict[str, dict[str, Any]]:
    """One training job per endpoint, all started before any is waited on."""
    s3.create_bucket(Bucket=BUCKET)
    names = {}
    for key, data in DATA.items():
        filename, body, content_type = data["train"]
        s3.put_object(Bucket=BUCKET, Key=f"{key}/train/{filename}", Body=body)
        names[key] = create_job(
            sm,
            BUCKET,
            ALGORITHMS[key][1],
            [channel("train", f"s3://{BUCKET}/{key}/train/", content_type)],
            data["hp"],
        )
    described = {key: wait_for(sm, name, timeout=180) for key, name in names.items()}
    for key, job in described.items():
        assert job["TrainingJobStatus"] == "Completed", (key, job.get("FailureReason"))
    return described


def _deploy_all(sm: Any, models: dict[str, tuple[str, dict[str, str]]]) -> dict[str, str]:
    """Endpoint per key for (model artifact, container environment); created, then waited."""
    endpoints = {}
    for key, (artifact, environment) in models.items():
        job_key = key.split("+")[0]
        model = unique(f"{job_key}-model")
        extra = {"Environment": environment} if environment else {}
        create_model(sm, model, artifact, image=ALGORITHMS[job_key][1], **extra)
        endpoint = unique(f"{job_key}-ep")
        sm.create_endpoint_config(
            EndpointConfigName=f"{endpoint}-config", ProductionVariants=[variant("All", model)]
        )
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")
        endpoints[key] = endpoint
    for key, endpoint in endpoints.items():
        described = wait_endpoint(sm, endpoint, timeout=180)
        assert described["EndpointStatus"] == "InService", (key, described)
    return endpoints


# XGBoost once more with the container's selectable outputs (specs §4 Inference).
SELECTED = "predicted_label,probability,probabilities,raw_score"


@pytest.fixture(scope="module")
def endpoints(sm: Any, jobs: dict[str, dict[str, Any]]) -> Iterator[dict[str, str]]:
    artifacts = {key: job["ModelArtifacts"]["S3ModelArtifacts"] for key, job in jobs.items()}
    models: dict[str, tuple[str, dict[str, str]]] = {
        key: (uri, {}) for key, uri in artifacts.items()
    }
    models["xgboost+selected"] = (artifacts["xgboost"], {"SAGEMAKER_INFERENCE_OUTPUT": SELECTED})
    deployed = _deploy_all(sm, models)
    yield deployed
    for endpoint in deployed.values():
        sm.delete_endpoint(EndpointName=endpoint)


@pytest.fixture(scope="module")
def offline(
    s3: Any, jobs: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Each job's model loaded from its artifact with tule's own algorithm classes."""
    loaded = {}
    for key, job in jobs.items():
        bucket, object_key = job["ModelArtifacts"]["S3ModelArtifacts"][5:].split("/", 1)
        body = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
        model_dir = tmp_path_factory.mktemp(f"model-{key}")
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            tar.extractall(model_dir, filter="data")
        loaded[key] = registry.get(ALGORITHMS[key][0]).model_class.load(Path(model_dir))
    return loaded


# -- requests and answers ---------------------------------------------------------------------


def _invoke(
    runtime: Any, endpoint: str, body: bytes, content_type: str, accept: str | None = None
) -> tuple[str, bytes]:
    extra = {"Accept": accept} if accept else {}
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType=content_type, Body=body, **extra
    )
    # The MIME type only: text types may carry "; charset=utf-8", as Flask-based containers add.
    return answer["ContentType"].split(";")[0].strip(), answer["Body"].read()


def _model_error(
    runtime: Any, endpoint: str, body: bytes, content_type: str, accept: str | None = None
) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        _invoke(runtime, endpoint, body, content_type, accept)
    response = err.value.response
    assert response["Error"]["Code"] == "ModelError", response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    return response


def _sparse(row: list[float]) -> dict[str, list]:
    keys = [j for j, v in enumerate(row) if v != 0.0]
    return {"keys": keys, "shape": [len(row)], "values": [row[j] for j in keys]}


def _request_bodies(x: np.ndarray) -> dict[str, tuple[str, bytes]]:
    """The same rows in every request shape of the IM-family containers (specs §0.3)."""
    rows = [[float(v) for v in row] for row in x]
    sparse = [{"data": {"features": _sparse(r)}} for r in rows]
    return {
        "csv": (CSV, csv_body(x)),
        "csv-charset": ("text/csv; charset=utf-8", csv_body(x)),
        "csv-label-size": ("text/csv;label_size=0", csv_body(x)),
        "json-features": (
            JSON,
            json.dumps({"instances": [{"features": r} for r in rows]}).encode(),
        ),
        "json-data-values": (
            JSON,
            json.dumps(
                {"instances": [{"data": {"features": {"values": r}}} for r in rows]}
            ).encode(),
        ),
        "json-sparse": (JSON, json.dumps({"instances": sparse}).encode()),
        "json-charset": (
            "application/json; charset=utf-8",
            json.dumps({"instances": [{"features": r} for r in rows]}).encode(),
        ),
        "jsonlines": (JSONLINES, "\n".join(json.dumps({"features": r}) for r in rows).encode()),
        "jsonlines-data": (
            JSONLINES,
            "\n".join(json.dumps({"data": {"features": {"values": r}}}) for r in rows).encode(),
        ),
        "protobuf": (PROTOBUF, _protobuf(x)),
        "protobuf-float64": (PROTOBUF, _protobuf(x.astype(np.float64))),
    }


def _records(body: bytes) -> list[dict[str, list[float]]]:
    """Protobuf answer rows: `{label key: values}`, features must be empty."""
    out = []
    for record in read_records(io.BytesIO(body)):
        assert len(record.features) == 0
        out.append({key: list(value.float32_tensor.values) for key, value in record.label.items()})
    return out


def _json_rows(body: bytes, wrapper: str = "predictions") -> list[dict[str, Any]]:
    payload = json.loads(body)
    assert list(payload) == [wrapper], payload
    return payload[wrapper]


def _jsonlines_rows(body: bytes) -> list[dict[str, Any]]:
    text = body.decode()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _csv_rows(body: bytes) -> list[list[float]]:
    text = body.decode()
    assert text.endswith("\n")
    return [[float(v) for v in line.split(",")] for line in text.splitlines()]


def _expected(offline: dict[str, Any], key: str) -> dict[str, np.ndarray]:
    return offline[key].predict(DATA[key]["query"])


# -- every content type, every Accept ----------------------------------------------------------


@pytest.mark.parametrize("key", IM_ALGORITHMS)
def test_every_request_shape_gives_the_same_answer(
    runtime: Any, endpoints: dict[str, str], key: str
) -> None:
    x = DATA[key]["query"].copy()
    x[::2, 1] = 0.0  # zeros, which the sparse shape leaves out
    wrapper = "projections" if key == "pca" else "predictions"
    answers = {}
    for shape, (content_type, body) in _request_bodies(x).items():
        response_type, answer = _invoke(runtime, endpoints[key], body, content_type, JSON)
        assert response_type == JSON, shape
        answers[shape] = _json_rows(answer, wrapper)
    reference = answers.pop("csv")
    assert len(reference) == len(x)
    for shape, rows in answers.items():
        assert [sorted(r) for r in rows] == [sorted(r) for r in reference], shape
        for row, ref in zip(rows, reference, strict=True):
            for name, value in ref.items():
                # Sparse rows take the sparse product: equal up to float rounding.
                np.testing.assert_allclose(row[name], value, rtol=1e-6, err_msg=shape)


def test_linear_learner_binary_classifier_answers(
    runtime: Any, endpoints: dict[str, str], offline: dict[str, Any]
) -> None:
    endpoint, x = endpoints["ll-binary"], DATA["ll-binary"]["query"]
    expected = _expected(offline, "ll-binary")
    # No Accept: JSON, the IM containers' default.
    response_type, body = _invoke(runtime, endpoint, csv_body(x), CSV)
    assert response_type == JSON
    rows = _json_rows(body)
    assert [sorted(r) for r in rows] == [["predicted_label", "score"]] * len(x)
    assert all(isinstance(r["predicted_label"], int) for r in rows)  # an integer in JSON
    scores = np.array([r["score"] for r in rows])
    assert ((scores > 0) & (scores < 1)).all()  # P(label=1): logistic loss
    np.testing.assert_allclose(scores, expected["score"], rtol=1e-6)
    assert [r["predicted_label"] for r in rows] == expected["predicted_label"].tolist()
    assert [r["predicted_label"] for r in rows] == (scores > 0.5).astype(int).tolist()

    _, lines = _invoke(runtime, endpoint, csv_body(x), CSV, JSONLINES)
    assert _jsonlines_rows(lines) == rows

    response_type, proto = _invoke(runtime, endpoint, csv_body(x), CSV, PROTOBUF)
    assert response_type == PROTOBUF
    records = _records(proto)
    assert [sorted(r) for r in records] == [["predicted_label", "score"]] * len(x)
    np.testing.assert_array_equal([r["score"] for r in records], np.float32(scores).reshape(-1, 1))
    # The label is a float in protobuf: 1.0, not 1.
    assert [r["predicted_label"] for r in records] == [[float(r["predicted_label"])] for r in rows]


def test_linear_learner_regressor_answers_score_only(
    runtime: Any, endpoints: dict[str, str], offline: dict[str, Any]
) -> None:
    endpoint, x = endpoints["ll-regressor"], DATA["ll-regressor"]["query"]
    expected = _expected(offline, "ll-regressor")
    _, body = _invoke(runtime, endpoint, _protobuf(x), PROTOBUF, JSON)
    rows = _json_rows(body)
    assert [list(r) for r in rows] == [["score"]] * len(x)
    np.testing.assert_allclose([r["score"] for r in rows], expected["score"], rtol=1e-6)
    truth = 3 * x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2]
    assert np.abs(np.array([r["score"] for r in rows]) - truth).max() < 1.0  # it learned

    _, lines = _invoke(runtime, endpoint, _protobuf(x), PROTOBUF, JSONLINES)
    assert _jsonlines_rows(lines) == rows
    _, proto = _invoke(runtime, endpoint, _protobuf(x), PROTOBUF, PROTOBUF)
    assert _records(proto) == [{"score": [np.float32(r["score"])]} for r in rows]


def test_kmeans_answers_closest_cluster_and_distance(
    runtime: Any, endpoints: dict[str, str], offline: dict[str, Any]
) -> None:
    endpoint, x = endpoints["kmeans"], DATA["kmeans"]["query"]
    expected = _expected(offline, "kmeans")
    _, body = _invoke(runtime, endpoint, csv_body(x), CSV, JSON)
    rows = _json_rows(body)
    assert [sorted(r) for r in rows] == [["closest_cluster", "distance_to_cluster"]] * len(x)
    clusters = [r["closest_cluster"] for r in rows]
    assert all(isinstance(c, float) and c.is_integer() for c in clusters)  # 1.0, not 1
    assert clusters == expected["closest_cluster"].tolist()
    np.testing.assert_allclose(
        [r["distance_to_cluster"] for r in rows], expected["distance_to_cluster"], rtol=1e-6
    )
    # Rows 0 and 4 came from the same blob, 1 and 3 from another, 2 from the third.
    assert clusters[0] == clusters[4] and clusters[1] == clusters[3]
    assert len({clusters[0], clusters[1], clusters[2]}) == 3
    # The distance is Euclidean: to the model's own centroid.
    centroids = offline["kmeans"].centroids
    euclid = np.linalg.norm(x - centroids[np.array(clusters, dtype=int)], axis=1)
    np.testing.assert_allclose([r["distance_to_cluster"] for r in rows], euclid, rtol=1e-5)

    _, lines = _invoke(runtime, endpoint, csv_body(x), CSV, JSONLINES)
    assert _jsonlines_rows(lines) == rows
    _, proto = _invoke(runtime, endpoint, csv_body(x), CSV, PROTOBUF)
    assert _records(proto) == [
        {k: [np.float32(r[k])] for k in ("closest_cluster", "distance_to_cluster")} for r in rows
    ]
    response_type, text = _invoke(runtime, endpoint, csv_body(x), CSV, CSV)
    assert response_type == CSV
    assert _csv_rows(text) == [
        [r["closest_cluster"], np.float32(r["distance_to_cluster"])] for r in rows
    ]


def test_pca_answers_projections(
    runtime: Any, endpoints: dict[str, str], offline: dict[str, Any]
) -> None:
    endpoint, x = endpoints["pca"], DATA["pca"]["query"]
    expected = _expected(offline, "pca")
    _, body = _invoke(runtime, endpoint, csv_body(x), CSV, JSON)
    rows = _json_rows(body, wrapper="projections")
    assert [list(r) for r in rows] == [["projection"]] * len(x)
    assert all(len(r["projection"]) == 2 for r in rows)
    projections = np.array([r["projection"] for r in rows])
    np.testing.assert_allclose(projections, expected["projection"], rtol=1e-5, atol=1e-6)
    # The data lie on a plane: two components reconstruct the rows (mean subtracted).
    model = offline["pca"]
    rebuilt = projections @ model.v.T + (model.mean if model.mean is not None else 0)
    np.testing.assert_allclose(rebuilt, x, atol=0.5)

    _, lines = _invoke(runtime, endpoint, csv_body(x), CSV, JSONLINES)
    assert _jsonlines_rows(lines) == rows
    _, proto = _invoke(runtime, endpoint, csv_body(x), CSV, PROTOBUF)
    assert _records(proto) == [{"projection": list(np.float32(r["projection"]))} for r in rows]
    _, text = _invoke(runtime, endpoint, csv_body(x), CSV, CSV)
    assert _csv_rows(text) == [list(np.float32(r["projection"])) for r in rows]


def test_knn_answers_predicted_label_and_verbose_neighbours(
    runtime: Any, endpoints: dict[str, str], offline: dict[str, Any]
) -> None:
    endpoint, x = endpoints["knn"], DATA["knn"]["query"]
    expected = _expected(offline, "knn")
    _, body = _invoke(runtime, endpoint, csv_body(x), CSV, JSON)
    rows = _json_rows(body)
    assert [list(r) for r in rows] == [["predicted_label"]] * len(x)
    labels = [r["predicted_label"] for r in rows]
    assert labels == expected["predicted_label"].tolist()
    assert labels == [0.0, 1.0, 2.0, 1.0, 0.0]  # the blobs the rows were drawn from

    _, verbose = _invoke(runtime, endpoint, csv_body(x), CSV, f"{JSON}; verbose=true")
    detailed = _json_rows(verbose)
    assert [sorted(r) for r in detailed] == [["distances", "labels", "predicted_label"]] * len(x)
    for row, label in zip(detailed, labels, strict=True):
        assert row["predicted_label"] == label
        assert len(row["distances"]) == len(row["labels"]) == 5
        assert row["distances"] == sorted(row["distances"])
        assert max(set(row["labels"]), key=row["labels"].count) == label

    _, lines = _invoke(runtime, endpoint, csv_body(x), CSV, JSONLINES)
    assert _jsonlines_rows(lines) == rows
    _, proto = _invoke(runtime, endpoint, csv_body(x), CSV, PROTOBUF)
    assert _records(proto) == [{"predicted_label": [label]} for label in labels]
    _, verbose_proto = _invoke(runtime, endpoint, csv_body(x), CSV, f"{PROTOBUF}; verbose=true")
    assert [sorted(r) for r in _records(verbose_proto)] == [
        ["distances", "labels", "predicted_label"]
    ] * len(x)


def test_xgboost_answers_csv_and_json(
    runtime: Any, endpoints: dict[str, str], offline: dict[str, Any]
) -> None:
    endpoint, x = endpoints["xgboost"], DATA["xgboost"]["query"]
    expected = _expected(offline, "xgboost")["score"]
    # No Accept: CSV, one prediction per line, newline-terminated.
    response_type, text = _invoke(runtime, endpoint, csv_body(x), CSV)
    assert response_type == CSV
    assert [len(r) for r in _csv_rows(text)] == [1] * len(x)
    np.testing.assert_array_equal(np.float32(_csv_rows(text)).ravel(), expected)
    assert ((expected > 0) & (expected < 1)).all()  # binary:logistic probabilities

    response_type, body = _invoke(runtime, endpoint, csv_body(x), CSV, JSON)
    assert response_type == JSON
    rows = _json_rows(body)
    assert [list(r) for r in rows] == [["score"]] * len(x)
    np.testing.assert_allclose([r["score"] for r in rows], expected, rtol=1e-6)

    # LibSVM and protobuf requests (labels ignored) give the same scores.
    libsvm = "\n".join(
        "0 " + " ".join(f"{j}:{float(v)!r}" for j, v in enumerate(row)) for row in x
    ).encode()
    for content_type, request in (
        ("text/libsvm", libsvm),
        ("text/x-libsvm", libsvm),
        (PROTOBUF, _protobuf(x, np.zeros(len(x), dtype=np.float32))),
    ):
        _, again = _invoke(runtime, endpoint, request, content_type, JSON)
        assert _json_rows(again) == rows, content_type

    _, lines = _invoke(runtime, endpoint, csv_body(x), CSV, JSONLINES)
    assert _jsonlines_rows(lines) == rows
    _, proto = _invoke(runtime, endpoint, csv_body(x), CSV, PROTOBUF)
    assert _records(proto) == [{"score": [np.float32(r["score"])]} for r in rows]


def test_xgboost_selectable_outputs_from_the_model_environment(
    runtime: Any, endpoints: dict[str, str], offline: dict[str, Any]
) -> None:
    endpoint, x = endpoints["xgboost+selected"], DATA["xgboost"]["query"]
    p = _expected(offline, "xgboost")["score"]
    _, body = _invoke(runtime, endpoint, csv_body(x), CSV, JSON)
    rows = _json_rows(body)
    assert [list(r) for r in rows] == [SELECTED.split(",")] * len(x)
    assert [r["predicted_label"] for r in rows] == (p > 0.5).astype(int).tolist()
    np.testing.assert_allclose([r["probability"] for r in rows], p, rtol=1e-6)
    np.testing.assert_allclose([r["probabilities"] for r in rows], np.c_[1 - p, p], rtol=1e-6)
    _, lines = _invoke(runtime, endpoint, csv_body(x), CSV, JSONLINES)
    assert _jsonlines_rows(lines) == rows
    _, proto = _invoke(runtime, endpoint, csv_body(x), CSV, PROTOBUF)
    assert [sorted(r) for r in _records(proto)] == [sorted(SELECTED.split(","))] * len(x)


def test_protobuf_answers_decode_with_the_sdks_record_deserializer(
    runtime: Any, endpoints: dict[str, str]
) -> None:
    x = DATA["ll-binary"]["query"]
    _, body = _invoke(runtime, endpoints["ll-binary"], _protobuf(x), PROTOBUF, JSON)
    rows = _json_rows(body)
    _, proto = _invoke(runtime, endpoints["ll-binary"], _protobuf(x), PROTOBUF, PROTOBUF)
    records = RecordDeserializer().deserialize(io.BytesIO(proto), PROTOBUF)
    assert len(records) == len(x)
    for record, row in zip(records, rows, strict=True):
        assert record.label["score"].float32_tensor.values[0] == np.float32(row["score"])
        assert record.label["predicted_label"].float32_tensor.values[0] == row["predicted_label"]


@pytest.mark.parametrize(
    ("key", "accept", "expected"),
    [
        ("xgboost", "*/*", CSV),  # XGBoost's default answer is CSV
        ("kmeans", "*/*", JSON),  # the IM containers' is JSON
        ("kmeans", f"text/html, {JSONLINES}, {JSON};q=0.5", JSONLINES),  # first one it has
        ("pca", f"{PROTOBUF};q=0.9, {CSV}", PROTOBUF),
    ],
)
def test_accept_negotiation(
    runtime: Any, endpoints: dict[str, str], key: str, accept: str, expected: str
) -> None:
    response_type, body = _invoke(
        runtime, endpoints[key], csv_body(DATA[key]["query"][:2]), CSV, accept
    )
    assert response_type == expected
    decoded = {
        CSV: _csv_rows,
        JSON: lambda b: json.loads(b)["predictions"],
        JSONLINES: _jsonlines_rows,
        PROTOBUF: _records,
    }[expected](body)
    assert len(decoded) == 2


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(ALGORITHMS))
def test_unsupported_content_type_is_a_415_model_error(
    runtime: Any, endpoints: dict[str, str], key: str
) -> None:
    body = csv_body(DATA[key]["query"][:1])
    response = _model_error(runtime, endpoints[key], body, "image/png")
    assert response["OriginalStatusCode"] == 415
    assert "Received client error (415)" in response["Error"]["Message"]
    assert "image/png" in response["OriginalMessage"]


def test_xgboost_refuses_json_requests_with_415(runtime: Any, endpoints: dict[str, str]) -> None:
    rows = DATA["xgboost"]["query"][:2].tolist()
    body = json.dumps({"instances": [{"features": r} for r in rows]}).encode()
    response = _model_error(runtime, endpoints["xgboost"], body, JSON)
    assert response["OriginalStatusCode"] == 415


@pytest.mark.parametrize(
    ("key", "accept"), [("ll-binary", CSV), ("knn", CSV), ("pca", "text/html")]
)
def test_accept_the_algorithm_cannot_produce_is_a_406_model_error(
    runtime: Any, endpoints: dict[str, str], key: str, accept: str
) -> None:
    body = csv_body(DATA[key]["query"][:1])
    response = _model_error(runtime, endpoints[key], body, CSV, accept)
    assert response["OriginalStatusCode"] == 406


@pytest.mark.parametrize("key", ["xgboost", "ll-binary", "kmeans", "pca", "knn"])
def test_wrong_feature_count_is_a_400_model_error_and_the_endpoint_keeps_serving(
    runtime: Any, endpoints: dict[str, str], key: str
) -> None:
    x = DATA[key]["query"]
    wide = np.column_stack([x[:2], np.ones(2, dtype=np.float32)])
    response = _model_error(runtime, endpoints[key], csv_body(wide), CSV)
    assert response["OriginalStatusCode"] == 400
    _, body = _invoke(runtime, endpoints[key], csv_body(x[:1]), CSV)
    assert body
