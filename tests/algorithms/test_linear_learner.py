"""SageMaker's Linear Learner in tule: it learns as well as the libraries it stands in for.

Quality on scikit-learn's bundled data sets (digits "is it a 0", diabetes regression, wine
multiclass), and the behaviours SageMaker documents: class balancing raises macro recall,
the parallel models are selected on the validation channel, early stopping stops, the
precision/recall selection criteria meet their targets, and a saved model predicts the same.
Channels are real files (CSV and RecordIO-protobuf) read through the shared formats layer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_wine
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split

from tule.algorithms.base import ChannelData, ListReporter, Resources
from tule.algorithms.formats import Dataset
from tule.algorithms.formats import csv as csv_format
from tule.algorithms.linear_learner import LinearLearner
from tule.algorithms.linear_learner_model import LinearLearnerModel
from tule.testing.algorithms import write_dataset

Arrays = tuple[np.ndarray, np.ndarray]


def train(
    tmp: Path,
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, Arrays],
    *,
    csv: bool = False,
) -> tuple[LinearLearnerModel, list[str]]:
    """Write each channel as a file (CSV or RecordIO-protobuf) and train on them."""
    data = {}
    for name, (x, y) in channels.items():
        folder = tmp / name
        if csv:
            folder.mkdir(parents=True)
            with open(folder / "part-0.csv", "wb") as out:
                csv_format.write_training(out, x, y)
            content_type = "text/csv"
        else:
            content_type = write_dataset(
                Dataset(np.asarray(x, np.float32), np.asarray(y, np.float32)),
                folder,
                ("application/x-recordio-protobuf",),
            )
        data[name] = ChannelData(name, content_type, files=[folder])
    reporter = ListReporter()
    params = LinearLearner.hyperparameters.parse(dict(hyperparameters))
    model = LinearLearner().train(params, data, reporter, Resources(num_cpus=1))
    return model, reporter.lines


def logged(lines: list[str], channel: str, name: str) -> float:
    """The last final (no epoch) `#quality_metric` value of `name` on `channel`."""
    pattern = re.compile(rf"#quality_metric: host=algo-1, {channel} {re.escape(name)} <\w+>=(\S+)")
    values = [float(m.group(1)) for line in lines if (m := pattern.search(line))]
    assert values, f"no final {channel} {name} line"
    return values[-1]


def per_model(lines: list[str], metric: str) -> dict[int, dict[int, float]]:
    """`{epoch: {model: value}}` from the `#metrics` records."""
    out: dict[int, dict[int, float]] = {}
    for line in lines:
        if line.startswith("#metrics ") and metric in line:
            record = json.loads(line[len("#metrics ") :])
            dims = record["Dimensions"]
            out.setdefault(dims["epoch"], {})[dims["model"]] = record["Metrics"][metric]["sum"]
    return out


def macro_recall(predicted: np.ndarray, actual: np.ndarray) -> float:
    classes = np.unique(actual)
    return float(np.mean([np.mean(predicted[actual == c] == c) for c in classes]))


# ------------------------------------------------------------------------- quality


def test_binary_is_it_a_zero_on_digits_reaches_97_percent(tmp_path: Path) -> None:
    x, digit = load_digits(return_X_y=True)
    y = (digit == 0).astype(float)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    model, lines = train(
        tmp_path,
        {"predictor_type": "binary_classifier", "feature_dim": "64", "mini_batch_size": "100"},
        {"train": (x_train, y_train), "test": (x_test, y_test)},
        csv=True,
    )
    predicted = model.predict(x_test)
    accuracy = float(np.mean(predicted["predicted_label"] == y_test))
    assert accuracy >= 0.97
    # The test channel's logged accuracy is the held-out accuracy of the saved model.
    assert logged(lines, "test", "binary_classification_accuracy") == pytest.approx(accuracy)
    # Logistic loss: the score is P(label = 1).
    assert np.all((predicted["score"] >= 0) & (predicted["score"] <= 1))


def test_regression_on_diabetes_is_within_5_percent_of_ridge(tmp_path: Path) -> None:
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    # A fair Ridge: its alpha is chosen by Ridge's own leave-one-out cross-validation on the
    # training split over 1e-3 ... 1e3, so Ridge competes at its best setting.
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 61)).fit(x_train, y_train)
    ridge_mse = float(np.mean((ridge.predict(x_test) - y_test) ** 2))
    model, lines = train(
        tmp_path,
        {"predictor_type": "regressor", "mini_batch_size": "32", "epochs": "30"},
        {"train": (x_train, y_train), "test": (x_test, y_test)},
    )
    mse = float(np.mean((model.predict(x_test)["score"] - y_test) ** 2))
    assert mse <= 1.05 * ridge_mse, (mse, ridge_mse, ridge.alpha_)
    assert logged(lines, "test", "mse") == pytest.approx(mse, rel=1e-4)
    assert "predicted_label" not in model.predict(x_test[:2])


def test_multiclass_on_wine_reaches_95_percent(tmp_path: Path) -> None:
    x, y = load_wine(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    model, _ = train(
        tmp_path,
        {"predictor_type": "multiclass_classifier", "num_classes": "3", "mini_batch_size": "16"},
        {"train": (x_train, y_train)},
    )
    predicted = model.predict(x_test)
    assert float(np.mean(predicted["predicted_label"] == y_test)) >= 0.95
    assert predicted["score"].shape == (len(y_test), 3)
    np.testing.assert_allclose(predicted["score"].sum(axis=1), 1.0, rtol=1e-5)


def _imbalanced(seed: int, rows: int) -> Arrays:
    """Three overlapping Gaussian classes in proportions 85 / 10 / 5 %."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=rows, p=[0.85, 0.10, 0.05])
    centres = np.array([[0.0, 0.0], [1.3, 0.4], [0.4, 1.3]])
    return centres[y] + rng.standard_normal((rows, 2)), y.astype(float)


def test_balance_multiclass_weights_raises_macro_recall(tmp_path: Path) -> None:
    train_set, (x_test, y_test) = _imbalanced(1, 3000), _imbalanced(2, 3000)
    recalls = {}
    for balance in ("false", "true"):
        model, _ = train(
            tmp_path / balance,
            {
                "predictor_type": "multiclass_classifier",
                "num_classes": "3",
                "mini_batch_size": "100",
                "balance_multiclass_weights": balance,
            },
            {"train": train_set},
        )
        recalls[balance] = macro_recall(model.predict(x_test)["predicted_label"], y_test)
    assert recalls["true"] > recalls["false"] + 0.05, recalls


# ------------------------------------------------------------------------- behaviours


def _noisy_binary(seed: int, rows: int, positive_shift: float = 0.0) -> Arrays:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 8))
    logit = x @ np.linspace(-1.0, 1.0, 8) + positive_shift + rng.logistic(size=rows)
    return x, (logit > 0).astype(float)


def test_parallel_models_are_selected_on_the_validation_channel(tmp_path: Path) -> None:
    model, lines = train(
        tmp_path,
        {
            "predictor_type": "binary_classifier",
            "num_models": "8",
            "binary_classifier_model_selection_criteria": "loss_function",
            "mini_batch_size": "200",
            "epochs": "4",
            "early_stopping_patience": "10",
        },
        {"train": _noisy_binary(3, 2000), "validation": _noisy_binary(4, 600)},
    )
    validation = per_model(lines, "validation_binary_classification_cross_entropy_objective")
    assert len(validation) == 4 and all(len(v) == 8 for v in validation.values())
    # The best epoch is the last one whose minimum validation loss improved.
    improved = [
        int(m.group(1)) for line in lines if (m := re.match(r"Epoch (\d+): Loss improved", line))
    ]
    losses = validation[improved[-1]]
    chosen = model.info["selected_model"]
    assert losses[chosen] == min(losses.values())
    assert max(losses.values()) > 1.05 * min(losses.values()), "the models did not differ"
    # The model's final validation objective is that model's, and its settings are reported.
    assert logged(lines, "validation", "binary_classification_cross_entropy_objective") == (
        pytest.approx(losses[chosen], rel=1e-5)
    )
    best = next(line for line in lines if line.startswith("Best model found for hyperparameters"))
    assert json.loads(best.split(": ", 1)[1]) == model.info["hyperparameters"]


def test_early_stopping_stops_after_patience_epochs_without_improvement(tmp_path: Path) -> None:
    data = {"train": _noisy_binary(5, 1000), "validation": _noisy_binary(6, 300)}
    base = {"predictor_type": "binary_classifier", "num_models": "4", "mini_batch_size": "100"}
    _, stopped = train(
        tmp_path / "a",
        {
            **base,
            "epochs": "40",
            "early_stopping_patience": "2",
            "early_stopping_tolerance": "0.01",
        },
        data,
    )
    epochs = sum(1 for line in stopped if line.startswith("#progress_metric"))
    assert epochs < 40
    assert any(line.startswith("Early stop condition met") for line in stopped)
    assert any(line.endswith("completed 100 % of epochs") for line in stopped)
    # Patience larger than the epochs disables early stopping (SageMaker's documented switch).
    _, full = train(tmp_path / "b", {**base, "epochs": "6", "early_stopping_patience": "7"}, data)
    assert sum(1 for line in full if line.startswith("#progress_metric")) == 6


@pytest.mark.parametrize(
    ("criterion", "target"),
    [
        ("precision_at_target_recall", "target_recall"),
        ("recall_at_target_precision", "target_precision"),
    ],
)
def test_target_criteria_meet_their_target_on_validation(
    tmp_path: Path, criterion: str, target: str
) -> None:
    # Rare positives and heavy noise: the accuracy-optimal threshold has low recall.
    train_set = _noisy_binary(7, 3000, positive_shift=-2.5)
    x_val, y_val = _noisy_binary(8, 1500, positive_shift=-2.5)
    base = {"predictor_type": "binary_classifier", "num_models": "4", "mini_batch_size": "200"}
    model, _ = train(
        tmp_path,
        {**base, "binary_classifier_model_selection_criteria": criterion, target: "0.9"},
        {"train": train_set, "validation": (x_val, y_val)},
    )
    predicted = model.predict(x_val)["predicted_label"] == 1
    positive = y_val == 1
    recall = float(np.mean(predicted[positive]))
    precision = float(np.mean(positive[predicted])) if predicted.any() else 1.0
    if criterion == "precision_at_target_recall":
        assert recall >= 0.9
        assert precision > float(np.mean(positive))  # better than predicting everything
    else:
        assert precision >= 0.9
        assert recall > 0.0
    by_accuracy, _ = train(
        tmp_path / "accuracy", base, {"train": train_set, "validation": (x_val, y_val)}
    )
    assert by_accuracy.threshold != model.threshold


def test_saved_model_predicts_identically(tmp_path: Path) -> None:
    x, y = load_wine(return_X_y=True)
    for kind, labels, extra in (
        ("multiclass_classifier", y, {"num_classes": "3"}),
        ("regressor", x[:, 0], {}),
        ("binary_classifier", (y == 1).astype(float), {}),
    ):
        model, _ = train(
            tmp_path / kind,
            {"predictor_type": kind, "num_models": "4", "mini_batch_size": "32", **extra},
            {"train": (x, labels)},
        )
        model.save(tmp_path / kind / "model")
        assert (tmp_path / kind / "model" / "model_algo-1").is_file()
        loaded = LinearLearnerModel.load(tmp_path / kind / "model")
        before, after = model.predict(x), loaded.predict(x)
        assert list(before) == list(after)
        for key in before:
            assert np.array_equal(before[key], after[key]), (kind, key)
