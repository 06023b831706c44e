"""SageMaker K-Means in tule: it clusters as well as scikit-learn, speaks the container's
hyperparameters, log lines and response shapes, and keeps its model in MXNet's NDArray format.

Channels are real files (RecordIO-protobuf and CSV) read through the shared formats layer;
requests go through `tule.algorithms.inference.invoke` as an endpoint's would.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from tule.algorithms import mxnet_ndarray
from tule.algorithms.base import ChannelData, DataError, HyperparameterError, ListReporter
from tule.algorithms.formats import Dataset
from tule.algorithms.formats import recordio_protobuf as rp
from tule.algorithms.inference import InferenceError, invoke
from tule.algorithms.kmeans import KMeans, KMeansHyperparameters, KMeansModel
from tule.algorithms.kmeans_training import (
    MiniBatchState,
    kmeans_plus_plus,
    lloyd_iteration,
    local_lloyd,
    nearest,
)
from tule.testing.algorithms import write_dataset

PROTOBUF = "application/x-recordio-protobuf"


def channel(tmp: Path, name: str, x, content_type: str = PROTOBUF) -> ChannelData:
    kind = write_dataset(Dataset(x), tmp / name, (content_type,))
    return ChannelData(name, kind, files=[tmp / name])


def train(
    tmp: Path, hyperparameters: Mapping[str, str], x, test=None, content_type: str = PROTOBUF
) -> tuple[KMeansModel, list[str]]:
    channels = {"train": channel(tmp, "train", x, content_type)}
    if test is not None:
        channels["test"] = channel(tmp, "test", test, content_type)
    reporter = ListReporter()
    params = KMeans.hyperparameters.parse(dict(hyperparameters))
    return KMeans().train(params, channels, reporter), reporter.lines


def blobs(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    which = rng.integers(0, 4, rows)
    return (means[which] + rng.standard_normal((rows, 2))).astype(np.float32), which


# ------------------------------------------------------------------------------- quality


def test_adjusted_rand_index_on_digits_is_within_0_1_of_scikit_learn(tmp_path: Path) -> None:
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    ours, lines = train(
        tmp_path, {"feature_dim": "64", "k": "10", "mini_batch_size": "200", "epochs": "10"}, x
    )
    theirs = SklearnKMeans(n_clusters=10, random_state=0).fit_predict(x)
    ours_ari = adjusted_rand_score(y, ours.predict(x)["closest_cluster"])
    theirs_ari = adjusted_rand_score(y, theirs)
    assert abs(ours_ari - theirs_ari) <= 0.1, (ours_ari, theirs_ari)
    assert ours.centroids.shape == (10, 64)
    assert any("shrinking 40 centers into 10" in line for line in lines)


def test_well_separated_blobs_are_found_with_either_init_method(tmp_path: Path) -> None:
    x, which = blobs()
    for init in ("random", "kmeans++"):
        model, _ = train(tmp_path / init, {"feature_dim": "2", "k": "4", "init_method": init}, x)
        found = model.predict(x)["closest_cluster"]
        assert adjusted_rand_score(which, found) == pytest.approx(1.0)


def test_train_msd_is_the_training_points_msd_to_their_centroids(tmp_path: Path) -> None:
    x, _ = blobs(600)
    model, lines = train(tmp_path, {"feature_dim": "2", "k": "4", "mini_batch_size": "100"}, x)
    logged = [float(m.group(1)) for ln in lines if (m := re.search(r"train msd <loss>=(\S+)", ln))]
    final = [ln for ln in lines if ln.startswith("#quality_metric: host=algo-1, train msd")]
    assert len(final) == 1
    actual = float(np.mean(model.predict(x)["distance_to_cluster"] ** 2))
    # An upper bound (points are charged to the centroid of the centre that absorbed them).
    assert actual <= logged[-1] <= actual * 1.2


def test_test_channel_reports_msd_and_ssd_as_sagemaker_logs_them(tmp_path: Path) -> None:
    x, _ = blobs(300)
    test, _ = blobs(50, seed=1)
    params = {"feature_dim": "2", "k": "4", "eval_metrics": '["msd", "ssd"]'}
    model, lines = train(tmp_path, params, x, test=test)
    squared = model.predict(test)["distance_to_cluster"].astype(np.float64) ** 2
    msd = re.search(r"#quality_metric: host=algo-1, test msd <loss>=(\S+)", "\n".join(lines))
    ssd = re.search(r"#quality_metric: host=algo-1, test ssd <loss>=(\S+)", "\n".join(lines))
    assert msd and float(msd.group(1)) == pytest.approx(squared.mean(), rel=1e-4)
    assert ssd and float(ssd.group(1)) == pytest.approx(squared.sum(), rel=1e-4)
    assert any(line.startswith("#test_score (algo-1) : ('msd', ") for line in lines)
    assert any(
        re.search(r"#progress_metric: host=algo-1, completed 100 % of epochs", ln) for ln in lines
    )
    assert any(re.search(r"train throughput=\S+ records/second", ln) for ln in lines)


def test_only_the_requested_eval_metric_is_scored(tmp_path: Path) -> None:
    x, _ = blobs(200)
    _, lines = train(tmp_path, {"feature_dim": "2", "k": "4", "eval_metrics": '["ssd"]'}, x, x)
    text = "\n".join(lines)
    assert "test ssd <loss>=" in text and "test msd <loss>=" not in text


def test_sparse_and_csv_training_data_give_the_same_clusters(tmp_path: Path) -> None:
    x, which = blobs(200)
    params = {"feature_dim": "2", "k": "4", "force_dense": "False"}
    dense, _ = train(tmp_path / "dense", params, x)
    sparse, _ = train(tmp_path / "sparse", params, sp.csr_matrix(x))
    csv, _ = train(tmp_path / "csv", params, x, content_type="text/csv")
    for model in (dense, sparse, csv):
        assert adjusted_rand_score(which, model.predict(x)["closest_cluster"]) == 1.0
    np.testing.assert_allclose(dense.centroids, sparse.centroids, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------- the core


def test_nearest_matches_brute_force_distances() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5000, 7)).astype(np.float32)
    centers = rng.standard_normal((13, 7)).astype(np.float32)
    labels, d2 = nearest(x, centers)
    brute = ((x[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, brute.argmin(1))
    np.testing.assert_allclose(d2, brute.min(1), rtol=1e-4, atol=1e-4)


def test_lloyd_iteration_moves_centres_to_cluster_means() -> None:
    x = np.array([[0, 0], [0, 2], [10, 0], [10, 2]], dtype=np.float32)
    moved, loss = lloyd_iteration(x, np.array([[1, 1], [9, 1]], dtype=np.float32))
    np.testing.assert_allclose(moved, [[0, 1], [10, 1]])
    assert loss == pytest.approx(4 * 2.0)


def test_minibatch_update_is_a_running_mean_and_half_life_discounts_old_points() -> None:
    state = MiniBatchState(np.array([[0.0]]))
    state.update(np.array([[2.0], [4.0]], dtype=np.float32))
    state.update(np.array([[9.0]], dtype=np.float32))
    assert state.centers[0, 0] == pytest.approx(5.0)  # mean of 2, 4, 9
    decayed = MiniBatchState(np.array([[0.0]]), half_life_time_size=1)
    decayed.update(np.array([[2.0]], dtype=np.float32))
    decayed.update(np.array([[8.0]], dtype=np.float32))
    # The first point weighs 1/2 after one more point: (0.5*2 + 8) / 1.5.
    assert decayed.centers[0, 0] == pytest.approx(6.0)


def test_kmeans_plus_plus_spreads_seeds_and_local_lloyd_respects_weights() -> None:
    x, _ = blobs(400)
    seeds = kmeans_plus_plus(x, 4, np.random.default_rng(0))
    means = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    nearest_blob = [int(np.argmin(((means - s) ** 2).sum(1))) for s in seeds]
    assert sorted(nearest_blob) == [0, 1, 2, 3]  # one seed in each blob
    points = np.array([[0.0], [1.0], [10.0]])
    result = local_lloyd(
        points,
        np.array([1.0, 3.0, 1.0]),
        2,
        init_method="kmeans++",
        max_iter=50,
        tol=0.0,
        trials=3,
        rng=np.random.default_rng(0),
    )
    assert sorted(result.centers.ravel().tolist()) == pytest.approx([0.75, 10.0])


# ------------------------------------------------------------------------------- hyperparameters


def test_hyperparameters_take_sdk_strings_and_auto_values() -> None:
    params = KMeansHyperparameters.parse(
        {
            "feature_dim": "64",
            "k": "10",
            "eval_metrics": '["msd", "ssd"]',
            "force_dense": "True",
            "extra_center_factor": "auto",
            "local_lloyd_num_trials": "auto",
            "_tuning_objective_metric": "test:msd",
            "_kvstore": "local",
        }
    )
    assert params.eval_metrics == ("msd", "ssd") and params.force_dense is True
    assert params.center_factor == 4 and params.trials(40) == 10
    explicit = KMeansHyperparameters.parse(
        {"feature_dim": "2", "k": "3", "extra_center_factor": "7", "local_lloyd_num_trials": "2"}
    )
    assert explicit.center_factor == 7 and explicit.trials(21) == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"feature_dim": "2", "k": "3", "mini_batch_siz": "10"},
            "('mini_batch_siz' was unexpected)",
        ),
        ({"feature_dim": "2"}, "'k' is a required property"),
        ({"feature_dim": "abc", "k": "3"}, "'abc' is not valid under any of the given schemas"),
        ({"feature_dim": "2", "k": "3", "init_method": "forgy"}, "'forgy' is not one of"),
        ({"feature_dim": "2", "k": "3", "eval_metrics": '["rmse"]'}, "eval_metrics"),
        ({"feature_dim": "2", "k": "3", "extra_center_factor": "0"}, "extra_center_factor"),
        ({"feature_dim": "2", "k": "3", "local_lloyd_tol": "2"}, "local_lloyd_tol"),
    ],
)
def test_bad_hyperparameters_fail_as_the_container_words_them(raw, expected) -> None:
    with pytest.raises(HyperparameterError) as caught:
        KMeansHyperparameters.parse(raw)
    assert expected in caught.value.reason
    assert caught.value.failure_reason.startswith(
        "ClientError: Unable to initialize the algorithm. Failed to validate input hyperparameters."
    )


def test_feature_dim_mismatch_fails_with_sagemakers_reason(tmp_path: Path) -> None:
    x, _ = blobs(50)
    with pytest.raises(
        DataError, match="cannot copy sequence with size 2 to array axis with dimension 3"
    ):
        train(tmp_path / "pb", {"feature_dim": "3", "k": "2"}, x)
    with pytest.raises(DataError, match=r"does not match feature_dim=3"):
        train(tmp_path / "csv", {"feature_dim": "3", "k": "2"}, x, content_type="text/csv")


def test_fewer_records_than_k_fails_readably(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="k=5 clusters need at least 5"):
        train(tmp_path, {"feature_dim": "2", "k": "5"}, np.ones((3, 2), dtype=np.float32))


# ------------------------------------------------------------------------------- inference


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[KMeansModel, np.ndarray]:
    x, _ = blobs(200)
    model, _ = train(tmp_path_factory.mktemp("kmeans"), {"feature_dim": "2", "k": "4"}, x)
    return model, x[:5]


def _request(rows: np.ndarray, content_type: str) -> bytes:
    if content_type == "text/csv":
        return "\n".join(",".join(repr(float(v)) for v in r) for r in rows).encode()
    if content_type == "application/json":
        return json.dumps({"instances": [{"features": r.tolist()} for r in rows]}).encode()
    if content_type == "application/jsonlines":
        return "\n".join(
            json.dumps({"data": {"features": {"values": r.tolist()}}}) for r in rows
        ).encode()
    out = io.BytesIO()
    rp.write_dense(out, rows.astype(np.float64))  # the SDK keeps float64 as Float64Tensor
    return out.getvalue()


@pytest.mark.parametrize(
    "content_type", ["text/csv", "application/json", "application/jsonlines", PROTOBUF]
)
def test_every_content_type_answers_in_every_response_shape(fitted, content_type: str) -> None:
    model, rows = fitted
    expected = model.predict(rows)
    clusters = expected["closest_cluster"].tolist()
    distances = expected["distance_to_cluster"]
    body = _request(rows, content_type)
    payload, kind = invoke(model, KMeans, body, content_type, "application/json")
    assert kind == "application/json"
    predictions = json.loads(payload)["predictions"]
    assert [p["closest_cluster"] for p in predictions] == clusters
    assert all(isinstance(p["closest_cluster"], float) for p in predictions)  # 1.0, not 1
    np.testing.assert_allclose(
        [p["distance_to_cluster"] for p in predictions], distances, rtol=1e-6
    )
    lines, _ = invoke(model, KMeans, body, content_type, "application/jsonlines")
    assert [json.loads(ln) for ln in lines.decode().splitlines()] == predictions
    csv, _ = invoke(model, KMeans, body, content_type, "text/csv")
    first = csv.decode().splitlines()[0].split(",")
    assert float(first[0]) == clusters[0] and first[0].endswith(".0")
    assert float(first[1]) == pytest.approx(float(distances[0]), rel=1e-6)
    records, _ = invoke(model, KMeans, body, content_type, PROTOBUF)
    decoded = rp.read_records(records)
    assert [r.label["closest_cluster"].values[0] for r in decoded] == clusters


def test_distance_to_cluster_is_euclidean(fitted) -> None:
    model, rows = fitted
    out = model.predict(rows)
    centres = model.centroids[out["closest_cluster"].astype(int)]
    np.testing.assert_allclose(
        out["distance_to_cluster"], np.linalg.norm(rows - centres, axis=1), rtol=1e-5
    )


def test_request_with_the_wrong_feature_count_is_a_400(fitted) -> None:
    model, _ = fitted
    with pytest.raises(InferenceError) as caught:
        invoke(model, KMeans, b"1,2,3\n", "text/csv", "application/json")
    assert caught.value.status == 400 and "feature" in caught.value.message


# ------------------------------------------------------------------------------- the artifact


def test_model_is_an_mxnet_ndarray_list_of_float32_centroids(fitted, tmp_path: Path) -> None:
    model, rows = fitted
    model.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["model_algo-1"]
    arrays = mxnet_ndarray.load(tmp_path / "model_algo-1")
    assert isinstance(arrays, list) and len(arrays) == 1
    assert arrays[0].dtype == np.float32 and arrays[0].shape == (4, 2)
    loaded = KMeansModel.load(tmp_path)
    for key, values in model.predict(rows).items():
        np.testing.assert_array_equal(loaded.predict(rows)[key], values)


def test_a_user_built_ndarray_model_is_hostable(tmp_path: Path) -> None:
    # What AWS's "bring your own k-means model" notebook does: mx.ndarray.save of [centroids],
    # here in float64 (the loader converts).
    centroids = np.array([[0.0, 0.0], [5.0, 5.0]])
    mxnet_ndarray.save(tmp_path / "model_algo-1", [centroids])
    model = KMeansModel.load(tmp_path)
    payload, _ = invoke(model, KMeans, b"4,4\n0,1\n", "text/csv", "application/json")
    assert json.loads(payload)["predictions"] == [
        {"closest_cluster": 1.0, "distance_to_cluster": pytest.approx(2**0.5, rel=1e-6)},
        {"closest_cluster": 0.0, "distance_to_cluster": 1.0},
    ]
