"""Linear Learner's parts and its contract with SageMaker callers.

The hand-written loss gradients equal autograd's; the threshold search finds what a brute
force sweep finds; bad hyperparameters and bad data fail with the reasons SageMaker (its JSON
schema, its SDK) gives; inference answers in the response shapes of the SageMaker docs; and
every metric line a run logs is matched by the image's declared regex.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tule.algorithms.base import ChannelData, DataError, HyperparameterError, ListReporter
from tule.algorithms.formats import Dataset, recordio_protobuf
from tule.algorithms.inference import invoke
from tule.algorithms.linear_learner import LinearLearner
from tule.algorithms.linear_learner_losses import (
    BINARY_LOSSES,
    MULTICLASS_LOSSES,
    OBJECTIVE_NAMES,
    REGRESSION_LOSSES,
    LossParams,
    loss_and_grad,
)
from tule.algorithms.linear_learner_metrics import Criterion, search_thresholds
from tule.testing.algorithms import write_dataset

parse = LinearLearner.hyperparameters.parse


def _run(tmp: Path, hyperparameters: dict[str, str], **channels: tuple[np.ndarray, np.ndarray]):
    data = {}
    for name, (x, y) in channels.items():
        content_type = write_dataset(
            Dataset(np.asarray(x, np.float32), np.asarray(y, np.float32)),
            tmp / name,
            ("application/x-recordio-protobuf",),
        )
        data[name] = ChannelData(name, content_type, files=[tmp / name])
    reporter = ListReporter()
    model = LinearLearner().train(parse(hyperparameters), data, reporter)
    return model, reporter.lines


def _blobs(seed: int, rows: int, classes: int, features: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    centres = rng.standard_normal((classes, features)) * 2
    return centres[y] + rng.standard_normal((rows, features)), y.astype(float)


# ------------------------------------------------------------------------- losses


@pytest.mark.parametrize("name", [*BINARY_LOSSES, *REGRESSION_LOSSES, *MULTICLASS_LOSSES])
def test_loss_gradient_equals_autograd(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    outputs = 4 if name == "softmax_loss" else 1
    scores = torch.randn(64, 3, outputs, generator=gen, dtype=torch.float64) * 2
    if name == "softmax_loss":
        labels = torch.randint(0, outputs, (64,), generator=gen).double()
    elif name in BINARY_LOSSES:
        labels = torch.randint(0, 2, (64,), generator=gen).double()
    else:
        labels = torch.randn(64, generator=gen, dtype=torch.float64) * 2
    params = LossParams(margin=0.8, quantile=0.3, loss_insensitivity=0.2, huber_delta=0.7)
    scores.requires_grad_(True)
    loss, grad = loss_and_grad(name, scores, labels, params)
    loss.sum().backward()
    assert loss.shape == (64, 3)
    torch.testing.assert_close(grad, scores.grad)


# ------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    "criterion",
    [
        Criterion("accuracy"),
        Criterion("f_beta", beta=0.5),
        Criterion("precision_at_target_recall", target_recall=0.7),
        Criterion("recall_at_target_precision", target_precision=0.7),
    ],
)
def test_threshold_search_matches_a_brute_force_sweep(criterion: Criterion) -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.3).astype(float)
    scores = np.round(rng.random((300, 2)) + labels[:, None] * 0.4, 2)  # ties included
    values, thresholds = search_thresholds(scores.T, labels, criterion)
    for model in range(2):
        best = -np.inf
        for t in np.concatenate([[-1.0], np.unique(scores[:, model])]):
            predicted = scores[:, model] > t
            tp = np.sum(predicted & (labels == 1))
            precision = tp / predicted.sum() if predicted.any() else 1.0
            recall = tp / labels.sum()
            if criterion.name == "accuracy":
                value = np.mean(predicted == labels)
            elif criterion.name == "f_beta":
                b2 = criterion.beta**2
                value = (1 + b2) * precision * recall / (b2 * precision + recall or 1)
            elif criterion.name == "precision_at_target_recall":
                value = precision if recall >= criterion.target_recall else -1 + recall
            else:
                value = recall if precision >= criterion.target_precision else -1 + precision
            best = max(best, value)
        assert values[model] == pytest.approx(best)
        # The returned threshold reproduces the value.
        predicted = scores[:, model] > thresholds[model]
        if criterion.name == "accuracy":
            assert np.mean(predicted == labels) == pytest.approx(best)


# ------------------------------------------------------------------------- hyperparameters


def test_unknown_hyperparameter_is_rejected_like_the_json_schema() -> None:
    with pytest.raises(HyperparameterError) as err:
        parse({"predictor_type": "regressor", "mini_batch_siz": "10"})
    assert "Additional properties are not allowed ('mini_batch_siz' was unexpected)" in str(
        err.value
    )
    assert err.value.failure_reason.startswith("ClientError: ")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("epochs", "0", "'0' is not valid under any of the given schemas"),
        ("learning_rate", "-0.1", "'-0.1' is not valid under any of the given schemas"),
        ("target_recall", "1.0", "'1.0' is not valid under any of the given schemas"),
        ("positive_example_weight_mult", "heavy", "'heavy' is not valid under any"),
        ("num_classes", "0", "'0' is not valid under any of the given schemas"),
        ("loss", "cubic_loss", "'cubic_loss' is not one of ["),
        ("optimizer", "lbfgs", "'lbfgs' is not one of ['auto', 'sgd', 'adam', 'rmsprop']"),
    ],
)
def test_out_of_range_values_are_rejected(name: str, value: str, message: str) -> None:
    with pytest.raises(HyperparameterError) as err:
        parse({"predictor_type": "binary_classifier", name: value})
    assert message in err.value.reason
    assert f"['{name}']" in err.value.reason


def test_auto_balanced_and_sdk_spellings_are_accepted() -> None:
    params = parse(
        {
            "predictor_type": "binary_classifier",
            "positive_example_weight_mult": "balanced",
            "learning_rate": "auto",
            "normalize_data": "True",
            "use_bias": "false",
            "binary_classifier_model_selection_criteria": "f1",
            "_tuning_objective_metric": "validation:binary_f_beta",
        }
    )
    assert params.positive_example_weight_mult == "balanced"
    assert params.use_bias is False and params.normalize_data is True


def test_missing_predictor_type_is_a_required_property() -> None:
    with pytest.raises(HyperparameterError) as err:
        parse({"feature_dim": "4"})
    assert "'predictor_type' is a required property" in err.value.reason


def test_multiclass_needs_num_classes_above_two() -> None:
    sdk_message = (
        "For predictor_type 'multiclass_classifier', 'num_classes' should be set to a value "
        "greater than 2."
    )
    for extra in ({}, {"num_classes": "2"}):
        with pytest.raises(HyperparameterError) as err:
            parse({"predictor_type": "multiclass_classifier", **extra})
        assert err.value.reason == sdk_message
    assert parse({"predictor_type": "multiclass_classifier", "num_classes": "3"}).num_classes == 3


def test_loss_must_suit_the_predictor_type() -> None:
    with pytest.raises(HyperparameterError) as err:
        parse({"predictor_type": "binary_classifier", "loss": "squared_loss"})
    assert "Loss 'squared_loss' is not supported for predictor_type 'binary_classifier'" in str(
        err.value
    )


def test_missing_feature_dim_is_taken_from_the_data(tmp_path: Path) -> None:
    # Current SageMaker docs: feature_dim is optional (`auto`); the SDK sets it from the data.
    model, _ = _run(tmp_path, {"predictor_type": "regressor"}, train=_blobs(0, 50, 2, 6))
    assert model.feature_dim == 6


# ------------------------------------------------------------------------- bad data


def test_feature_dim_mismatch_is_a_client_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        _run(
            tmp_path,
            {"predictor_type": "binary_classifier", "feature_dim": "5"},
            train=(np.zeros((10, 4)), np.zeros(10)),
        )
    assert "feature_dim=5" in err.value.reason
    assert err.value.failure_reason.startswith("ClientError: ")


def test_validation_channel_must_match_train_width(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Channel 'validation' has 3 features but 'train' has 4"):
        _run(
            tmp_path,
            {"predictor_type": "regressor"},
            train=(np.zeros((10, 4)), np.zeros(10)),
            validation=(np.zeros((10, 3)), np.zeros(10)),
        )


@pytest.mark.parametrize(
    ("kind", "labels", "message"),
    [
        ("binary_classifier", [0, 1, 2], "Label 2 in channel 'train' is invalid: binary"),
        ("multiclass_classifier", [0, 1, 3], "must be integers in [0, 2] (num_classes=3)"),
    ],
)
def test_labels_outside_the_predictor_type_are_rejected(
    tmp_path: Path, kind: str, labels: list[int], message: str
) -> None:
    y = np.array(labels * 4, dtype=float)
    with pytest.raises(DataError) as err:
        _run(tmp_path, {"predictor_type": kind, "num_classes": "3"}, train=(np.ones((12, 2)), y))
    assert message in err.value.reason


# ------------------------------------------------------------------------- inference


def test_responses_have_sagemaker_shapes(tmp_path: Path) -> None:
    algorithm = LinearLearner()
    x2, y2 = _blobs(1, 200, 2)
    x3, y3 = _blobs(2, 200, 3)
    binary, _ = _run(tmp_path / "b", {"predictor_type": "binary_classifier"}, train=(x2, y2))
    multi, _ = _run(
        tmp_path / "m",
        {"predictor_type": "multiclass_classifier", "num_classes": "3"},
        train=(x3, y3),
    )
    regressor, _ = _run(tmp_path / "r", {"predictor_type": "regressor"}, train=(x2, x2[:, 0]))
    csv = b"0.1,0.2,0.3,0.4\n1,2,3,4\n"

    body, kind = invoke(binary, algorithm, csv, "text/csv", "application/json")
    rows = json.loads(body)["predictions"]
    assert kind == "application/json" and len(rows) == 2
    assert list(rows[0]) == ["score", "predicted_label"]
    assert isinstance(rows[0]["predicted_label"], int) and 0 <= rows[0]["score"] <= 1

    body, _ = invoke(multi, algorithm, csv, "text/csv", "application/jsonlines")
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert len(lines[0]["score"]) == 3 and lines[0]["predicted_label"] in (0, 1, 2)
    assert lines[0]["predicted_label"] == int(np.argmax(lines[0]["score"]))

    request = json.dumps({"instances": [{"features": [1, 2, 3, 4]}]}).encode()
    body, _ = invoke(regressor, algorithm, request, "application/json", None)
    assert list(json.loads(body)["predictions"][0]) == ["score"]

    body, kind = invoke(binary, algorithm, csv, "text/csv", "application/x-recordio-protobuf")
    records = recordio_protobuf.read_records(body)
    assert len(records) == 2 and set(records[0].label) == {"score", "predicted_label"}
    assert records[0].label["predicted_label"].values.dtype == np.float32


# ------------------------------------------------------------------------- metric lines


@pytest.mark.parametrize(
    ("kind", "extra", "classes"),
    [("regressor", {}, 0), ("multiclass_classifier", {"num_classes": "3"}, 3)],
)
def test_every_logged_metric_matches_its_declared_regex(
    tmp_path: Path, kind: str, extra: dict[str, str], classes: int
) -> None:
    x, y = _blobs(3, 300, max(classes, 2))
    if kind == "regressor":
        y = x[:, 0] * 3 + 1
    strings = {"predictor_type": kind, "epochs": "3", **extra}
    _, lines = _run(tmp_path, strings, train=(x, y), validation=(x, y), test=(x, y))
    expected = LinearLearner.emitted_metrics(strings, ["train", "validation", "test"])
    assert "test:mse" in expected or "test:macro_recall" in expected
    for metric in LinearLearner.metrics:
        if metric.name not in expected:
            continue
        found = [m for line in lines if (m := re.search(metric.regex, line))]
        assert found, f"{metric.name} matched nothing"
        float(found[-1].group(1))


# ------------------------------------------------------------------------- inputs and modes


def test_sparse_recordio_trains_and_predicts_like_its_dense_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    dense = rng.standard_normal((400, 30)) * (rng.random((400, 30)) < 0.2)
    y = (dense @ np.linspace(-1, 1, 30) > 0).astype(np.float32)
    folder = tmp_path / "train"
    write_dataset(
        Dataset(sp.csr_matrix(dense, dtype=np.float32), y),
        folder,
        ("application/x-recordio-protobuf",),
    )
    channel = ChannelData("train", "application/x-recordio-protobuf", files=[folder])
    params = parse({"predictor_type": "binary_classifier", "feature_dim": "30"})
    model = LinearLearner().train(params, {"train": channel}, ListReporter())
    from_sparse = model.predict(sp.csr_matrix(dense))
    from_dense = model.predict(dense)
    np.testing.assert_allclose(from_sparse["score"], from_dense["score"], rtol=1e-5)
    assert np.mean(from_dense["predicted_label"] == y) >= 0.9


def test_a_tuning_job_trains_one_model(tmp_path: Path) -> None:
    strings = {
        "predictor_type": "regressor",
        "num_models": "6",
        "_tuning_objective_metric": "validation:mse",
    }
    x, _ = _blobs(5, 100, 2)
    _, lines = _run(tmp_path, strings, train=(x, x[:, 1]))
    models = {json.loads(line[9:])["Dimensions"]["model"] for line in lines if "#metrics" in line}
    assert models == {0}


# ------------------------------------------------------------------------- every option trains


def _linear_problem(seed: int, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 5)) * [1, 2, 3, 4, 5] + [5, 0, -5, 10, 0]
    return x, x @ np.array([1.0, -0.5, 0.25, 0.1, 0.0]) + 3 + 0.1 * rng.standard_normal(rows)


@pytest.mark.parametrize(
    "loss",
    [
        "squared_loss",
        "absolute_loss",
        "eps_insensitive_squared_loss",
        "eps_insensitive_absolute_loss",
        "quantile_loss",
        "huber_loss",
    ],
)
def test_every_regression_loss_fits_a_linear_function(tmp_path: Path, loss: str) -> None:
    x, y = _linear_problem(6)
    strings = {"predictor_type": "regressor", "loss": loss, "num_models": "4"}
    model, lines = _run(
        tmp_path, {**strings, "mini_batch_size": "50", "epochs": "20"}, train=(x, y)
    )
    residual = model.predict(x)["score"] - y
    assert 1 - residual.var() / y.var() > 0.95, loss
    objective = OBJECTIVE_NAMES[loss]
    assert any(f"epoch=0, train {objective} <loss>=" in line for line in lines)


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "sgd"},
        {"optimizer": "rmsprop"},
        {"optimizer": "adam", "loss": "hinge_loss"},
        {"use_bias": "false", "normalize_data": "false"},
        {"init_method": "normal", "l1": "0.001", "wd": "0.0001", "learning_rate": "0.05"},
        {"positive_example_weight_mult": "auto", "use_lr_scheduler": "false"},
        {"binary_classifier_model_selection_criteria": "cross_entropy_loss"},
        {"binary_classifier_model_selection_criteria": "f_beta", "f_beta": "2"},
        {"bias_lr_mult": "2", "bias_wd_mult": "0.5", "momentum": "0.5", "optimizer": "sgd"},
    ],
)
def test_every_option_trains_a_binary_classifier(tmp_path: Path, options: dict[str, str]) -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((600, 4)) * 2 + 1
    y = ((x - 1) @ np.array([1.0, -1.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(600) > 0).astype(
        float
    )
    strings = {"predictor_type": "binary_classifier", "num_models": "4", "mini_batch_size": "50"}
    model, _ = _run(tmp_path, {**strings, **options}, train=(x, y), validation=(x, y))
    assert np.mean(model.predict(x)["predicted_label"] == y) > 0.9, options
