"""XGBoost's training matrices are freed off the caller's thread once training is done."""

from __future__ import annotations

import threading
import weakref

import numpy as np
import xgboost

from tule.algorithms import xgboost as xgboost_algorithm
from tule.algorithms import xgboost_data
from tule.algorithms.base import ChannelData, ListReporter, Resources
from tule.algorithms.xgboost import XGBoost


class _Recorded(xgboost.DMatrix):
    """A DMatrix that notes the thread its last reference was dropped on."""

    freed_on: list[str] = []

    def __del__(self) -> None:
        self.freed_on.append(threading.current_thread().name)
        super().__del__()


def _join_release_threads() -> None:
    for thread in threading.enumerate():
        if thread.name == "xgboost-free-matrices":
            thread.join(timeout=30)


def test_matrices_are_freed_on_another_thread_and_the_list_emptied() -> None:
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    matrices = [(_Recorded(x, label=np.zeros(20)), "train"), (_Recorded(x), "validation")]
    alive = [weakref.ref(m) for m, _ in matrices]
    _Recorded.freed_on.clear()

    xgboost_data.release_in_background(matrices)
    _join_release_threads()

    assert matrices == []
    assert all(ref() is None for ref in alive)
    assert _Recorded.freed_on == ["xgboost-free-matrices"] * 2


def test_training_hands_its_whole_watchlist_over_and_keeps_its_model(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(3)
    for name in ("train", "validation"):
        x = rng.standard_normal((300, 4)).astype(np.float32)
        y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
        np.savetxt(tmp_path / f"{name}.csv", np.column_stack([y, x]), delimiter=",", fmt="%.9g")
    handed: list[list[tuple[int, int, str]]] = []
    release = xgboost_data.release_in_background

    def spy(matrices: list) -> None:
        handed.append([(m.num_row(), m.num_col(), name) for m, name in matrices])
        release(matrices)

    monkeypatch.setattr(xgboost_algorithm, "release_in_background", spy)
    algorithm = XGBoost()
    hp = algorithm.hyperparameters.parse({"num_round": "3", "objective": "binary:logistic"})
    channels = {
        name: ChannelData(name, "text/csv", [tmp_path / f"{name}.csv"])
        for name in ("train", "validation")
    }
    model = algorithm.train(hp, channels, ListReporter(), Resources(num_cpus=1))
    _join_release_threads()

    assert handed == [[(300, 4, "train"), (300, 4, "validation")]]
    # The booster needs no matrix of the watchlist: it still predicts after they are gone.
    x = np.loadtxt(tmp_path / "train.csv", delimiter=",", dtype=np.float32)[:, 1:]
    predictions = model.booster.predict(xgboost.DMatrix(x))
    assert predictions.shape == (300,) and np.all((predictions > 0) & (predictions < 1))
