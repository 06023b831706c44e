"""A few rows predict on a single-threaded twin of the booster, with the same values."""

import numpy as np
import pytest
import xgboost

from tule.algorithms import xgboost_model
from tule.algorithms.xgboost_model import SERIAL_ROWS, XGBoostModel


def trained(objective: str, **params) -> XGBoostModel:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take the trees' default branches
    y = (x[:, 0] > 0).astype(np.float32) + (np.nan_to_num(x[:, 1]) > 0.5)
    if objective.startswith("reg:"):
        y = np.nan_to_num(x[:, 0]) * 3 + 1
    elif objective == "binary:logistic":
        y = (y > 0).astype(np.float32)
    booster = xgboost.train(
        {"objective": objective, "max_depth": 4, "seed": 0, "nthread": 2, **params},
        xgboost.DMatrix(x, label=y),
        40,
    )
    return XGBoostModel(booster)


@pytest.mark.parametrize(
    ("objective", "params"),
    [
        ("binary:logistic", {}),
        ("reg:squarederror", {}),
        ("multi:softprob", {"num_class": 3}),
        ("binary:logistic", {"booster": "dart", "rate_drop": 0.2}),
    ],
)
def test_serial_predictions_equal_the_threaded_ones_bit_for_bit(objective, params):
    model = trained(objective, **params)
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(SERIAL_ROWS + 1, 6)).astype(np.float32)
    rows[rng.random(rows.shape) < 0.1] = np.nan
    threaded = model.booster.inplace_predict(rows, iteration_range=model.iteration_range)
    for count in (1, 2, 7, SERIAL_ROWS):
        serial = model.raw_predict(rows[:count])
        assert serial.dtype == threaded.dtype
        assert serial.tobytes() == threaded[:count].tobytes()
    assert model._serial is not None  # the small requests did use the twin
    assert model._serial.get_dump() == model.booster.get_dump()


def test_larger_batches_keep_the_threaded_booster(monkeypatch):
    model = trained("binary:logistic")
    used = []
    original = xgboost.Booster.inplace_predict

    def spy(self, *args, **kwargs):
        used.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(xgboost.Booster, "inplace_predict", spy)
    model.raw_predict(np.zeros((SERIAL_ROWS + 1, 6), dtype=np.float32))
    model.raw_predict(np.zeros((1, 6), dtype=np.float32))
    assert used[0] is model.booster
    assert used[1] is model._serial and used[1] is not model.booster


def test_early_stopped_model_predicts_its_best_rounds_on_the_twin_too():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    train, valid = (
        xgboost.DMatrix(x[:200], label=y[:200]),
        xgboost.DMatrix(x[200:], label=1 - y[200:]),
    )
    booster = xgboost.train(
        {"objective": "binary:logistic", "seed": 0},
        train,
        50,
        evals=[(valid, "v")],
        early_stopping_rounds=2,
        verbose_eval=False,
    )
    model = XGBoostModel(booster)
    assert model.iteration_range != (0, 0)
    expected = booster.inplace_predict(x[:3], iteration_range=model.iteration_range)
    assert model.raw_predict(x[:3]).tobytes() == expected.tobytes()
    assert xgboost_model.SERIAL_ROWS >= 3
