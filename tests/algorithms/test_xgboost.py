"""SageMaker's built-in XGBoost in tule: training equals XGBoost's own, as the container logs it.

The central claim: the per-round `#011validation-<metric>:` values tule logs are exactly the
values open-source XGBoost computes when trained directly on the same data with the same
parameters (scikit-learn datasets written as CSV / LibSVM channel files).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

from tule.algorithms.base import (
    AlgorithmError,
    ChannelData,
    DataError,
    HyperparameterError,
    Resources,
)
from tule.algorithms.formats import recordio_protobuf
from tule.algorithms.xgboost import XGBoost
from tule.algorithms.xgboost_model import XGBoostModel

ROUND = re.compile(r"^\[(\d+)\]#011")


class Log:
    """A Reporter that keeps the lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        self.lines.append(line)

    def rounds(self) -> list[dict[str, float]]:
        """Per-round `{"validation-auc": v, ...}` from the `[i]#011...` lines, in order."""
        out = []
        for line in self.lines:
            if ROUND.match(line):
                fields = line.split("#011")[1:]
                out.append({k: float(v) for k, v in (f.rsplit(":", 1) for f in fields)})
        return out

    def series(self, key: str) -> list[float]:
        return [r[key] for r in self.rounds()]


# -- data helpers ---------------------------------------------------------------------------


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def write_csv(path: Path, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Path:
    # float32 values with 9 significant digits read back bit-exactly, whoever parses them.
    columns = [y] + ([w] if w is not None else []) + [x[:, j] for j in range(x.shape[1])]
    np.savetxt(path, np.column_stack([_f32(c) for c in columns]), delimiter=",", fmt="%.9g")
    return path


def write_libsvm(path: Path, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Path:
    x, y = _f32(x), _f32(y)
    with open(path, "w") as out:
        for i, row in enumerate(x):
            label = f"{y[i]:.9g}" + (f":{_f32(w)[i]:.9g}" if w is not None else "")
            cells = " ".join(f"{j}:{v:.9g}" for j, v in enumerate(row))
            out.write(f"{label} {cells}\n")
    return path


def channel(name: str, content_type: str, path: Path) -> ChannelData:
    return ChannelData(name, content_type, [path])


def split(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple:
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * 0.7)
    a, b = order[:cut], order[cut:]
    return x[a], y[a], x[b], y[b]


def channels_for(tmp: Path, fmt: str, xt, yt, xv=None, yv=None, wt=None, wv=None) -> dict:
    write = write_csv if fmt == "csv" else write_libsvm
    ctype = "text/csv" if fmt == "csv" else "text/libsvm"
    out = {"train": channel("train", ctype, write(tmp / f"train.{fmt}", xt, yt, wt))}
    if xv is not None:
        out["validation"] = channel("validation", ctype, write(tmp / f"val.{fmt}", xv, yv, wv))
    return out


def train(raw: Mapping[str, str], channels: dict, version: str = "1.7-1", cpus: int = 1):
    algorithm = XGBoost(version)
    log = Log()
    hp = algorithm.hyperparameters.parse(raw)
    model = algorithm.train(hp, channels, log, Resources(num_cpus=cpus))
    return model, log


def direct(params: dict, num_round: int, xt, yt, xv, yv, wt=None, wv=None, **kwargs):
    """XGBoost trained directly, with the same watchlist."""
    dtrain = xgboost.DMatrix(_f32(xt), label=_f32(yt), weight=None if wt is None else _f32(wt))
    dval = xgboost.DMatrix(_f32(xv), label=_f32(yv), weight=None if wv is None else _f32(wv))
    history: dict = {}
    booster = xgboost.train(
        {**params, "nthread": 1},
        dtrain,
        num_round,
        evals=[(dtrain, "train"), (dval, "validation")],
        evals_result=history,
        verbose_eval=False,
        **kwargs,
    )
    return booster, history


@pytest.fixture(scope="module")
def cancer():
    return split(*load_breast_cancer(return_X_y=True))


# -- per-round metrics equal XGBoost's own ------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "libsvm"])
def test_binary_logistic_auc_logloss_per_round_equal_xgboost(tmp_path, cancer, fmt):
    xt, yt, xv, yv = cancer
    _, log = train(
        {
            "num_round": "15",
            "objective": "binary:logistic",
            "eval_metric": "auc,logloss",
            "max_depth": "3",
            "eta": "0.2",
        },
        channels_for(tmp_path, fmt, xt, yt, xv, yv),
    )
    _, history = direct(
        {
            "objective": "binary:logistic",
            "eval_metric": ["auc", "logloss"],
            "max_depth": 3,
            "eta": 0.2,
        },
        15,
        xt,
        yt,
        xv,
        yv,
    )
    assert len(log.rounds()) == 15
    for data in ("train", "validation"):
        for metric in ("auc", "logloss"):
            assert log.series(f"{data}-{metric}") == history[data][metric]
    # The line shape the image's regexes read: [i]#011train-...#011validation-...
    assert re.fullmatch(
        r"\[0\]#011train-auc:\S+#011train-logloss:\S+#011validation-auc:\S+"
        r"#011validation-logloss:\S+",
        next(line for line in log.lines if line.startswith("[0]")),
    )


def test_regression_rmse_per_round_equals_xgboost(tmp_path):
    xt, yt, xv, yv = split(*load_diabetes(return_X_y=True))
    _, log = train(
        {
            "num_round": "20",
            "objective": "reg:squarederror",
            "max_depth": "4",
            "subsample": "0.8",
            "seed": "3",
        },
        channels_for(tmp_path, "csv", xt, yt, xv, yv),
    )
    _, history = direct(
        {"objective": "reg:squarederror", "max_depth": 4, "subsample": 0.8, "seed": 3},
        20,
        xt,
        yt,
        xv,
        yv,
    )
    assert log.series("validation-rmse") == history["validation"]["rmse"]
    assert log.series("train-rmse") == history["train"]["rmse"]


@pytest.mark.parametrize(("loader", "classes"), [(load_wine, 3), (load_digits, 10)])
def test_multiclass_softprob_mlogloss_per_round_equals_xgboost(tmp_path, loader, classes):
    xt, yt, xv, yv = split(*loader(return_X_y=True))
    model, log = train(
        {
            "num_round": "8",
            "objective": "multi:softprob",
            "num_class": str(classes),
            "eval_metric": "mlogloss,merror",
        },
        channels_for(tmp_path, "libsvm", xt, yt, xv, yv),
    )
    _, history = direct(
        {
            "objective": "multi:softprob",
            "num_class": classes,
            "eval_metric": ["mlogloss", "merror"],
        },
        8,
        xt,
        yt,
        xv,
        yv,
    )
    assert log.series("validation-mlogloss") == history["validation"]["mlogloss"]
    assert log.series("validation-merror") == history["validation"]["merror"]
    probabilities = model.predict(_f32(xv))["score"]
    assert probabilities.shape == (len(yv), classes)


def test_csv_weights_second_column_weighs_rows(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    rng = np.random.default_rng(1)
    wt, wv = rng.uniform(0.1, 3.0, len(yt)), rng.uniform(0.1, 3.0, len(yv))
    raw = {"num_round": "6", "objective": "binary:logistic", "csv_weights": "1"}
    # The container reads both channels with csv_weights, so validation carries weights too.
    _, log = train(raw, channels_for(tmp_path, "csv", xt, yt, xv, yv, wt=wt, wv=wv))
    _, weighted = direct({"objective": "binary:logistic"}, 6, xt, yt, xv, yv, wt=wt, wv=wv)
    _, plain = direct({"objective": "binary:logistic"}, 6, xt, yt, xv, yv)
    assert log.series("train-logloss") == weighted["train"]["logloss"]
    assert log.series("validation-logloss") == weighted["validation"]["logloss"]
    assert weighted["validation"]["logloss"] != plain["validation"]["logloss"]


def test_libsvm_label_weight_pairs_weigh_rows(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    wt = np.random.default_rng(2).uniform(0.1, 3.0, len(yt))
    _, log = train(
        {"num_round": "4", "objective": "binary:logistic"},
        channels_for(tmp_path, "libsvm", xt, yt, xv, yv, wt=wt),
    )
    _, weighted = direct({"objective": "binary:logistic"}, 4, xt, yt, xv, yv, wt=wt)
    assert log.series("train-logloss") == weighted["train"]["logloss"]


def test_channel_without_content_type_is_read_as_libsvm(tmp_path, cancer):
    xt, yt, *_ = cancer
    path = write_libsvm(tmp_path / "train", xt, yt)
    _, log = train(
        {"num_round": "2", "objective": "binary:logistic"}, {"train": channel("train", "", path)}
    )
    assert log.rounds()[0].keys() == {"train-logloss"}


# -- early stopping --------------------------------------------------------------------------


def test_early_stopping_stops_logs_best_round_and_predicts_with_it(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    model, log = train(
        {
            "num_round": "300",
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "early_stopping_rounds": "5",
            "eta": "0.5",
        },
        channels_for(tmp_path, "csv", xt, yt, xv, yv),
    )
    booster, history = direct(
        {"objective": "binary:logistic", "eval_metric": "logloss", "eta": 0.5},
        300,
        xt,
        yt,
        xv,
        yv,
        early_stopping_rounds=5,
    )
    rounds = log.rounds()
    best = booster.best_iteration
    # Every round XGBoost ran, then the best one repeated after "Stopping. Best iteration:".
    assert len(rounds) == len(history["validation"]["logloss"]) + 1
    assert len(history["validation"]["logloss"]) < 300
    stop = log.lines.index("Stopping. Best iteration:")
    assert log.lines[stop + 1].startswith(f"[{best}]#011")
    assert rounds[-1]["validation-logloss"] == min(history["validation"]["logloss"])
    expected = booster.predict(xgboost.DMatrix(_f32(xv)), iteration_range=(0, best + 1))
    np.testing.assert_array_equal(model.predict(_f32(xv))["score"], expected)


def test_early_stopping_without_validation_channel_is_refused(tmp_path, cancer):
    xt, yt, *_ = cancer
    with pytest.raises(HyperparameterError, match="Validation channel is required"):
        train(
            {"num_round": "5", "early_stopping_rounds": "2"}, channels_for(tmp_path, "csv", xt, yt)
        )


def test_early_stopping_on_a_maximised_sklearn_metric(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    _, log = train(
        {
            "num_round": "200",
            "objective": "binary:logistic",
            "eval_metric": "accuracy",
            "early_stopping_rounds": "3",
            "eta": "0.3",
        },
        channels_for(tmp_path, "csv", xt, yt, xv, yv),
    )
    accuracy = log.series("validation-accuracy")
    assert len(accuracy) < 200
    assert accuracy[-1] == max(accuracy)  # the repeated best line: the highest, not the lowest


# -- metrics ---------------------------------------------------------------------------------


def _extract(definition_regex: str, line: str) -> float:
    """How a metric regex yields a number: the capture's leading float (the `(\\S+)` captures
    run on into the next `#011field` unless the metric is the last on the line)."""
    match = re.match(definition_regex, line)
    assert match, (definition_regex, line)
    number = re.match(r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?", match.group(1))
    assert number
    return float(number.group(0))


def test_image_metric_definitions_read_the_logged_values(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    _, log = train(
        {"num_round": "3", "objective": "binary:logistic", "eval_metric": "auc,logloss,error"},
        channels_for(tmp_path, "csv", xt, yt, xv, yv),
    )
    definitions = {m.name: m for m in XGBoost.metrics}
    last = [line for line in log.lines if ROUND.match(line)][-1]
    final = log.rounds()[-1]
    for name in (
        "validation:auc",
        "validation:logloss",
        "validation:error",
        "train:auc",
        "train:logloss",
        "train:error",
    ):
        key = name.replace(":", "-")
        assert _extract(definitions[name].regex, last) == final[key]
    assert definitions["validation:auc"].direction.value == "Maximize"
    assert definitions["validation:rmse"].direction.value == "Minimize"
    assert definitions["validation:auc"].regex == r".*\[[0-9]+\].*#011validation-auc:(\S+)"
    assert not definitions["train:rmse"].tunable


def test_sklearn_metrics_computed_from_the_round_predictions(tmp_path, cancer):
    from sklearn.metrics import accuracy_score, f1_score

    xt, yt, xv, yv = cancer
    model, log = train(
        {"num_round": "4", "objective": "binary:logistic", "eval_metric": "logloss,accuracy,f1"},
        channels_for(tmp_path, "csv", xt, yt, xv, yv),
    )
    final = log.rounds()[-1]
    classes = (model.predict(_f32(xv))["score"] > 0.5).astype(int)
    assert final["validation-accuracy"] == pytest.approx(accuracy_score(yv, classes), abs=1e-6)
    assert final["validation-f1"] == pytest.approx(f1_score(yv, classes), abs=1e-6)
    assert "validation-logloss" in final


def test_r2_for_regression_and_only_sklearn_metrics_drop_the_default(tmp_path):
    from sklearn.metrics import r2_score

    xt, yt, xv, yv = split(*load_diabetes(return_X_y=True))
    model, log = train(
        {"num_round": "5", "eval_metric": "r2"}, channels_for(tmp_path, "csv", xt, yt, xv, yv)
    )
    final = log.rounds()[-1]
    assert set(final) == {"train-r2", "validation-r2"}  # no rmse: eval_metric was explicit
    predictions = model.predict(_f32(xv))["score"]
    assert final["validation-r2"] == pytest.approx(r2_score(yv, predictions), abs=1e-5)


def test_tuning_objective_metric_is_added_to_eval_metric(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    _, log = train(
        {
            "num_round": "2",
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "_tuning_objective_metric": "validation:auc",
        },
        channels_for(tmp_path, "csv", xt, yt, xv, yv),
    )
    assert {"validation-logloss", "validation-auc"} <= set(log.rounds()[0])


def test_nthread_is_capped_by_the_job_cpus(tmp_path, cancer):
    import json

    xt, yt, *_ = cancer
    model, _ = train(
        {"num_round": "1", "nthread": "64"}, channels_for(tmp_path, "csv", xt, yt), cpus=2
    )
    config = json.loads(model.booster.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "2"


# -- content types in ------------------------------------------------------------------------


def test_parquet_and_recordio_protobuf_channels_train_like_csv(tmp_path, cancer):
    import pyarrow as pa
    import pyarrow.parquet as pq

    xt, yt, xv, yv = cancer
    params = {"num_round": "5", "objective": "binary:logistic", "eval_metric": "auc"}
    _, by_csv = train(params, channels_for(tmp_path, "csv", xt, yt, xv, yv))

    table = pa.table(
        [_f32(yt)] + [_f32(xt[:, j]) for j in range(xt.shape[1])],
        names=["label"] + [f"f{j}" for j in range(xt.shape[1])],
    )
    pq.write_table(table, tmp_path / "train.parquet")
    with open(tmp_path / "train.pbr", "wb") as out:
        recordio_protobuf.write_dense(out, _f32(xt), _f32(yt))
    write_csv(tmp_path / "val.csv", xv, yv)
    val = channel("validation", "text/csv", tmp_path / "val.csv")
    for ctype, name in (
        ("application/x-parquet", "train.parquet"),
        ("recordio-protobuf", "train.pbr"),
    ):
        _, log = train(
            params, {"train": channel("train", ctype, tmp_path / name), "validation": val}
        )
        assert log.rounds() == by_csv.rounds(), ctype


def test_gzipped_csv_channel(tmp_path, cancer):
    import gzip

    xt, yt, *_ = cancer
    plain = write_csv(tmp_path / "train.csv", xt, yt)
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "train.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    _, a = train({"num_round": "2"}, {"train": channel("train", "csv", plain)})
    _, b = train({"num_round": "2"}, {"train": channel("train", "csv", tmp_path / "gz")})
    assert a.rounds() == b.rounds()


# -- models and inference --------------------------------------------------------------------


def test_save_load_gives_identical_predictions(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    model, _ = train(
        {"num_round": "30", "objective": "binary:logistic", "early_stopping_rounds": "3"},
        channels_for(tmp_path, "csv", xt, yt, xv, yv),
    )
    model.save(tmp_path / "model")
    assert (tmp_path / "model" / "xgboost-model").exists()
    loaded = XGBoostModel.load(tmp_path / "model")
    options = {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probabilities"}
    for opts in (None, options):
        a, b = model.predict(_f32(xv), options=opts), loaded.predict(_f32(xv), options=opts)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    # The artifact is a plain XGBoost model: XGBoost itself loads it.
    booster = xgboost.Booster()
    booster.load_model(bytearray((tmp_path / "model" / "xgboost-model").read_bytes()))
    assert booster.best_iteration == loaded.booster.best_iteration


def test_selectable_outputs_per_objective(tmp_path):
    xt, yt, xv, _ = split(*load_wine(return_X_y=True))
    model, _ = train(
        {"num_round": "5", "objective": "multi:softprob", "num_class": "3"},
        channels_for(tmp_path, "csv", xt, yt),
    )
    out = model.predict(
        _f32(xv),
        options={
            "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability,labels,predicted_score"
        },
    )
    scores = model.predict(_f32(xv))["score"]
    assert list(out) == ["predicted_label", "probability", "labels", "predicted_score"]
    np.testing.assert_array_equal(out["predicted_label"], scores.argmax(axis=1))
    np.testing.assert_allclose(out["probability"], scores.max(axis=1))
    assert out["labels"][0].tolist() == [0, 1, 2]
    assert np.isnan(out["predicted_score"]).all()  # not valid for a classifier: NaN


def test_wrong_feature_count_at_inference_is_a_client_error(tmp_path, cancer):
    xt, yt, xv, _ = cancer
    model, _ = train({"num_round": "2"}, channels_for(tmp_path, "csv", xt, yt))
    with pytest.raises(
        DataError,
        match="Feature size of inference data 29 is not consistent "
        "with feature size of trained model 30",
    ):
        model.predict(_f32(xv[:, :29]))


def test_narrower_libsvm_rows_are_widened_wider_refused(tmp_path, cancer):
    import scipy.sparse as sp

    xt, yt, xv, _ = cancer
    model, _ = train({"num_round": "2"}, channels_for(tmp_path, "csv", xt, yt))
    narrow = sp.csr_matrix(_f32(xv[:, :10]))
    assert model.predict(narrow)["score"].shape == (len(xv),)
    wide = sp.csr_matrix(np.column_stack([_f32(xv), np.ones(len(xv), np.float32)]))
    with pytest.raises(DataError, match="Feature size of inference data 31"):
        model.predict(wide)


# -- hyperparameter and data errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({}, "Missing required hyperparameter: num_round"),
        (
            {"num_round": "5", "mini_batch_size": "3"},
            "Extraneous hyperparameter found: mini_batch_size",
        ),
        ({"num_round": "0"}, "Hyperparameter num_round: value 0 not in range [1, +inf)"),
        ({"num_round": "5", "eta": "1.5"}, "Hyperparameter eta: value 1.5 not in range [0, 1]"),
        (
            {"num_round": "5", "subsample": "0"},
            "Hyperparameter subsample: value 0 not in range (0, 1]",
        ),
        (
            {"num_round": "5", "objective": "multi:softprob"},
            "Require input for parameter 'num_class' for multi-classification",
        ),
        (
            {"num_round": "5", "num_class": "3"},
            "Do not need to setup parameter 'num_class' for learning task other than "
            "multi-classification.",
        ),
        (
            {"num_round": "5", "eval_metric": "auc"},
            "Metric 'auc' can only be applied for classification and ranking problems.",
        ),
        (
            {"num_round": "5", "eval_metric": "rmse,nonsense"},
            "Hyperparameter eval_metric: value nonsense not in range ['accuracy', 'auc'",
        ),
        (
            {"num_round": "5", "objective": "binary:logistic", "eval_metric": "error@x"},
            "Hyperparameter eval_metric: value error@x not in range",
        ),
        (
            {"num_round": "5", "booster": "gbforest"},
            "Hyperparameter booster: value gbforest not in range ['gbtree', 'gblinear', 'dart']",
        ),
        ({"num_round": "5", "_kfold": "5"}, "k-fold cross-validation"),
    ],
)
def test_bad_hyperparameters_are_refused_with_the_containers_reason(raw, reason):
    with pytest.raises(HyperparameterError) as info:
        XGBoost().hyperparameters.parse(raw)
    assert reason in info.value.reason
    assert info.value.failure_reason.startswith("ClientError: ")


def test_aliases_and_parametrised_metrics_are_accepted():
    hp = XGBoost().hyperparameters.parse(
        {
            "num_round": "5",
            "objective": "rank:ndcg",
            "learning_rate": "0.1",
            "lambda": "2",
            "reg_alpha": "0.5",
            "min_split_loss": "1",
            "eval_metric": "ndcg@5,map@3-,auc",
            "_tuning_objective_metric": "validation:ndcg",
        }
    )
    assert (hp.eta, hp.reg_lambda, hp.alpha, hp.gamma) == (0.1, 2.0, 0.5, 1.0)
    assert hp.effective_eval_metrics() == ["ndcg@5", "map@3-", "auc", "ndcg"]


def test_versions_differ_in_validation_only_where_the_images_did():
    absolute = {"num_round": "5", "objective": "reg:absoluteerror"}
    assert XGBoost("1.7-1").hyperparameters.parse(absolute).objective == "reg:absoluteerror"
    with pytest.raises(HyperparameterError, match="value reg:absoluteerror not in range"):
        XGBoost("1.5-1").hyperparameters.parse(absolute)
    old = {"num_round": "5", "single_precision_histogram": "true"}
    assert XGBoost("1.5-1").hyperparameters.parse(old).single_precision_histogram is True
    for version in ("1.7-1", "3.0-5"):
        with pytest.raises(HyperparameterError, match="Extraneous hyperparameter found: single"):
            XGBoost(version).hyperparameters.parse(old)
    with pytest.raises(AlgorithmError, match=r"version 0\.72"):
        XGBoost("0.72")


def test_non_numeric_csv_fails_with_line_and_column(tmp_path, cancer):
    xt, yt, *_ = cancer
    path = write_csv(tmp_path / "train.csv", xt[:20], yt[:20])
    lines = path.read_text().splitlines()
    cells = lines[6].split(",")
    cells[3] = "abc"
    lines[6] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        train({"num_round": "2"}, {"train": channel("train", "text/csv", path)})
    assert "'abc'" in info.value.reason
    assert "line 7, column 4" in info.value.reason


def test_validation_with_a_different_feature_count_fails_readably(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    with pytest.raises(DataError, match="Validation data has 29 features but training data has 30"):
        train({"num_round": "2"}, channels_for(tmp_path, "csv", xt, yt, xv[:, :29], yv))


def test_labels_out_of_range_for_the_objective_fail_with_xgboosts_reason(tmp_path, cancer):
    xt, _, *_ = cancer
    labels = np.arange(len(xt)) % 4  # four classes, num_class says three
    with pytest.raises(AlgorithmError) as info:
        train(
            {"num_round": "2", "objective": "multi:softmax", "num_class": "3"},
            channels_for(tmp_path, "csv", xt, labels),
        )
    assert info.value.reason == (
        "SoftmaxMultiClassObj: label must be discrete values in the range of [0, num_class)."
    )
    assert "Stack trace" not in info.value.reason


def test_label_size_other_than_one_is_refused(tmp_path, cancer):
    xt, yt, *_ = cancer
    path = write_csv(tmp_path / "train.csv", xt, yt)
    with pytest.raises(DataError, match="label_size=2 is not supported"):
        train({"num_round": "2"}, {"train": channel("train", "text/csv;label_size=2", path)})


# -- inference through the container's request/response handling -----------------------------


def _request(features: np.ndarray, content_type: str) -> bytes:
    import io

    if content_type == "text/csv":
        out = io.BytesIO()
        np.savetxt(out, features, delimiter=",", fmt="%.9g")
        return out.getvalue()
    if content_type == "text/libsvm":
        lines = [" ".join(f"{j}:{v:.9g}" for j, v in enumerate(row)) for row in features]
        return ("\n".join(lines) + "\n").encode()
    out = io.BytesIO()
    recordio_protobuf.write_dense(out, _f32(features))
    return out.getvalue()


def _rows(body: bytes, accept: str) -> list:
    import json

    if accept == "text/csv":
        # AWS notebooks parse the container's CSV with split("\n")[:-1].
        return [[float(c) for c in line.split(",")] for line in body.decode().split("\n")[:-1]]
    if accept == "application/json":
        return [p["score"] for p in json.loads(body)["predictions"]]
    if accept == "application/jsonlines":
        return [json.loads(line)["score"] for line in body.decode().splitlines()]
    return [r.label["score"].values.tolist() for r in recordio_protobuf.read_records(body)]


@pytest.mark.parametrize("objective", ["binary:logistic", "multi:softprob"])
def test_every_request_type_and_accept_type_answers_the_models_numbers(tmp_path, objective):
    from tule.algorithms.inference import invoke

    xt, yt, xv, _ = split(*load_wine(return_X_y=True))
    if objective == "binary:logistic":
        yt = (yt == 0).astype(float)
        raw = {"num_round": "4", "objective": objective}
    else:
        raw = {"num_round": "4", "objective": objective, "num_class": "3"}
    algorithm = XGBoost()
    model = algorithm.train(
        algorithm.hyperparameters.parse(raw), channels_for(tmp_path, "csv", xt, yt), Log()
    )
    features = _f32(xv[:5])
    expected = np.asarray(model.predict(features)["score"], dtype=np.float64)
    for content_type in ("text/csv", "text/libsvm", "application/x-recordio-protobuf"):
        body = _request(features, content_type)
        for accept in (
            "text/csv",
            "application/json",
            "application/jsonlines",
            "application/x-recordio-protobuf",
        ):
            payload, answered = invoke(model, algorithm, body, content_type, accept)
            assert answered == accept
            got = np.asarray(_rows(payload, accept), dtype=np.float64).reshape(expected.shape)
            np.testing.assert_allclose(
                got, expected, rtol=1e-6, err_msg=f"{content_type}->{accept}"
            )
    # Default Accept is text/csv: one line per row; softprob rows are comma-joined.
    payload, answered = invoke(model, algorithm, _request(features, "text/csv"), "text/csv", None)
    assert answered == "text/csv"
    lines = payload.decode().split("\n")
    assert lines[-1] == "" and len(lines) == 6
    assert lines[0].count(",") == (2 if objective == "multi:softprob" else 0)
    # float32 predictions print at float32 precision and read back exactly.
    first = np.asarray([np.float32(c) for c in lines[0].split(",")])
    np.testing.assert_array_equal(first, np.atleast_1d(model.predict(features)["score"][0]))


def test_request_errors_answer_the_xgboost_servers_statuses(tmp_path, cancer):
    from tule.algorithms.inference import InferenceError, invoke

    xt, yt, xv, _ = cancer
    algorithm = XGBoost()
    model = algorithm.train(
        algorithm.hyperparameters.parse({"num_round": "2"}),
        channels_for(tmp_path, "csv", xt, yt),
        Log(),
    )
    good = _request(_f32(xv[:2]), "text/csv")
    cases = [
        (b'{"instances": [{"features": [1, 2]}]}', "application/json", None, 415),
        (b"1,2,abc\n", "text/csv", None, 415),
        (_request(_f32(xv[:2, :29]), "text/csv"), "text/csv", None, 400),
        (good, "text/csv", "text/html", 406),
        (b"", "text/csv", None, 204),
    ]
    for body, content_type, accept, status in cases:
        with pytest.raises(InferenceError) as info:
            invoke(model, algorithm, body, content_type, accept)
        assert info.value.status == status, (body[:30], info.value.message)
    with pytest.raises(InferenceError) as info:
        invoke(model, algorithm, _request(_f32(xv[:2, :29]), "text/csv"), "text/csv", None)
    assert "Feature size of inference data 29" in info.value.message


def test_selected_outputs_as_csv_quote_list_values(tmp_path, cancer):
    xt, yt, xv, _ = cancer
    algorithm = XGBoost()
    model = algorithm.train(
        algorithm.hyperparameters.parse({"num_round": "3", "objective": "binary:logistic"}),
        channels_for(tmp_path, "csv", xt, yt),
        Log(),
    )
    outputs = model.predict(
        _f32(xv[:3]),
        options={
            "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability,labels,predicted_score"
        },
    )
    body = algorithm.encode_response(outputs, "text/csv", {}).decode()
    p = model.predict(_f32(xv[:3]))["score"]
    first = body.split("\n")[0]
    # float32 values print at their own precision (0.8752, not 0.87520003318786621).
    assert first == f'{int(p[0] > 0.5)},{p[0]!s},"[0, 1]",nan'
    assert len(str(p[0])) <= 12


# -- channels --------------------------------------------------------------------------------


def test_pipe_mode_csv_trains_and_pipe_mode_libsvm_is_refused(tmp_path, cancer):
    xt, yt, *_ = cancer
    path = write_csv(tmp_path / "train.csv", xt, yt)
    _, file_log = train({"num_round": "3"}, {"train": channel("train", "text/csv", path)})
    pipe = ChannelData("train", "text/csv", stream_factory=partial(open, path, "rb"))
    _, pipe_log = train({"num_round": "3"}, {"train": pipe})
    assert pipe_log.rounds() == file_log.rounds()
    svm = write_libsvm(tmp_path / "train.libsvm", xt, yt)
    piped_svm = ChannelData("train", "text/libsvm", stream_factory=partial(open, svm, "rb"))
    with pytest.raises(AlgorithmError, match="Channel configuration for 'train' channel is not"):
        train({"num_round": "3"}, {"train": piped_svm})


def test_missing_and_unknown_channels_are_refused_in_the_toolkits_words(tmp_path, cancer):
    xt, yt, xv, yv = cancer
    chans = channels_for(tmp_path, "csv", xt, yt, xv, yv)
    with pytest.raises(AlgorithmError, match="Missing required channel: train"):
        train({"num_round": "2"}, {"validation": chans["validation"]})
    with pytest.raises(AlgorithmError, match="Extraneous channel found: test"):
        train({"num_round": "2"}, {**chans, "test": chans["validation"]})


@pytest.mark.parametrize(
    "extra",
    [{"tree_method": "exact"}, {"tree_method": "approx"}, {"booster": "gblinear"}],
)
def test_non_histogram_methods_also_equal_xgboost(tmp_path, cancer, extra):
    xt, yt, xv, yv = cancer
    raw = {"num_round": "5", "objective": "binary:logistic", **extra}
    _, log = train(raw, channels_for(tmp_path, "libsvm", xt, yt, xv, yv))
    _, history = direct({"objective": "binary:logistic", **extra}, 5, xt, yt, xv, yv)
    assert log.series("validation-logloss") == history["validation"]["logloss"]


def test_container_entry_point_takes_the_version_from_the_image_uri(tmp_path, cancer):
    import io
    import json

    from tule.algorithms.container.train import run_training

    xt, yt, *_ = cancer
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (tmp_path / "input" / "data" / "train").mkdir(parents=True)
    write_csv(tmp_path / "input" / "data" / "train" / "part-0.csv", xt, yt)
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {"ContentType": "csv"}}))
    hyperparameters = {"num_round": "3", "single_precision_histogram": "true"}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:{}"
    assert run_training(tmp_path, image.format("1.5-1"), stream=io.StringIO()) == 0
    assert (tmp_path / "model" / "xgboost-model").exists()
    assert run_training(tmp_path, image.format("1.7-1"), stream=io.StringIO()) == 1
    reason = (tmp_path / "output" / "failure").read_text()
    assert reason == "ClientError: Extraneous hyperparameter found: single_precision_histogram"


def test_large_data_trains_from_a_quantile_matrix_with_the_same_results(
    tmp_path, cancer, monkeypatch
):
    from tule.algorithms import xgboost_data

    xt, yt, xv, yv = cancer
    raw = {"num_round": "6", "objective": "binary:logistic", "eval_metric": "auc,logloss"}
    chans = channels_for(tmp_path, "libsvm", xt, yt, xv, yv)
    built: list[str] = []
    real = xgboost.QuantileDMatrix

    def spy(*args, **kwargs):
        built.append("quantile")
        return real(*args, **kwargs)

    monkeypatch.setattr(xgboost_data.xgboost, "QuantileDMatrix", spy)
    _, small = train(raw, chans)
    assert built == []
    monkeypatch.setattr(xgboost_data, "QUANTILE_MATRIX_BYTES", 0)
    _, large = train(raw, chans)
    assert built == ["quantile", "quantile"]
    assert large.rounds() == small.rounds()
