"""XGBoost's hyperparameters as the SageMaker container validates them (specs/algorithms.md §4).

The container (`sagemaker-xgboost`, algorithm mode) checks the string map with its own toolkit,
not a JSON schema, so errors read `Missing required hyperparameter: num_round`,
`Extraneous hyperparameter found: <name>` and `Hyperparameter <name>: value <v> not in range
<r>` (`ValidationStyle.XGBOOST`, worded by `tule.algorithms.hyperparameters`). Rules that tie
several hyperparameters together (num_class and the objective, eval_metric and the objective,
constraints and the tree method) are checked in `__post_init__` after the per-field parse.

Defaults: most fields default to None, meaning "not given, let XGBoost apply its own default".
The documented defaults (eta 0.3, max_depth 6, base_score 0.5, updater grow_colmaker,prune ...)
are upstream XGBoost's defaults of the container's era; passing them explicitly to the XGBoost
we run (3.2) would change its behaviour (`updater=grow_colmaker,prune` forces the exact
method, `base_score=0.5` turns off 2.x's estimated base score), and results would no longer
match XGBoost trained directly with the same hyperparameters.

Versions (the image tag; the training numerics are XGBoost 3.2's in all of them):

* `1.7-1`: the spec's table.
* `1.5-1`: XGBoost 1.5 had no `reg:absoluteerror` (added in 1.7), so the objective is refused;
  `single_precision_histogram` is still accepted (documented for 1.2-x, dropped from the 1.7-1
  validator, where it is extraneous). Accepted and ignored: XGBoost 3 has no such parameter.
* `3.0-5`: structurally the 1.7-1 validator (the spec's note on the container's master branch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from tule.algorithms.base import HyperparameterError, Hyperparameters, ValidationStyle, hp

# The 1.7-1 validator's objective list, without its stray `aft_loss_distribution` entry (a
# hyperparameter name listed as an objective by mistake; XGBoost itself refuses it).
OBJECTIVES_1_7: tuple[str, ...] = (
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
    "reg:squarederror",
    "reg:logistic",
    "reg:gamma",
    "reg:pseudohubererror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
)
OBJECTIVES_1_5: tuple[str, ...] = tuple(o for o in OBJECTIVES_1_7 if o != "reg:absoluteerror")

# The container's metric lists (they also name the image's MetricDefinitions). Note that the
# container files interval-regression-accuracy under "minimize"; we keep its direction.
MAXIMIZE_METRICS: tuple[str, ...] = (
    "accuracy",
    "auc",
    "aucpr",
    "balanced_accuracy",
    "f1",
    "f1_binary",
    "f1_macro",
    "map",
    "ndcg",
    "precision",
    "r2",
    "recall",
    "precision_macro",
    "precision_micro",
    "recall_macro",
    "recall_micro",
)
MINIMIZE_METRICS: tuple[str, ...] = (
    "aft-nloglik",
    "cox-nloglik",
    "error",
    "gamma-deviance",
    "gamma-nloglik",
    "interval-regression-accuracy",
    "logloss",
    "mae",
    "mape",
    "merror",
    "mlogloss",
    "mphe",
    "mse",
    "poisson-nloglik",
    "rmse",
    "rmsle",
    "tweedie-nloglik",
)
METRICS: tuple[str, ...] = MAXIMIZE_METRICS + MINIMIZE_METRICS

# Computed by the container with scikit-learn (XGBoost has no such metric); every other name is
# handed to XGBoost's own `eval_metric`.
SKLEARN_METRICS: frozenset[str] = frozenset(
    {
        "accuracy",
        "balanced_accuracy",
        "f1",
        "f1_binary",
        "f1_macro",
        "mse",
        "precision",
        "precision_macro",
        "precision_micro",
        "r2",
        "recall",
        "recall_macro",
        "recall_micro",
    }
)
_REGRESSION_SKLEARN = frozenset({"mse", "r2"})

# `error@0.7`, `ndcg@5`, `map@3-` (a trailing '-' scores empty lists as 0), `tweedie-nloglik@1.5`.
_PARAMETRISED = re.compile(
    r"^(?:error@[0-9]*\.?[0-9]+|(?:ndcg|map)(?:@[0-9]+)?-?|tweedie-nloglik@[0-9]*\.?[0-9]+)$"
)

TREE_UPDATERS = frozenset(
    {
        "grow_colmaker",
        "grow_histmaker",
        "grow_quantile_histmaker",
        "grow_gpu_hist",
        "grow_gpu_approx",
        "sync",
        "refresh",
        "prune",
        "distcol",
        "grow_skmaker",
    }
)
LINEAR_UPDATERS = frozenset({"shotgun", "coord_descent"})
_UPDATE_PROCESS = frozenset({"refresh", "prune", "sync"})


def metric_base(metric: str) -> str:
    """The metric a (possibly parametrised) eval_metric entry belongs to: `ndcg@5-` -> ndcg."""
    return metric.split("@", 1)[0].rstrip("-")


def is_known_metric(metric: str) -> bool:
    return metric in METRICS or bool(_PARAMETRISED.match(metric))


def is_maximized(metric: str) -> bool:
    return metric_base(metric) in MAXIMIZE_METRICS


def _range_error(name: str, value: object, allowed: object) -> HyperparameterError:
    return HyperparameterError(f"Hyperparameter {name}: value {value} not in range {allowed}")


@dataclass(frozen=True)
class XGBoostHyperparameters(Hyperparameters):
    """The `sagemaker-xgboost:1.7-1` hyperparameters (None: XGBoost's own default applies)."""

    STYLE: ClassVar[ValidationStyle] = ValidationStyle.XGBOOST
    OBJECTIVES: ClassVar[tuple[str, ...]] = OBJECTIVES_1_7

    num_round: int | None = hp(None, required=True, minimum=1, tunable=True)
    num_class: int | None = hp(None, minimum=2)
    objective: str = hp("reg:squarederror", choices=OBJECTIVES_1_7)
    eval_metric: tuple[str, ...] | None = hp()
    early_stopping_rounds: int | None = hp(None, minimum=1)
    csv_weights: int = hp(0, choices=(0, 1))
    booster: str | None = hp(None, choices=("gbtree", "gblinear", "dart"))
    verbosity: int | None = hp(None, minimum=0, maximum=3)
    nthread: int | None = hp(None, minimum=1)
    eta: float | None = hp(None, minimum=0, maximum=1, tunable=True, aliases=("learning_rate",))
    gamma: float | None = hp(None, minimum=0, tunable=True, aliases=("min_split_loss",))
    max_depth: int | None = hp(None, minimum=0, tunable=True)
    min_child_weight: float | None = hp(None, minimum=0, tunable=True)
    max_delta_step: float | None = hp(None, minimum=0, tunable=True)
    subsample: float | None = hp(None, minimum=0, exclusive_minimum=True, maximum=1, tunable=True)
    colsample_bytree: float | None = hp(
        None, minimum=0, exclusive_minimum=True, maximum=1, tunable=True
    )
    colsample_bylevel: float | None = hp(
        None, minimum=0, exclusive_minimum=True, maximum=1, tunable=True
    )
    colsample_bynode: float | None = hp(
        None, minimum=0, exclusive_minimum=True, maximum=1, tunable=True
    )
    # `lambda` is a Python keyword, so the field is named after its XGBoost alias.
    reg_lambda: float | None = hp(None, minimum=0, tunable=True, aliases=("lambda",))
    alpha: float | None = hp(None, minimum=0, tunable=True, aliases=("reg_alpha",))
    tree_method: str | None = hp(None, choices=("auto", "exact", "approx", "hist", "gpu_hist"))
    sketch_eps: float | None = hp(
        None, minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True
    )
    scale_pos_weight: float | None = hp(None, minimum=0, exclusive_minimum=True)
    updater: tuple[str, ...] | None = hp()
    dsplit: str | None = hp(None, choices=("row", "col"))
    refresh_leaf: int | None = hp(None, choices=(0, 1))
    process_type: str | None = hp(None, choices=("default", "update"))
    grow_policy: str | None = hp(None, choices=("depthwise", "lossguide"))
    max_leaves: int | None = hp(None, minimum=0)
    max_bin: int | None = hp(None, minimum=0)
    predictor: str | None = hp(None, choices=("auto", "cpu_predictor", "gpu_predictor"))
    monotone_constraints: str | None = hp(None)
    interaction_constraints: str | None = hp(None)
    sample_type: str | None = hp(None, choices=("uniform", "weighted"))
    normalize_type: str | None = hp(None, choices=("tree", "forest"))
    rate_drop: float | None = hp(None, minimum=0, maximum=1)
    skip_drop: float | None = hp(None, minimum=0, maximum=1)
    one_drop: int | None = hp(None, choices=(0, 1))
    lambda_bias: float | None = hp(None, minimum=0, maximum=1)
    tweedie_variance_power: float | None = hp(
        None, minimum=1, maximum=2, exclusive_minimum=True, exclusive_maximum=True
    )
    base_score: float | None = hp(None, minimum=0)
    seed: int | None = hp(None, minimum=-(2**31), maximum=2**31 - 1)
    num_parallel_tree: int | None = hp(None, minimum=1)
    save_model_on_termination: bool = hp(False)
    aft_loss_distribution: str | None = hp(None, choices=("normal", "logistic", "extreme"))
    aft_loss_distribution_scale: float | None = hp(None, minimum=0)
    deterministic_histogram: bool | None = hp(None)
    sampling_method: str | None = hp(None, choices=("uniform", "gradient_based"))
    prob_buffer_row: float | None = hp(None, minimum=1, exclusive_minimum=True)
    use_dask_gpu_training: bool = hp(False)
    # Hidden ones the container parses; the parser keeps `_`-names a class declares.
    _tuning_objective_metric: str | None = hp(None)
    _kfold: int | None = hp(None, minimum=2)
    _num_cv_round: int | None = hp(None, minimum=1)

    def __post_init__(self) -> None:
        self._check_num_class()
        for metric in self.eval_metric or ():
            self._check_metric(metric)
        self._check_tuning_objective()
        self._check_constraints()
        self._check_updater()
        if self._kfold is not None:
            # Cross-validation mode trains one model per fold (xgboost-model-0, -1, ...) and
            # ensembles them at inference; tule does not implement it yet, and training one model
            # instead would pass for success while producing something else.
            raise HyperparameterError(
                "Hyperparameter _kfold: k-fold cross-validation training is not supported by tule"
            )

    # The container's dependency validators (their wording, as far as it is known).
    def _check_num_class(self) -> None:
        multi = self.objective.startswith("multi:")
        if multi and self.num_class is None:
            raise HyperparameterError(
                "Require input for parameter 'num_class' for multi-classification"
            )
        if not multi and self.num_class is not None:
            raise HyperparameterError(
                "Do not need to setup parameter 'num_class' for learning task other than "
                "multi-classification."
            )

    def _check_metric(self, metric: str) -> None:
        if not is_known_metric(metric):
            raise _range_error("eval_metric", metric, list(METRICS))
        base = metric_base(metric)
        if base == "auc" and not self.objective.startswith(("binary:", "rank:")):
            raise HyperparameterError(
                "Metric 'auc' can only be applied for classification and ranking problems."
            )
        if base == "aft-nloglik" and self.objective != "survival:aft":
            raise HyperparameterError(
                "Metric 'aft-nloglik' can only be applied for 'survival:aft' objective."
            )
        classification = self.objective.startswith(("binary:", "multi:"))
        if base in SKLEARN_METRICS - _REGRESSION_SKLEARN and not classification:
            raise HyperparameterError(
                f"Metric '{metric}' can only be applied for classification problems "
                "(binary:* and multi:* objectives)."
            )

    def _check_tuning_objective(self) -> None:
        name = self._tuning_objective_metric
        if name is None:
            return
        channel, _, metric = name.partition(":")
        if channel not in ("train", "validation") or metric not in METRICS:
            allowed = [f"validation:{m}" for m in METRICS]
            raise _range_error("_tuning_objective_metric", name, allowed)
        self._check_metric(metric)

    def _check_constraints(self) -> None:
        method = self.tree_method
        if self.monotone_constraints is not None and method not in (None, "auto", "exact", "hist"):
            raise HyperparameterError(
                "monotone_constraints can be used only with tree_method 'exact' or 'hist', "
                f"not '{method}'."
            )
        if self.interaction_constraints is not None and method not in (
            None,
            "auto",
            "exact",
            "hist",
            "approx",
        ):
            raise HyperparameterError(
                "interaction_constraints can be used only with tree_method 'exact', 'hist' or "
                f"'approx', not '{method}'."
            )

    def _check_updater(self) -> None:
        if not self.updater:
            return
        linear = self.booster == "gblinear"
        allowed = LINEAR_UPDATERS if linear else TREE_UPDATERS
        for name in self.updater:
            if name not in allowed:
                raise _range_error("updater", name, sorted(allowed))
        if self.process_type == "update" and not set(self.updater) <= _UPDATE_PROCESS:
            raise HyperparameterError(
                "process_type 'update' only works with the updaters refresh, prune and sync; "
                f"got {','.join(self.updater)}."
            )

    # -----------------------------------------------------------------------------------------

    def effective_eval_metrics(self) -> list[str]:
        """eval_metric plus the tuning objective's metric, as the container adds it (§0.1)."""
        metrics = list(self.eval_metric or ())
        if self._tuning_objective_metric is not None:
            metric = self._tuning_objective_metric.partition(":")[2]
            if metric not in metrics:
                metrics.append(metric)
        return metrics

    def tuning_metric(self) -> str | None:
        if self._tuning_objective_metric is None:
            return None
        return self._tuning_objective_metric.partition(":")[2]


@dataclass(frozen=True)
class XGBoost15Hyperparameters(XGBoostHyperparameters):
    """`sagemaker-xgboost:1.5-1`: no reg:absoluteerror; single_precision_histogram accepted."""

    OBJECTIVES: ClassVar[tuple[str, ...]] = OBJECTIVES_1_5

    objective: str = hp("reg:squarederror", choices=OBJECTIVES_1_5)
    single_precision_histogram: bool | None = hp(None)


@dataclass(frozen=True)
class XGBoost30Hyperparameters(XGBoostHyperparameters):
    """`sagemaker-xgboost:3.0-5`: the 1.7-1 validator (the container's master branch)."""


HYPERPARAMETERS_BY_VERSION: dict[str, type[XGBoostHyperparameters]] = {
    "1.5-1": XGBoost15Hyperparameters,
    "1.7-1": XGBoostHyperparameters,
    "3.0-5": XGBoost30Hyperparameters,
}

__all__ = [
    "HYPERPARAMETERS_BY_VERSION",
    "MAXIMIZE_METRICS",
    "METRICS",
    "MINIMIZE_METRICS",
    "SKLEARN_METRICS",
    "XGBoost15Hyperparameters",
    "XGBoost30Hyperparameters",
    "XGBoostHyperparameters",
    "is_known_metric",
    "is_maximized",
    "metric_base",
]
