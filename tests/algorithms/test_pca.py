"""SageMaker PCA in tule: the components equal scikit-learn's, the model is the container's
NDArray dict, and projections come back under "projections" in every response shape."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import subspace_angles
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA as SklearnPCA
from sklearn.decomposition import TruncatedSVD

from tule.algorithms import mxnet_ndarray
from tule.algorithms.base import ChannelData, DataError, HyperparameterError, ListReporter
from tule.algorithms.formats import Dataset
from tule.algorithms.formats import recordio_protobuf as rp
from tule.algorithms.inference import invoke
from tule.algorithms.pca import PCA, PCAHyperparameters, PCAModel
from tule.testing.algorithms import write_dataset

PROTOBUF = "application/x-recordio-protobuf"


def train(
    tmp: Path,
    hyperparameters: Mapping[str, str],
    x,
    content_type: str = PROTOBUF,
    test=None,
) -> tuple[PCAModel, list[str]]:
    channels = {}
    for name, data in (("train", x), ("test", test)):
        if data is not None:
            kind = write_dataset(Dataset(data), tmp / name, (content_type,))
            channels[name] = ChannelData(name, kind, files=[tmp / name])
    reporter = ListReporter()
    base = {"feature_dim": str(x.shape[1]), "mini_batch_size": "100"}
    params = PCA.hyperparameters.parse({**base, **hyperparameters})
    return PCA().train(params, channels, reporter), reporter.lines


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().data.astype(np.float32)


def _captured(x: np.ndarray, components: np.ndarray) -> float:
    centred = x.astype(np.float64) - x.mean(axis=0)
    return float(np.linalg.norm(centred @ components) ** 2)


# ------------------------------------------------------------------------------- quality


def test_regular_mode_subspace_equals_scikit_learn_pca(digits, tmp_path: Path) -> None:
    model, _ = train(tmp_path, {"num_components": "10"}, digits, content_type="text/csv")
    reference = SklearnPCA(n_components=10, svd_solver="full").fit(digits.astype(np.float64))
    assert subspace_angles(model.v, reference.components_.T).max() < 1e-3
    # Ascending order: the last column is the largest component, `s` its singular value.
    np.testing.assert_allclose(model.s[::-1], reference.singular_values_, rtol=1e-4)
    first = np.abs(model.predict(digits)["projection"][:, -1])
    np.testing.assert_allclose(first, np.abs(reference.transform(digits)[:, 0]), atol=1e-2)
    np.testing.assert_allclose(model.mean.ravel(), digits.mean(axis=0), rtol=1e-5, atol=1e-5)


def test_without_subtract_mean_the_subspace_is_the_uncentred_svds(digits, tmp_path: Path) -> None:
    model, _ = train(tmp_path, {"num_components": "8", "subtract_mean": "False"}, digits)
    reference = TruncatedSVD(n_components=8, algorithm="arpack").fit(digits.astype(np.float64))
    assert model.mean is None
    assert subspace_angles(model.v, reference.components_.T).max() < 1e-3
    # And on data centred beforehand it equals PCA, as it should.
    centred = digits - digits.mean(axis=0)
    again, _ = train(tmp_path / "c", {"num_components": "8", "subtract_mean": "false"}, centred)
    pca = SklearnPCA(n_components=8, svd_solver="full").fit(centred.astype(np.float64))
    assert subspace_angles(again.v, pca.components_.T).max() < 1e-3


def test_a_large_mean_does_not_cost_precision(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2000, 5)) * [5, 3, 1, 0.5, 0.1] + 1e4).astype(np.float64)
    model, _ = train(tmp_path, {"num_components": "2"}, x)
    reference = SklearnPCA(n_components=2, svd_solver="full").fit(x)
    assert subspace_angles(model.v, reference.components_.T).max() < 1e-3


def test_randomized_mode_is_close_and_sharpens_with_more_epochs(digits, tmp_path: Path) -> None:
    exact = SklearnPCA(n_components=5, svd_solver="full").fit(digits.astype(np.float64))
    best = _captured(digits, exact.components_.T)
    one, lines = train(
        tmp_path / "1", {"num_components": "5", "algorithm_mode": "randomized"}, digits
    )
    # extra_components=-1 means max(10, num_components): a 15-column sketch.
    assert any("sketching 5 + 10 components" in line for line in lines)
    assert _captured(digits, one.v) >= 0.97 * best
    assert one.s[-1] == pytest.approx(exact.singular_values_[0], rel=0.05)
    two, _ = train(
        tmp_path / "2",
        {
            "num_components": "5",
            "algorithm_mode": "randomized",
            "epochs": "2",
            "extra_components": "20",
        },
        digits,
    )
    assert subspace_angles(two.v, exact.components_.T).max() < 0.05
    assert _captured(digits, two.v) >= 0.999 * best


def test_sparse_input_gives_the_dense_answer(digits, tmp_path: Path) -> None:
    dense, _ = train(tmp_path / "d", {"num_components": "4"}, digits)
    for mode in ("regular", "randomized"):
        params = {"num_components": "4", "force_dense": "false", "algorithm_mode": mode}
        sparse, _ = train(tmp_path / mode, params, sp.csr_matrix(digits))
        if mode == "regular":
            assert subspace_angles(sparse.v, dense.v).max() < 1e-4
        rows = sp.csr_matrix(digits[:5])
        assert sparse.predict(rows)["projection"].shape == (5, 4)


def test_test_channel_and_progress_are_logged(digits, tmp_path: Path) -> None:
    _, lines = train(tmp_path, {"num_components": "3"}, digits[:1500], test=digits[1500:])
    assert "#progress_metric: host=algo-1, completed 100 % of epochs" in lines
    assert any(
        line.startswith("#throughput_metric: host=algo-1, train throughput=") for line in lines
    )
    assert any("reconstruction error on the test channel" in line for line in lines)


# ------------------------------------------------------------------------------- errors


def test_bad_hyperparameters_fail_as_the_container_words_them() -> None:
    with pytest.raises(HyperparameterError, match="'num_components' is a required property"):
        PCAHyperparameters.parse({"feature_dim": "4", "mini_batch_size": "10"})
    with pytest.raises(HyperparameterError, match="'svd' is not one of"):
        PCAHyperparameters.parse(
            {
                "feature_dim": "4",
                "mini_batch_size": "10",
                "num_components": "2",
                "algorithm_mode": "svd",
            }
        )
    with pytest.raises(HyperparameterError, match="extra_components"):
        PCAHyperparameters.parse(
            {
                "feature_dim": "4",
                "mini_batch_size": "10",
                "num_components": "2",
                "extra_components": "-2",
            }
        )
    with pytest.raises(HyperparameterError, match="must not be greater than feature_dim"):
        PCAHyperparameters.parse(
            {"feature_dim": "4", "mini_batch_size": "10", "num_components": "5"}
        )


def test_feature_dim_mismatch_fails_with_sagemakers_reason(tmp_path: Path) -> None:
    x = np.ones((20, 3), dtype=np.float32)
    kind = write_dataset(Dataset(x), tmp_path / "train", (PROTOBUF,))
    params = PCAHyperparameters.parse(
        {"feature_dim": "4", "mini_batch_size": "10", "num_components": "2"}
    )
    with pytest.raises(
        DataError, match="cannot copy sequence with size 3 to array axis with dimension 4"
    ):
        PCA().train(
            params,
            {"train": ChannelData("train", kind, files=[tmp_path / "train"])},
            ListReporter(),
        )


# ------------------------------------------------------------------------- model and inference


@pytest.fixture(scope="module")
def fitted(digits, tmp_path_factory) -> PCAModel:
    model, _ = train(tmp_path_factory.mktemp("pca"), {"num_components": "3"}, digits)
    return model


def test_model_is_the_containers_ndarray_dict(fitted, digits, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    arrays = mxnet_ndarray.load(tmp_path / "model_algo-1")
    assert isinstance(arrays, dict) and sorted(arrays) == ["mean", "s", "v"]
    assert arrays["v"].shape == (64, 3) and arrays["s"].shape == (3,)
    assert arrays["mean"].shape == (1, 64)
    assert np.all(np.diff(arrays["s"]) > 0)  # ascending singular values
    loaded = PCAModel.load(tmp_path)
    np.testing.assert_array_equal(
        loaded.predict(digits)["projection"], fitted.predict(digits)["projection"]
    )


def _request(rows: np.ndarray, content_type: str) -> bytes:
    if content_type == "text/csv":
        return "\n".join(",".join(repr(float(v)) for v in r) for r in rows).encode()
    if content_type == "application/json":
        return json.dumps({"instances": [{"features": r.tolist()} for r in rows]}).encode()
    if content_type == "application/jsonlines":
        return "\n".join(json.dumps({"features": r.tolist()}) for r in rows).encode()
    out = io.BytesIO()
    rp.write_dense(out, rows)
    return out.getvalue()


@pytest.mark.parametrize(
    "content_type", ["text/csv", "application/json", "application/jsonlines", PROTOBUF]
)
def test_every_content_type_answers_projections(fitted, digits, content_type: str) -> None:
    rows = digits[:4]
    expected = fitted.predict(rows)["projection"]
    body = _request(rows, content_type)
    payload, _ = invoke(fitted, PCA, body, content_type, "application/json")
    projections = json.loads(payload)["projections"]
    assert list(projections[0]) == ["projection"]
    np.testing.assert_allclose(
        [p["projection"] for p in projections], expected, rtol=1e-5, atol=1e-4
    )
    lines, _ = invoke(fitted, PCA, body, content_type, "application/jsonlines")
    assert [json.loads(ln) for ln in lines.decode().splitlines()] == projections
    records, _ = invoke(fitted, PCA, body, content_type, PROTOBUF)
    decoded = [r.label["projection"].values for r in rp.read_records(records)]
    np.testing.assert_allclose(decoded, expected, rtol=1e-5, atol=1e-4)
    csv, _ = invoke(fitted, PCA, body, content_type, "text/csv")
    assert len(csv.decode().splitlines()[0].split(",")) == 3
