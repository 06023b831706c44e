"""The training set's per-round metrics, computed from the margins XGBoost already holds.

The container puts `train` first in its watchlist, so after every round XGBoost evaluates the
training metric over every training row: it copies the predictions, applies the objective's
transform and reduces the metric, one `expf` and two `logf` a row for logloss. On 1M rows that
is 11-13 ms a round on two threads (measured), 12-15 % of a 100-round job's time.

The booster keeps each training row's margin in its prediction cache, updated by the round just
trained, so `predict(output_margin=True)` hands it over in 0.4 ms; numpy's vectorised loops then
compute the common metrics in 1-3 ms on one thread. Where that applies, the training set leaves
XGBoost's watchlist and this callback writes its scores into the evaluation history instead, in
the watchlist's place (first), for the round logger and `evals_result` alike.

Values: rmse, mae and error are computed in float32 row by row as XGBoost computes them and
summed in double, so they equal XGBoost's up to the order of that sum (about 1e-15 relative).
logloss is computed in a numerically stable form from the margin and agrees with XGBoost's to
about 1e-8 relative (XGBoost rounds its sigmoid and logs to float32; copying that exactly costs
more than XGBoost's own evaluation). Validation metrics, early stopping and tuning objectives
stay XGBoost's own.

It is used only where the shortcut is plainly equivalent: one host (a multi-host metric is
reduced across hosts by XGBoost), the gbtree booster (dart's training predictions drop trees),
an objective whose evaluated prediction is its margin or the margin's sigmoid, one label column,
only the metrics below, no scikit-learn metrics, and at least `MIN_ROWS` rows (below that
XGBoost's own evaluation takes well under a millisecond).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xgboost

MIN_ROWS = 50_000

# objective -> whether the prediction XGBoost evaluates is the margin's sigmoid (else the margin).
_OBJECTIVES = {
    "reg:squarederror": False,
    "reg:absoluteerror": False,
    "reg:logistic": True,
    "binary:logistic": True,
}
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)


class _Scratch:
    """Work arrays reused every round: fresh multi-megabyte arrays each round cost more in page
    faults than the arithmetic (measured in training, 1M rows: 5.9 ms a round against 2.6)."""

    def __init__(self, rows: int) -> None:
        self.out = np.empty(rows, dtype=np.float32)
        self.tmp = np.empty(rows, dtype=np.float32)
        self.predicted = np.empty(rows, dtype=np.float32)
        self.wide: np.ndarray | None = None

    def sigmoid(self, margins: np.ndarray) -> np.ndarray:
        # XGBoost's float32 1 / (1 + expf(-m)). numpy's float32 exp is a faster approximation
        # that differs in the last bit for about one row in eight; an exp in double rounded
        # to float32 gives XGBoost's predictions bit for bit (checked on 200k rows).
        if self.wide is None:
            self.wide = np.empty(margins.size, dtype=np.float64)
        np.negative(margins, out=self.wide)
        np.exp(self.wide, out=self.wide)
        into = self.predicted
        into[...] = self.wide
        into += _ONE
        return np.reciprocal(into, out=into)


def _rmse(values: np.ndarray, labels: np.ndarray, work: _Scratch) -> np.ndarray:
    diff = np.subtract(labels, values, out=work.out)
    return np.multiply(diff, diff, out=diff)


def _mae(values: np.ndarray, labels: np.ndarray, work: _Scratch) -> np.ndarray:
    diff = np.subtract(labels, values, out=work.out)
    return np.abs(diff, out=diff)


def _error(values: np.ndarray, labels: np.ndarray, work: _Scratch) -> np.ndarray:
    # XGBoost's row error: 1 - label when the prediction is above 0.5, else the label.
    out = work.out
    np.copyto(out, labels)
    np.copyto(out, np.subtract(_ONE, labels, out=work.tmp), where=values > _HALF)
    return out


def _logloss_from_margin(margins: np.ndarray, labels: np.ndarray, work: _Scratch) -> np.ndarray:
    # -y log(sigmoid(m)) - (1 - y) log(1 - sigmoid(m)) = log(1 + exp(-|m|)) + max(m, 0) - y m
    loss = np.abs(margins, out=work.out)
    np.negative(loss, out=loss)
    np.exp(loss, out=loss)
    np.log1p(loss, out=loss)
    loss += np.maximum(margins, 0, out=work.tmp)
    loss -= np.multiply(labels, margins, out=work.tmp)
    return loss


# metric -> (row losses from (evaluated predictions or margins, labels), takes margins?, final)
_Rows = Callable[[np.ndarray, np.ndarray, _Scratch], np.ndarray]
_METRICS: dict[str, tuple[_Rows, bool, Callable[[float], float]]] = {
    "rmse": (_rmse, False, lambda mean: float(np.sqrt(mean))),
    "mae": (_mae, False, float),
    "error": (_error, False, float),
    "logloss": (_logloss_from_margin, True, float),
}


class TrainMetrics(xgboost.callback.TrainingCallback):
    """Writes the training set's scores into the evaluation history after each round.

    Must come before every other callback: they read the history this one completes."""

    def __init__(self, dtrain: xgboost.DMatrix, metrics: Sequence[str], sigmoid: bool) -> None:
        super().__init__()
        self.dtrain = dtrain
        self.metrics = list(metrics)
        self.sigmoid = sigmoid
        self.labels = np.ascontiguousarray(dtrain.get_label(), dtype=np.float32)
        weights = dtrain.get_weight()
        self.weights = np.asarray(weights, dtype=np.float32) if weights.size else None
        self.weight_sum = float(weights.sum(dtype=np.float64)) if weights.size else None
        self.work = _Scratch(len(self.labels))

    def scores(self, model: xgboost.Booster) -> dict[str, float]:
        """The training set's metrics for the model as it stands."""
        margins = np.asarray(model.predict(self.dtrain, output_margin=True), dtype=np.float32)
        work = self.work
        predictions: np.ndarray | None = None if self.sigmoid else margins
        out: dict[str, float] = {}
        for name in self.metrics:
            rows, from_margin, final = _METRICS[name]
            if from_margin:
                values = margins
            else:
                if predictions is None:
                    predictions = work.sigmoid(margins)
                values = predictions
            losses = rows(values, self.labels, work)
            if self.weights is not None:
                losses *= self.weights
            total = float(losses.sum(dtype=np.float64))
            count = self.weight_sum if self.weight_sum is not None else float(losses.size)
            out[name] = final(total / count if count else total)
        return out

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        history = evals_log.setdefault("train", type(evals_log)())
        for name, value in self.scores(model).items():
            history.setdefault(name, []).append(value)
        evals_log.move_to_end("train", last=False)
        return False


def train_metrics(
    params: dict[str, Any],
    metrics: Sequence[str],
    dtrain: xgboost.DMatrix,
    *,
    distributed: bool,
    python_metrics: bool,
) -> TrainMetrics | None:
    """The callback for this training, or None where XGBoost must evaluate `train` itself.

    `metrics` are the names XGBoost evaluates, in order (the objective's default when none
    was given); `python_metrics` says whether scikit-learn metrics are evaluated too."""
    metrics = list(dict.fromkeys(metrics))  # XGBoost evaluates a repeated name once
    objective = params.get("objective", "reg:squarederror")
    sigmoid = _OBJECTIVES.get(objective)
    if (
        sigmoid is None
        or distributed
        or python_metrics
        or params.get("booster", "gbtree") != "gbtree"
        or dtrain.num_row() < MIN_ROWS
        or not metrics
        or any(m not in _METRICS for m in metrics)
        or ("logloss" in metrics and not sigmoid)
        or len(dtrain.get_label()) != dtrain.num_row()
    ):
        return None
    return TrainMetrics(dtrain, metrics, sigmoid)


__all__ = ["MIN_ROWS", "TrainMetrics", "train_metrics"]
