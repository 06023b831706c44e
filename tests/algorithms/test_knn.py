"""SageMaker k-NN in tule: a flat index predicts exactly what scikit-learn's k-nearest
neighbours predict, IVF indexes come close, and the container's hyperparameters, log lines and
(verbose) response shapes are honoured.

Exactness needs a neighbour set without ties. Digits' pixels are integers, so squared
distances tie often; the data gets a fixed jitter of +-0.01 per pixel, after which the k-th and
(k+1)-th neighbour distances of every test row differ by more than float32 rounding (checked in
the test; rows where they do not would be excluded and counted, and the test requires none).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors

from tule.algorithms.base import ChannelData, DataError, HyperparameterError, ListReporter
from tule.algorithms.formats import recordio_protobuf as rp
from tule.algorithms.inference import InferenceError, invoke
from tule.algorithms.knn import KNN, KNNHyperparameters, KNNModel
from tule.algorithms.knn_index import Reduction, Reservoir

PROTOBUF = "application/x-recordio-protobuf"
K = 5


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = (x + np.random.default_rng(0).uniform(-0.01, 0.01, x.shape)).astype(np.float32)
    return x[:1400], y[:1400].astype(np.float32), x[1400:], y[1400:].astype(np.float32)


def write(tmp: Path, name: str, x, y, content_type: str = PROTOBUF) -> ChannelData:
    folder = tmp / name
    folder.mkdir(parents=True)
    with open(folder / "part-0", "wb") as out:
        if content_type == PROTOBUF:
            rp.write_dense(out, np.asarray(x, np.float32), np.asarray(y, np.float32))
        else:
            np.savetxt(out, np.column_stack([y, x]), delimiter=",", fmt="%.9g")
            content_type = "text/csv;label_size=1"
    return ChannelData(name, content_type, files=[folder])


def train(
    tmp: Path, hyperparameters: Mapping[str, str], x, y, test=None, content_type: str = PROTOBUF
) -> tuple[KNNModel, list[str]]:
    channels = {"train": write(tmp, "train", x, y, content_type)}
    if test is not None:
        channels["test"] = write(tmp, "test", *test, content_type)
    base = {
        "feature_dim": str(x.shape[1]),
        "k": str(K),
        "predictor_type": "classifier",
        "sample_size": "100000",
    }
    reporter = ListReporter()
    params = KNN.hyperparameters.parse({**base, **hyperparameters})
    return KNN().train(params, channels, reporter), reporter.lines


@pytest.fixture(scope="module")
def flat(digits, tmp_path_factory) -> KNNModel:
    x, y, _, _ = digits
    model, _ = train(tmp_path_factory.mktemp("flat"), {}, x, y)
    return model


# ------------------------------------------------------------------------------- quality


def test_flat_index_predicts_what_scikit_learn_predicts(digits, flat) -> None:
    x, y, xt, _ = digits
    distances, _ = NearestNeighbors(n_neighbors=K + 1).fit(x).kneighbors(xt)
    gap = (distances[:, K] - distances[:, K - 1]) / distances[:, K - 1]
    comparable = gap > 1e-5  # k-th and (k+1)-th neighbours apart by more than float32 noise
    assert comparable.all(), f"{(~comparable).sum()} rows have tied neighbour sets"
    theirs = KNeighborsClassifier(n_neighbors=K).fit(x, y).predict(xt)
    np.testing.assert_array_equal(flat.predict(xt)["predicted_label"], theirs)


def test_regressor_predicts_what_scikit_learn_predicts(digits, tmp_path: Path) -> None:
    x, y, xt, _ = digits
    model, _ = train(tmp_path, {"predictor_type": "regressor"}, x, y)
    theirs = KNeighborsRegressor(n_neighbors=K).fit(x, y).predict(xt)
    np.testing.assert_allclose(model.predict(xt)["predicted_label"], theirs, rtol=1e-6)


def test_ivf_indexes_agree_with_the_flat_index(digits, flat, tmp_path: Path) -> None:
    x, y, xt, _ = digits
    exact = flat.predict(xt)["predicted_label"]
    ivf, _ = train(tmp_path / "ivf", {"index_type": "faiss.IVFFlat"}, x, y)
    assert ivf.header["nlists"] == round(1400**0.5)  # auto = sqrt(sample size)
    assert np.mean(ivf.predict(xt)["predicted_label"] == exact) >= 0.97
    pq, _ = train(tmp_path / "pq", {"index_type": "faiss.IVFPQ", "faiss_index_pq_m": "16"}, x, y)
    assert np.mean(pq.predict(xt)["predicted_label"] == exact) >= 0.9


@pytest.mark.parametrize("kind", ["sign", "fjlt"])
def test_dimension_reduction_keeps_predictions_useful(digits, kind: str, tmp_path: Path) -> None:
    x, y, xt, yt = digits
    params = {"dimension_reduction_type": kind, "dimension_reduction_target": "32"}
    model, _ = train(tmp_path, params, x, y)
    assert model.header["index_dim"] == 32
    assert np.mean(model.predict(xt)["predicted_label"] == yt) >= 0.9


def test_reductions_preserve_distances_on_average() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 100)).astype(np.float32)
    for kind in ("sign", "fjlt"):
        reduction = Reduction.fit(kind, 100, 60, np.random.default_rng(0))
        z = reduction.apply(x)
        ratio = np.linalg.norm(z[1:] - z[:-1], axis=1) / np.linalg.norm(x[1:] - x[:-1], axis=1)
        assert abs(ratio.mean() - 1) < 0.05 and ratio.std() < 0.15


def test_cosine_and_inner_product_report_ascending_distances(digits, tmp_path: Path) -> None:
    x, y, xt, _ = digits
    for metric in ("COSINE", "INNER_PRODUCT"):
        model, _ = train(tmp_path / metric, {"index_metric": metric}, x, y)
        out = model.predict(xt, options={"verbose": "true"})
        assert np.all(np.diff(out["distances"], axis=1) >= -1e-6)
    cosine = KNeighborsClassifier(n_neighbors=K, metric="cosine", algorithm="brute").fit(x, y)
    model, _ = train(tmp_path / "again", {"index_metric": "COSINE"}, x, y)
    assert np.mean(model.predict(xt)["predicted_label"] == cosine.predict(xt)) >= 0.99


def test_sample_size_keeps_a_seeded_uniform_sample(digits, tmp_path: Path) -> None:
    x, y, _, _ = digits
    model, lines = train(tmp_path, {"sample_size": "300"}, x, y)
    assert model.index.ntotal == 300 and "Sampled 300 of 1400 training records" in lines
    reservoir = Reservoir(1000, np.random.default_rng(0))
    for start in range(0, 100_000, 7000):  # uneven batches, as a stream gives them
        rows = np.arange(start, min(start + 7000, 100_000), dtype=np.float32)
        reservoir.add(rows[:, None], rows)
    features, labels = reservoir.sample()
    assert len(np.unique(labels)) == 1000 and np.all(np.diff(labels) > 0)  # distinct, in order
    assert 40_000 < labels.mean() < 60_000  # drawn from the whole stream, not its head
    np.testing.assert_array_equal(features[:, 0], labels)


def test_test_channel_logs_accuracy_and_mse_as_sagemaker_does(digits, tmp_path: Path) -> None:
    x, y, xt, yt = digits
    model, lines = train(tmp_path / "c", {}, x, y, test=(xt, yt), content_type="text/csv")
    accuracy = float(np.mean(model.predict(xt)["predicted_label"] == yt))
    text = "\n".join(lines)
    found = re.search(r"#quality_metric: host=\S+, test accuracy <score>=(\S+)", text)
    assert found and float(found.group(1)) == pytest.approx(accuracy)
    assert f"#test_score (algo-1) : ('accuracy', {found.group(1)})" in lines
    _, lines = train(tmp_path / "r", {"predictor_type": "regressor"}, x, y, test=(xt, yt))
    assert re.search(r"#quality_metric: host=\S+, test mse <loss>=(\S+)", "\n".join(lines))
    assert "#progress_metric: host=algo-1, completed 100 % of epochs" in lines


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"predictor_type": None}, "'predictor_type' is a required property"),
        ({"sample_size": None}, "'sample_size' is a required property"),
        ({"index_type": "faiss.HNSW"}, "'faiss.HNSW' is not one of"),
        ({"faiss_index_pq_m": "5"}, "faiss_index_pq_m"),
        ({"dimension_reduction_type": "sign"}, '"dimension_reduction_target" is required'),
        (
            {"dimension_reduction_type": "fjlt", "dimension_reduction_target": "64"},
            "less than feature_dim (64)",
        ),
        (
            {"index_type": "faiss.IVFPQ", "index_metric": "COSINE"},
            "faiss.IVFPQ supports only 'L2'",
        ),
        ({"k": "0"}, "'k'"),
    ],
)
def test_bad_hyperparameters_fail_readably(change: dict, expected: str) -> None:
    raw = {"feature_dim": "64", "k": "5", "predictor_type": "classifier", "sample_size": "10"}
    raw.update(change)
    with pytest.raises(HyperparameterError) as caught:
        KNNHyperparameters.parse({k: v for k, v in raw.items() if v is not None})
    assert expected in caught.value.reason


def test_training_data_errors_are_readable(digits, tmp_path: Path) -> None:
    x, y, _, _ = digits
    with pytest.raises(DataError, match="cannot copy sequence with size 64 to array axis"):
        train(tmp_path / "dim", {"feature_dim": "63"}, x, y)
    with pytest.raises(DataError, match="k=5 is larger than the number of sampled"):
        train(tmp_path / "small", {"sample_size": "3"}, x, y)
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    with open(folder / "part-0", "wb") as out:
        rp.write_dense(out, x[:20])
    params = KNNHyperparameters.parse(
        {"feature_dim": "64", "k": "5", "predictor_type": "classifier", "sample_size": "10"}
    )
    channel = ChannelData("train", PROTOBUF, files=[folder])
    with pytest.raises(DataError, match="k-NN needs a label per record"):
        KNN().train(params, {"train": channel}, ListReporter())


# ------------------------------------------------------------------------------- inference


def _request(rows: np.ndarray, content_type: str) -> bytes:
    if content_type == "text/csv":
        return "\n".join(",".join(repr(float(v)) for v in r) for r in rows).encode()
    if content_type == "application/json":
        return json.dumps({"instances": [{"features": r.tolist()} for r in rows]}).encode()
    if content_type == "application/jsonlines":
        return "\n".join(json.dumps({"features": r.tolist()}) for r in rows).encode()
    out = io.BytesIO()
    rp.write_dense(out, rows.astype(np.float32))
    return out.getvalue()


@pytest.mark.parametrize(
    "content_type", ["text/csv", "application/json", "application/jsonlines", PROTOBUF]
)
def test_every_content_type_answers_predicted_label(digits, flat, content_type: str) -> None:
    _, _, xt, _ = digits
    rows = xt[:6]
    expected = flat.predict(rows)["predicted_label"].tolist()
    body = _request(rows, content_type)
    payload, _ = invoke(flat, KNN, body, content_type, "application/json")
    assert json.loads(payload) == {"predictions": [{"predicted_label": v} for v in expected]}
    lines, _ = invoke(flat, KNN, body, content_type, "application/jsonlines")
    assert [json.loads(ln)["predicted_label"] for ln in lines.decode().splitlines()] == expected
    records, _ = invoke(flat, KNN, body, content_type, PROTOBUF)
    assert [r.label["predicted_label"].values[0] for r in rp.read_records(records)] == expected


def test_verbose_accept_adds_ascending_distances_and_neighbour_labels(digits, flat) -> None:
    x, y, xt, _ = digits
    body = _request(xt[:3], "text/csv")
    payload, _ = invoke(flat, KNN, body, "text/csv", "application/json; verbose=true")
    predictions = json.loads(payload)["predictions"]
    distances, index = NearestNeighbors(n_neighbors=K).fit(x).kneighbors(xt[:3])
    for row, prediction in enumerate(predictions):
        assert sorted(prediction) == ["distances", "labels", "predicted_label"]
        assert prediction["distances"] == sorted(prediction["distances"])
        np.testing.assert_allclose(prediction["distances"], distances[row], rtol=1e-4)
        assert prediction["labels"] == y[index[row]].tolist()
    records, _ = invoke(flat, KNN, body, "text/csv", f"{PROTOBUF};verbose=true")
    first = rp.read_records(records)[0]
    assert sorted(first.label) == ["distances", "labels", "predicted_label"]
    assert len(first.label["labels"].values) == K
    plain, _ = invoke(flat, KNN, body, "text/csv", "application/json")
    assert list(json.loads(plain)["predictions"][0]) == ["predicted_label"]


def test_save_load_gives_identical_predictions(digits, tmp_path: Path) -> None:
    x, y, xt, _ = digits
    params = {"index_type": "faiss.IVFFlat", "dimension_reduction_type": "fjlt"}
    model, _ = train(tmp_path / "t", {**params, "dimension_reduction_target": "40"}, x, y)
    model.save(tmp_path / "model")
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["model_algo-1"]
    loaded = KNNModel.load(tmp_path / "model")
    for key, values in model.predict(xt, options={"verbose": "true"}).items():
        np.testing.assert_array_equal(loaded.predict(xt, options={"verbose": "true"})[key], values)


def test_request_with_the_wrong_feature_count_is_a_400(flat) -> None:
    with pytest.raises(InferenceError) as caught:
        invoke(flat, KNN, b"1,2,3\n", "text/csv", "application/json")
    assert caught.value.status == 400
