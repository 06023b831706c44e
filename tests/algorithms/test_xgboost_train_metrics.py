"""The training set's per-round metrics tule computes from XGBoost's cached margins.

Each check trains with the same rows as `train` and as `validation`: the validation values are
XGBoost's own evaluation of those rows, so the train values (tule's) must equal them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import xgboost

from tule.algorithms import xgboost_train_metrics
from tule.algorithms.base import ChannelData, ListReporter, Resources
from tule.algorithms.xgboost import XGBoost
from tule.algorithms.xgboost_train_metrics import MIN_ROWS, TrainMetrics, train_metrics

ROWS = MIN_ROWS + 1_000
ROUND = re.compile(r"^\[(\d+)\]#011")


def _write(path: Path, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Path:
    columns = [y] + ([w] if w is not None else []) + [x[:, j] for j in range(x.shape[1])]
    block = np.column_stack([np.asarray(c, dtype=np.float32) for c in columns])
    np.savetxt(path, block, delimiter=",", fmt="%.9g")
    return path


def _data(seed: int = 5, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4)).astype(np.float32)
    noise = rng.standard_normal(rows).astype(np.float32)
    y = ((x[:, 0] * x[:, 1] + x[:, 2] + noise) > 0).astype(np.float32)
    w = rng.uniform(0.5, 2.0, rows).astype(np.float32)
    return x, y, w


def _train(
    tmp: Path, raw: dict[str, str], weights: bool = False, held_out: bool = False
) -> tuple[list[dict[str, float]], list[str]]:
    """Per-round scores and every log line; `validation` holds the training rows unless
    `held_out`, when it holds other rows from the same generator."""
    x, y, w = _data()
    path = _write(tmp / "rows.csv", x, y, w if weights else None)
    other = path
    if held_out:
        xv, yv, wv = _data(seed=6, rows=5_000)
        other = _write(tmp / "other.csv", xv, yv, wv if weights else None)
    channels = {
        "train": ChannelData("train", "text/csv", [path]),
        "validation": ChannelData("validation", "text/csv", [other]),
    }
    algorithm = XGBoost()
    hp = algorithm.hyperparameters.parse(raw | ({"csv_weights": "1"} if weights else {}))
    log = ListReporter()
    algorithm.train(hp, channels, log, Resources(num_cpus=2))
    rounds = []
    for line in log.lines:
        if ROUND.match(line):
            fields = line.split("#011")[1:]
            rounds.append({k: float(v) for k, v in (f.rsplit(":", 1) for f in fields)})
    return rounds, log.lines


@pytest.mark.parametrize(
    ("objective", "metrics"),
    [
        ("binary:logistic", "logloss,error,rmse,mae"),
        ("reg:squarederror", "rmse,mae,error"),
        ("reg:logistic", "rmse,logloss"),
    ],
)
@pytest.mark.parametrize("weights", [False, True])
def test_train_metrics_equal_xgboosts_own_evaluation_of_the_same_rows(
    tmp_path, objective, metrics, weights
):
    rounds, _ = _train(
        tmp_path,
        {"objective": objective, "num_round": "4", "max_depth": "3", "eval_metric": metrics},
        weights,
    )
    assert len(rounds) == 4
    for scores in rounds:
        # The container's order: every train metric, then every validation metric.
        names = metrics.split(",")
        assert list(scores) == [f"train-{m}" for m in names] + [f"validation-{m}" for m in names]
        for name in names:
            ours, xgboosts = scores[f"train-{name}"], scores[f"validation-{name}"]
            # logloss comes from a stable formula on the margin; the rest copy XGBoost's
            # float32 row arithmetic and differ only in the order of the double sum.
            tolerance = 1e-7 if name == "logloss" else 1e-12
            assert ours == pytest.approx(xgboosts, rel=tolerance, abs=1e-12), name


def test_a_metric_named_twice_is_logged_once_as_xgboost_does(tmp_path):
    rounds, _ = _train(
        tmp_path, {"objective": "binary:logistic", "num_round": "2", "eval_metric": "rmse,rmse"}
    )
    assert [list(r) for r in rounds] == [["train-rmse", "validation-rmse"]] * 2


def test_the_objectives_default_metric_is_computed_too(tmp_path):
    rounds, _ = _train(tmp_path, {"objective": "binary:logistic", "num_round": "2"})
    assert [list(r) for r in rounds] == [["train-logloss", "validation-logloss"]] * 2
    for scores in rounds:
        assert scores["train-logloss"] == pytest.approx(scores["validation-logloss"], rel=1e-7)


def test_large_training_sets_leave_xgboosts_watchlist(tmp_path, monkeypatch):
    evaluated: list[list[str]] = []
    real = xgboost.Booster.eval_set

    def spy(self, evals, *args, **kwargs):
        evaluated.append([name for _, name in evals])
        return real(self, evals, *args, **kwargs)

    monkeypatch.setattr(xgboost.Booster, "eval_set", spy)
    _train(tmp_path, {"objective": "binary:logistic", "num_round": "2"})
    assert evaluated == [["validation"], ["validation"]]


def test_early_stopping_still_stops_on_xgboosts_validation_scores(tmp_path):
    rounds, lines = _train(
        tmp_path,
        {
            "objective": "binary:logistic",
            "num_round": "100",
            "eta": "0.9",
            "max_depth": "8",
            "early_stopping_rounds": "3",
        },
        held_out=True,
    )
    # Overfitting stops it early; the last line repeats the best round, train score first.
    assert "Stopping. Best iteration:" in lines
    assert len(rounds) < 100
    best = rounds[-1]
    assert list(best) == ["train-logloss", "validation-logloss"]
    validation = [r["validation-logloss"] for r in rounds[:-1]]
    assert best["validation-logloss"] == min(validation)
    assert validation[-1] > min(validation)


def _matrix(rows: int, weights: bool = False) -> xgboost.DMatrix:
    x, y, w = _data(rows=rows)
    return xgboost.DMatrix(x, label=y, weight=w if weights else None)


@pytest.mark.parametrize(
    ("params", "metrics", "distributed", "python_metrics", "rows"),
    [
        ({"objective": "binary:logistic"}, ["logloss"], False, False, MIN_ROWS - 1),
        ({"objective": "binary:logistic"}, ["logloss"], True, False, MIN_ROWS),
        ({"objective": "binary:logistic"}, ["logloss"], False, True, MIN_ROWS),
        ({"objective": "binary:logistic", "booster": "dart"}, ["logloss"], False, False, MIN_ROWS),
        ({"objective": "binary:logistic"}, ["auc"], False, False, MIN_ROWS),
        ({"objective": "binary:logistic"}, ["error@0.7"], False, False, MIN_ROWS),
        ({"objective": "reg:squarederror"}, ["logloss"], False, False, MIN_ROWS),
        ({"objective": "binary:logitraw"}, ["error"], False, False, MIN_ROWS),
        ({"objective": "multi:softprob"}, ["merror"], False, False, MIN_ROWS),
        ({"objective": "binary:logistic"}, [], False, False, MIN_ROWS),
    ],
)
def test_xgboost_evaluates_train_itself_wherever_the_shortcut_is_not_plainly_equal(
    params, metrics, distributed, python_metrics, rows
):
    chosen = train_metrics(
        params, metrics, _matrix(rows), distributed=distributed, python_metrics=python_metrics
    )
    assert chosen is None


def test_the_shortcut_is_chosen_for_large_single_host_training():
    chosen = train_metrics(
        {"objective": "binary:logistic"},
        ["logloss", "error"],
        _matrix(MIN_ROWS),
        distributed=False,
        python_metrics=False,
    )
    assert isinstance(chosen, TrainMetrics)


def test_work_arrays_are_reused_between_rounds():
    dtrain = _matrix(MIN_ROWS, weights=True)
    booster = xgboost.train({"objective": "binary:logistic", "nthread": 1}, dtrain, 1)
    callback = train_metrics(
        {"objective": "binary:logistic"},
        ["rmse", "logloss"],
        dtrain,
        distributed=False,
        python_metrics=False,
    )
    assert callback is not None
    buffers = (callback.work.out, callback.work.tmp, callback.work.predicted)
    first = callback.scores(booster)
    second = callback.scores(booster)
    assert first == second
    assert (callback.work.out, callback.work.tmp, callback.work.predicted) == buffers
    assert xgboost_train_metrics.MIN_ROWS == MIN_ROWS
