"""XGBoost's metrics: the image's MetricDefinitions, the per-round log lines, scikit-learn metrics.

The container (specs/algorithms.md §4 Metrics) defines, for every metric m it knows, a tunable
`validation:<m>` with the regex `.*\\[[0-9]+\\].*#011validation-<m>:(\\S+)`, and SageMaker attaches
`train:<m>` definitions for rmse, mae, logloss, error, merror, mlogloss, auc, ndcg and map with a
numeric capture. Those regexes read the lines XGBoost prints after each round,
`[12]\\ttrain-rmse:1.234\\tvalidation-rmse:1.456`, as CloudWatch renders them (a TAB becomes
`#011`), so that is the form we write.

Values are printed with Python's shortest round-trip repr rather than XGBoost's 5-decimal
`EvaluationMonitor` format: the regexes match either way, and the metric SageMaker extracts
(`FinalMetricDataList`, the tuning objective) is then exactly XGBoost's value.

Metrics XGBoost does not have (accuracy, f1, r2, ...) are computed by the container with
scikit-learn from the round's predictions, and appear after XGBoost's own on the line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xgboost

from tule.algorithms.base import Direction, MetricDefinition, Reporter
from tule.algorithms.xgboost_hyperparameters import (
    MAXIMIZE_METRICS,
    MINIMIZE_METRICS,
    SKLEARN_METRICS,
)

TAB = "#011"  # CloudWatch's rendering of a TAB, which the image's regexes expect
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_TRAIN_DEFINED = ("rmse", "mae", "logloss", "error", "merror", "mlogloss", "auc", "ndcg", "map")


def metric_definitions() -> tuple[MetricDefinition, ...]:
    """The definitions SageMaker attaches to the sagemaker-xgboost image."""
    definitions: list[MetricDefinition] = []
    for names, direction in (
        (MAXIMIZE_METRICS, Direction.MAXIMIZE),
        (MINIMIZE_METRICS, Direction.MINIMIZE),
    ):
        for name in names:
            definitions.append(
                MetricDefinition(
                    f"validation:{name}", rf".*\[[0-9]+\].*#011validation-{name}:(\S+)", direction
                )
            )
    for name in _TRAIN_DEFINED:
        definitions.append(
            MetricDefinition(f"train:{name}", rf".*\[[0-9]+\].*#011train-{name}:{_NUMBER}.*")
        )
    return tuple(definitions)


# The metric XGBoost evaluates when eval_metric is not given (rank objectives default to
# `ndcg@32`/`map@32`, which the image's `validation:ndcg`/`map` regexes do not match).
_DEFAULT_METRICS = {
    "binary:logistic": "logloss",
    "binary:logitraw": "logloss",
    "binary:hinge": "error",
    "count:poisson": "poisson-nloglik",
    "multi:softmax": "mlogloss",
    "multi:softprob": "mlogloss",
    "rank:pairwise": "ndcg@32",
    "rank:ndcg": "ndcg@32",
    "rank:map": "map@32",
    "reg:gamma": "gamma-deviance",
    "reg:pseudohubererror": "mphe",
    "reg:squaredlogerror": "rmsle",
    "reg:absoluteerror": "mae",
    "reg:tweedie": "tweedie-nloglik@1.5",
    "survival:aft": "aft-nloglik",
    "survival:cox": "cox-nloglik",
}


def default_metric(objective: str) -> str:
    """What XGBoost reports for an objective when no eval_metric is given."""
    return _DEFAULT_METRICS.get(objective, "rmse")


def format_value(value: float) -> str:
    return repr(float(value))


def format_round(iteration: int, scores: Mapping[str, Mapping[str, float]]) -> str:
    """`[12]#011train-rmse:1.2#011validation-rmse:1.4`: data sets in watchlist order, each
    with XGBoost's metrics in eval_metric order, then the scikit-learn ones."""
    parts = [f"[{iteration}]"]
    for data, metrics in scores.items():
        for metric, value in metrics.items():
            parts.append(f"{data}-{metric}:{format_value(value)}")
    return TAB.join(parts)


def round_scores(
    evals_log: Mapping[str, Mapping[str, Sequence[Any]]], index: int
) -> dict[str, dict[str, float]]:
    """The scores of one round out of XGBoost's evaluation history."""
    return {
        data: {metric: float(values[index]) for metric, values in metrics.items()}
        for data, metrics in evals_log.items()
    }


class RoundLogger(xgboost.callback.TrainingCallback):
    """Writes each round's scores to the reporter, the way the container's log shows them.

    Registered before EarlyStopping: XGBoost stops calling callbacks once one asks to stop, and
    the round that triggers the stop must still be logged."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self.reporter = reporter

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if evals_log:
            self.reporter.log(format_round(epoch, round_scores(evals_log, -1)))
        return False


# ---------------------------------------------------------------------------------------------
# scikit-learn metrics


def predicted_classes(objective: str, predictions: np.ndarray) -> np.ndarray:
    """Class labels from what XGBoost predicts for a classification objective."""
    if objective == "multi:softprob":
        return np.asarray(predictions).reshape(len(predictions), -1).argmax(axis=1)
    if objective == "binary:logitraw":
        return (np.asarray(predictions) > 0).astype(np.int64)
    if objective in ("binary:hinge", "multi:softmax"):
        return np.rint(predictions).astype(np.int64)
    # binary:logistic: a probability, positive above 0.5 (XGBoost's `error` uses the same cut).
    return (np.asarray(predictions) > 0.5).astype(np.int64)


# name -> (scorer, average used when the problem is multi-class). Plain `f1`, `precision` and
# `recall` use the binary average for binary objectives; for multi-class the container's choice
# is not documented, and macro (the unweighted mean over classes) is what we use (?).
_CLASS_METRICS: dict[str, tuple[str, str | None]] = {
    "accuracy": ("accuracy", None),
    "balanced_accuracy": ("balanced_accuracy", None),
    "f1": ("f1", "macro"),
    "f1_binary": ("f1", "binary"),
    "f1_macro": ("f1", "macro"),
    "precision": ("precision", "macro"),
    "precision_macro": ("precision", "macro"),
    "precision_micro": ("precision", "micro"),
    "recall": ("recall", "macro"),
    "recall_macro": ("recall", "macro"),
    "recall_micro": ("recall", "micro"),
}


def sklearn_metric(
    name: str,
    objective: str,
    labels: np.ndarray,
    predictions: np.ndarray,
    weights: np.ndarray | None,
) -> float:
    """One of the container's scikit-learn metrics on one data set's predictions."""
    from sklearn import metrics

    if name == "mse":
        return float(metrics.mean_squared_error(labels, predictions, sample_weight=weights))
    if name == "r2":
        return float(metrics.r2_score(labels, predictions, sample_weight=weights))
    scorer, multi_average = _CLASS_METRICS[name]
    classes = predicted_classes(objective, predictions)
    binary = objective.startswith("binary:")
    if name.endswith(("_macro", "_micro")):
        binary = False
    if scorer in ("accuracy", "balanced_accuracy"):
        function = getattr(metrics, f"{scorer}_score")
        return float(function(labels.astype(np.int64), classes, sample_weight=weights))
    average = "binary" if binary else multi_average
    function = getattr(metrics, f"{scorer}_score")
    return float(
        function(
            labels.astype(np.int64),
            classes,
            sample_weight=weights,
            average=average,
            zero_division=0,
        )
    )


def custom_metric(names: Sequence[str], objective: str) -> Callable[..., list[tuple[str, float]]]:
    """XGBoost's `custom_metric` hook computing the scikit-learn metrics, in the given order."""
    wanted = [n for n in names if n in SKLEARN_METRICS]

    def evaluate(predictions: np.ndarray, data: xgboost.DMatrix) -> list[tuple[str, float]]:
        labels = data.get_label()
        weights = data.get_weight()
        w = weights if weights.size else None
        return [(n, sklearn_metric(n, objective, labels, predictions, w)) for n in wanted]

    return evaluate


__all__ = [
    "TAB",
    "RoundLogger",
    "custom_metric",
    "default_metric",
    "format_round",
    "metric_definitions",
    "predicted_classes",
    "round_scores",
    "sklearn_metric",
]
