"""Linear Learner's hyperparameters, and how their `auto` values become a training plan.

The table is the container's `default-input.json` as its logs print it ("Final configuration:
{... 'num_models': 'auto', 'epochs': '15', 'num_calibration_samples': '10000000', ...}") with
the valid values of the SageMaker documentation and the SDK's checks (specs/algorithms.md §1).
Validation follows the IM family's JSON schema (`ValidationStyle.JSON_SCHEMA`).

`auto` resolution. SageMaker does not publish its rules; what its logs show is that every one
of the parallel models (32 by default: the per-model metric records run from `"model": 0` to
`"model": 31`) gets its own optimiser settings, and the winner is reported with settings such
as `"learning_rate": 0.0358, "l1": 0.373, "wd": 0.00204, "lr_scheduler_step": 153,
"lr_scheduler_factor": 0.9896, "lr_scheduler_minimum_lr": 2.29e-05` — sampled values — or
round ones (`"lr_scheduler_step": 10, "lr_scheduler_factor": 0.99`). So model 0 trains with
the given values (round defaults where `auto`), and each other model draws every `auto`
setting from a seeded log-uniform range around them; values the user set are shared by all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tule.algorithms.base import HyperparameterError, Hyperparameters, hp
from tule.algorithms.linear_learner_losses import (
    ALL_LOSSES,
    ALLOWED_LOSSES,
    AUTO_LOSS,
    LossParams,
)
from tule.algorithms.linear_learner_metrics import Criterion
from tule.algorithms.linear_learner_training import ModelSettings, TrainingPlan

PREDICTOR_TYPES = ("binary_classifier", "multiclass_classifier", "regressor")
SELECTION_CRITERIA = (
    "accuracy",
    "f_beta",
    "precision_at_target_recall",
    "recall_at_target_precision",
    "loss_function",
    # Legacy values the SDK still accepts.
    "f1",
    "cross_entropy_loss",
)
AUTO = ("auto",)
DEFAULT_NUM_MODELS = 32
SEED = 0

# Round values model 0 uses when a setting is `auto`.
_NOMINAL_LR = {"adam": 0.02, "rmsprop": 0.01, "sgd": 0.05}
_NOMINAL_WD = 1e-5
_NOMINAL_MOMENTUM = 0.9
_NOMINAL_SCHEDULE = (10, 0.99, 1e-5)  # step, factor, minimum_lr (as in the SageMaker log)


@dataclass(frozen=True)
class LinearLearnerHyperparameters(Hyperparameters):
    """The `linear-learner` image's hyperparameters (SageMaker names and defaults)."""

    predictor_type: str | None = hp(None, required=True, choices=PREDICTOR_TYPES)
    num_classes: int = hp(1, minimum=1, maximum=1_000_000)
    feature_dim: int | str = hp("auto", minimum=1, allow=AUTO)
    mini_batch_size: int = hp(1000, minimum=1, tunable=True)
    epochs: int = hp(15, minimum=1)
    accuracy_top_k: int = hp(3, minimum=1, maximum=1_000_000)
    balance_multiclass_weights: bool = hp(False)
    beta_1: float | str = hp(
        "auto", minimum=0, maximum=1, exclusive_maximum=True, allow=AUTO, tunable=True
    )
    beta_2: float | str = hp(
        "auto", minimum=0, maximum=1, exclusive_maximum=True, allow=AUTO, tunable=True
    )
    bias_lr_mult: float | str = hp(
        "auto", minimum=0, exclusive_minimum=True, allow=AUTO, tunable=True
    )
    bias_wd_mult: float | str = hp("auto", minimum=0, allow=AUTO, tunable=True)
    binary_classifier_model_selection_criteria: str = hp("accuracy", choices=SELECTION_CRITERIA)
    early_stopping_patience: int = hp(3, minimum=1)
    early_stopping_tolerance: float = hp(0.001, minimum=0, exclusive_minimum=True)
    f_beta: float = hp(1.0, minimum=0, exclusive_minimum=True)
    huber_delta: float = hp(1.0, minimum=0)
    init_bias: float = hp(0.0)
    init_method: str = hp("uniform", choices=("uniform", "normal"))
    init_scale: float = hp(0.07, minimum=0, exclusive_minimum=True)
    init_sigma: float = hp(0.01, minimum=0, exclusive_minimum=True)
    l1: float | str = hp("auto", minimum=0, allow=AUTO, tunable=True)
    learning_rate: float | str = hp(
        "auto", minimum=0, exclusive_minimum=True, allow=AUTO, tunable=True
    )
    loss: str = hp("auto", choices=ALL_LOSSES)
    loss_insensitivity: float = hp(0.01, minimum=0, exclusive_minimum=True)
    lr_scheduler_factor: float | str = hp(
        "auto", minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True, allow=AUTO
    )
    lr_scheduler_minimum_lr: float | str = hp("auto", minimum=0, exclusive_minimum=True, allow=AUTO)
    lr_scheduler_step: int | str = hp("auto", minimum=1, allow=AUTO)
    margin: float = hp(1.0, minimum=0)
    momentum: float | str = hp("auto", minimum=0, maximum=1, exclusive_maximum=True, allow=AUTO)
    normalize_data: bool | str = hp(True, allow=AUTO)
    normalize_label: bool | str = hp("auto", allow=AUTO)
    num_calibration_samples: int | str = hp(10_000_000, minimum=1, allow=AUTO)
    num_models: int | str = hp("auto", minimum=1, allow=AUTO)
    num_point_for_scaler: int = hp(10_000, minimum=1)
    optimizer: str = hp("auto", choices=("auto", "sgd", "adam", "rmsprop"))
    positive_example_weight_mult: float | str = hp(
        1.0, minimum=0, exclusive_minimum=True, allow=("auto", "balanced")
    )
    quantile: float = hp(0.5, minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True)
    target_precision: float = hp(
        0.8, minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True
    )
    target_recall: float = hp(
        0.8, minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True
    )
    unbias_data: bool | str = hp("auto", allow=AUTO)
    unbias_label: bool | str = hp("auto", allow=AUTO)
    use_bias: bool = hp(True)
    use_lr_scheduler: bool = hp(True)
    wd: float | str = hp("auto", minimum=0, allow=AUTO, tunable=True)
    # Injected by SageMaker into every job a tuning job launches (spec §0.1); Linear Learner
    # then trains a single model ("This sets the number of parallel models, num_models, to 1.
    # The algorithm ignores any value that you set for num_models" — tuning docs).
    _tuning_objective_metric: str = hp("")

    def __post_init__(self) -> None:
        kind = self.predictor_type
        if kind == "multiclass_classifier" and self.num_classes < 3:
            # The SDK's own check, raised before a job is created; the container rejects the
            # same configuration.
            raise HyperparameterError(
                "For predictor_type 'multiclass_classifier', 'num_classes' should be set to a "
                "value greater than 2."
            )
        if kind is not None and self.loss != "auto" and self.loss not in ALLOWED_LOSSES[kind]:
            allowed = ", ".join(ALLOWED_LOSSES[kind])
            raise HyperparameterError(
                f"Loss '{self.loss}' is not supported for predictor_type '{kind}'. "
                f"Supported losses: auto, {allowed}."
            )

    # -- resolved values --------------------------------------------------------------------

    @property
    def resolved_loss(self) -> str:
        return AUTO_LOSS[str(self.predictor_type)] if self.loss == "auto" else self.loss

    @property
    def resolved_optimizer(self) -> str:
        return "adam" if self.optimizer == "auto" else self.optimizer

    @property
    def resolved_num_models(self) -> int:
        if self._tuning_objective_metric:
            return 1
        return DEFAULT_NUM_MODELS if self.num_models == "auto" else int(self.num_models)

    @property
    def resolved_calibration_samples(self) -> int:
        n = self.num_calibration_samples
        return 10_000_000 if n == "auto" else int(n)

    @property
    def outputs(self) -> int:
        return self.num_classes if self.predictor_type == "multiclass_classifier" else 1

    def criterion(self) -> Criterion:
        return Criterion(
            self.binary_classifier_model_selection_criteria,
            beta=self.f_beta,
            target_recall=self.target_recall,
            target_precision=self.target_precision,
        )

    def loss_params(self) -> LossParams:
        return LossParams(
            margin=self.margin,
            quantile=self.quantile,
            loss_insensitivity=self.loss_insensitivity,
            huber_delta=self.huber_delta,
        )

    def normalisation(self, sparse: bool) -> tuple[bool, bool, bool, bool]:
        """(shift features, scale features, shift label, scale label).

        `auto` as documented: scale features always, shift them only for dense data and when
        the model has a bias to absorb the shift; shift and scale the label for regression.
        """
        scale_x = self.normalize_data is not False
        shift_x = self.unbias_data is True or (
            self.unbias_data == "auto" and scale_x and self.use_bias and not sparse
        )
        regression = self.predictor_type == "regressor"
        scale_y = regression and (self.normalize_label is True or self.normalize_label == "auto")
        shift_y = regression and (
            self.unbias_label is True or (self.unbias_label == "auto" and scale_y and self.use_bias)
        )
        return bool(shift_x), bool(scale_x), bool(shift_y), bool(scale_y)


def _auto(value: object) -> bool:
    return value == "auto"


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _model_settings(
    params: LinearLearnerHyperparameters, optimizer: str, positive_mults: list[float]
) -> tuple[ModelSettings, ...]:
    rng = np.random.default_rng(SEED)
    nominal_lr = _NOMINAL_LR[optimizer]
    step0, factor0, min_lr0 = _NOMINAL_SCHEDULE
    settings = []
    for index in range(params.resolved_num_models):
        first = index == 0
        # Draw every sample in a fixed order so a setting's values do not depend on which
        # other settings are `auto`.
        draws = {
            "lr": _log_uniform(rng, nominal_lr / 10, nominal_lr * 10),
            "wd": _log_uniform(rng, 1e-7, 1e-1),
            "l1_on": rng.uniform() < 0.5,
            "l1": _log_uniform(rng, 1e-7, 1e-2),
            "step": round(_log_uniform(rng, 10, 1000)),
            "factor": float(rng.uniform(0.95, 0.999)),
            "min_lr": _log_uniform(rng, 1e-6, 1e-4),
        }

        def pick(
            value: object, nominal: float, key: str, first: bool = first, draws: dict = draws
        ) -> float:
            if not _auto(value):
                return float(value)  # type: ignore[arg-type]
            return nominal if first else float(draws[key])

        settings.append(
            ModelSettings(
                learning_rate=pick(params.learning_rate, nominal_lr, "lr"),
                wd=pick(params.wd, _NOMINAL_WD, "wd"),
                l1=(
                    float(params.l1)  # type: ignore[arg-type]
                    if not _auto(params.l1)
                    else (0.0 if first or not draws["l1_on"] else draws["l1"])
                ),
                lr_scheduler_step=int(pick(params.lr_scheduler_step, step0, "step")),
                lr_scheduler_factor=pick(params.lr_scheduler_factor, factor0, "factor"),
                lr_scheduler_minimum_lr=pick(params.lr_scheduler_minimum_lr, min_lr0, "min_lr"),
                positive_example_weight_mult=positive_mults[index % len(positive_mults)],
            )
        )
    return tuple(settings)


def label_counts(params: LinearLearnerHyperparameters, labels: np.ndarray) -> np.ndarray | None:
    """How many rows carry each class label (0 ... classes - 1); None for a regressor.

    The positive-class and class weights depend on the labels only through these counts, so a
    multi-host job sums every host's counts and plans from those."""
    if params.predictor_type == "regressor":
        return None
    classes = params.num_classes if params.predictor_type == "multiclass_classifier" else 2
    return np.bincount(labels.astype(np.int64), minlength=classes).astype(np.float64)


def _positive_mults(params: LinearLearnerHyperparameters, counts: np.ndarray | None) -> list[float]:
    """The positive-class weight per model (a cycle); binary classifiers only."""
    if params.predictor_type != "binary_classifier" or counts is None:
        return [1.0]
    positives = float(counts[1])
    negatives = float(counts.sum()) - positives
    # `balanced`: "errors in classifying negative vs. positive examples have equal impact on
    # training loss" — weight positives by the negative/positive ratio.
    balanced = negatives / positives if positives > 0 and negatives > 0 else 1.0
    mult = params.positive_example_weight_mult
    if mult == "balanced":
        return [balanced]
    if mult == "auto":
        # "the algorithm chooses the weight that optimizes performance": half the parallel
        # models train unweighted and half balanced; model selection picks between them.
        return [1.0, balanced]
    return [float(mult)]  # type: ignore[arg-type]


def _class_weights(
    params: LinearLearnerHyperparameters, counts: np.ndarray | None
) -> np.ndarray | None:
    """`balance_multiclass_weights`: "class weights, which give each class equal importance
    in the loss function" — inverse class frequency, normalised so the mean row weight is 1."""
    if params.predictor_type != "multiclass_classifier" or not params.balance_multiclass_weights:
        return None
    assert counts is not None
    present = counts > 0
    weights = np.ones(params.num_classes)
    weights[present] = float(counts.sum()) / (present.sum() * counts[present])
    return weights


def build_plan(
    params: LinearLearnerHyperparameters,
    labels: np.ndarray,
    num_rows: int,
    *,
    counts: np.ndarray | None = None,
) -> TrainingPlan:
    """Resolve every `auto` against the training labels into a `TrainingPlan`.

    `counts` (`label_counts`) stand in for `labels` when given: a multi-host job passes the
    counts of every host's labels. `num_rows` caps the minibatch size."""
    if counts is None:
        counts = label_counts(params, labels)
    optimizer = params.resolved_optimizer
    momentum = params.momentum
    if _auto(momentum):
        momentum = _NOMINAL_MOMENTUM if optimizer == "sgd" else 0.0
    return TrainingPlan(
        loss=params.resolved_loss,
        loss_params=params.loss_params(),
        outputs=params.outputs,
        optimizer=optimizer,
        models=_model_settings(params, optimizer, _positive_mults(params, counts)),
        epochs=params.epochs,
        # A minibatch larger than the data is the whole data set.
        mini_batch_size=max(1, min(params.mini_batch_size, num_rows)),
        use_bias=params.use_bias,
        use_lr_scheduler=params.use_lr_scheduler,
        beta_1=0.9 if _auto(params.beta_1) else float(params.beta_1),  # type: ignore[arg-type]
        beta_2=0.999 if _auto(params.beta_2) else float(params.beta_2),  # type: ignore[arg-type]
        momentum=float(momentum),  # type: ignore[arg-type]
        bias_lr_mult=1.0 if _auto(params.bias_lr_mult) else float(params.bias_lr_mult),  # type: ignore[arg-type]
        # "By default, the bias term is not regularized" (bias_wd_mult docs).
        bias_wd_mult=0.0 if _auto(params.bias_wd_mult) else float(params.bias_wd_mult),  # type: ignore[arg-type]
        init_method=params.init_method,
        init_scale=params.init_scale,
        init_sigma=params.init_sigma,
        init_bias=params.init_bias,
        class_weights=_class_weights(params, counts),
        seed=SEED,
    )
