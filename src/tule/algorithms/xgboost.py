"""SageMaker's built-in XGBoost (`sagemaker-xgboost` in algorithm mode), trained by real XGBoost.

What the container does and we do (specs/algorithms.md §4): read the `train` and optional
`validation` channels (LibSVM when no content type is given; CSV with the label first and, with
`csv_weights=1`, the weight second; Parquet; RecordIO-protobuf), train with `xgboost.train` on a
watchlist of `train` then `validation`, print every round's scores as XGBoost does (the lines
the image's metric regexes read), stop early on the validation set when
`early_stopping_rounds` is set, and save `xgboost-model` in XGBoost's native format.
Hyperparameters are validated as the container's toolkit does (`xgboost_hyperparameters`),
metrics are defined in `xgboost_metrics`, inference in `xgboost_model`.

Multi-host training (`InstanceCount > 1`) is what the container does too: every host reads its
own shard of the channels and runs the same `xgboost.train` inside XGBoost's collective
communicator (`tule.algorithms.distributed.joined`), so XGBoost's distributed hist method builds
each tree from all hosts' histograms and its metrics are evaluated over all hosts' rows. The
scikit-learn metrics are computed on the rows gathered from every host, so they too are global
and every host's early stopping agrees. As in the container, only the master host (`algo-1`,
rank 0) prints the per-round lines and writes `xgboost-model`; the other hosts' models save
nothing (`ReplicaModel`). Not done: the container leaves hosts without data out of the group;
here every host must have rows in `train`.

Not here: k-fold cross-validation (`_kfold`, refused with a clear reason), checkpoints
(`/opt/ml/checkpoints` resume) and script mode (`sagemaker_program`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xgboost

from tule.algorithms.base import (
    Algorithm,
    AlgorithmError,
    ChannelData,
    ChannelSpec,
    HyperparameterError,
    Hyperparameters,
    MetricDefinition,
    Reporter,
    Resources,
)
from tule.algorithms.distributed import Collective, joined
from tule.algorithms.formats import Dataset
from tule.algorithms.xgboost_data import (
    DEFAULT_CONTENT_TYPE,
    TRAINING_CONTENT_TYPES,
    align_widths,
    check_channels,
    read_channel,
    release_in_background,
    watchlist,
    with_default_type,
)
from tule.algorithms.xgboost_hyperparameters import (
    HYPERPARAMETERS_BY_VERSION,
    SKLEARN_METRICS,
    XGBoostHyperparameters,
    is_maximized,
)
from tule.algorithms.xgboost_metrics import (
    RoundLogger,
    custom_metric,
    default_metric,
    format_round,
    metric_definitions,
    round_scores,
    sklearn_metric,
)
from tule.algorithms.xgboost_model import XGBoostModel, encode_csv, first_line
from tule.algorithms.xgboost_train_metrics import train_metrics
from tule.clock import Clock, SystemClock

# Hyperparameters that steer the container rather than XGBoost.
_CONTAINER_ONLY = frozenset(
    {
        "num_round",
        "eval_metric",
        "early_stopping_rounds",
        "csv_weights",
        "nthread",
        "save_model_on_termination",
        "use_dask_gpu_training",
        "_tuning_objective_metric",
        "_kfold",
        "_num_cv_round",
    }
)
# Parameters of the container's XGBoost versions that XGBoost 2+ removed; setting them changed
# nothing worth emulating (data split mode, predictor choice, sketch precision of the old
# approx method, gblinear's bias penalty, GPU histogram precision), so we log and drop them.
_REMOVED_UPSTREAM = frozenset(
    {
        "dsplit",
        "predictor",
        "sketch_eps",
        "lambda_bias",
        "deterministic_histogram",
        "prob_buffer_row",
        "single_precision_histogram",
    }
)
_XGBOOST_NAMES = {"reg_lambda": "lambda"}
_ONE_HOST = Resources()


class XGBoost(Algorithm):
    """The built-in XGBoost algorithm; `version` is the image tag (it only changes validation)."""

    name: ClassVar[str] = "xgboost"
    repositories: ClassVar[tuple[str, ...]] = ("sagemaker-xgboost", "xgboost")
    versions: ClassVar[tuple[str, ...]] = tuple(HYPERPARAMETERS_BY_VERSION)
    default_version: ClassVar[str] = "1.7-1"
    hyperparameters: ClassVar[type[Hyperparameters]] = XGBoostHyperparameters
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec("train", True, TRAINING_CONTENT_TYPES, DEFAULT_CONTENT_TYPE),
        ChannelSpec("validation", False, TRAINING_CONTENT_TYPES, DEFAULT_CONTENT_TYPE),
    )
    metrics: ClassVar[tuple[MetricDefinition, ...]] = metric_definitions()
    model_class: ClassVar[type[XGBoostModel]] = XGBoostModel
    # The server takes CSV, LibSVM and protobuf requests, never JSON (§4 Inference).
    request_content_types: ClassVar[tuple[str, ...]] = (
        "text/csv",
        "text/libsvm",
        "text/x-libsvm",
        "application/x-recordio-protobuf",
    )
    response_accept_types: ClassVar[tuple[str, ...]] = (
        "text/csv",
        "application/json",
        "application/jsonlines",
        "application/x-recordio-protobuf",
    )
    default_accept: ClassVar[str] = "text/csv"
    # An unparsable request body is a 415 from the XGBoost server (a 400 is a failed predict).
    decode_error_status: ClassVar[int] = 415

    def __init__(self, version: str | None = None, *, clock: Clock | None = None) -> None:
        version = version or self.default_version
        if version not in HYPERPARAMETERS_BY_VERSION:
            raise AlgorithmError(
                f"sagemaker-xgboost version {version} is not supported; "
                f"tule has {', '.join(self.versions)}."
            )
        self.version = version
        # Shadow the class attribute: the version picks the validator.
        self.hyperparameters = HYPERPARAMETERS_BY_VERSION[version]  # type: ignore[misc]
        self.clock = clock or SystemClock()

    # -- hooks of the conformance suite and the container ---------------------------------------

    @classmethod
    def example_hyperparameters(cls) -> dict[str, str]:
        # One eval metric: the image's `(\S+)` regexes then end at the end of the line.
        return {"num_round": "5", "objective": "binary:logistic", "eval_metric": "logloss"}

    @classmethod
    def example_data(cls, seed: int = 0) -> Mapping[str, Dataset]:
        rng = np.random.default_rng(seed)

        def rows(n: int) -> Dataset:
            x = rng.standard_normal((n, 6)).astype(np.float32)
            y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] > 0).astype(np.float32)
            return Dataset(x, y)

        return {"train": rows(200), "validation": rows(80)}

    @classmethod
    def emitted_metrics(
        cls, hyperparameters: Mapping[str, str], channels: Sequence[str]
    ) -> Sequence[str]:
        """`<channel>:<metric>` for each channel in the watchlist and each metric evaluated
        (eval_metric plus the tuning metric, else the objective's default metric)."""
        hp = cls.hyperparameters.parse(hyperparameters)
        assert isinstance(hp, XGBoostHyperparameters)
        metrics = hp.effective_eval_metrics() or [default_metric(hp.objective)]
        declared = set(cls.metric_names())
        return [
            f"{channel}:{metric}"
            for channel in ("train", "validation")
            if channel in channels
            for metric in metrics
            if f"{channel}:{metric}" in declared
        ]

    def encode_response(
        self, outputs: Mapping[str, np.ndarray], accept: str, options: Mapping[str, str]
    ) -> bytes | None:
        if accept == "text/csv":
            return encode_csv(outputs)
        return None

    # -- training -------------------------------------------------------------------------------

    def train(
        self,
        hyperparameters: Hyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources = _ONE_HOST,
    ) -> XGBoostModel:
        hp = hyperparameters
        if not isinstance(hp, XGBoostHyperparameters):
            raise TypeError("XGBoost.train needs XGBoostHyperparameters")
        channels = {name: with_default_type(ch) for name, ch in channels.items()}
        self.validate_channels(channels)
        check_channels(channels)
        if hp.early_stopping_rounds is not None and "validation" not in channels:
            raise HyperparameterError(
                "Validation channel is required when early_stopping_rounds is set."
            )

        # Joined before reading: XGBoost's matrices must be built inside the communicator (it
        # agrees on the feature count across hosts), and data loading then runs with no
        # bootstrap timeout ticking.
        with joined(resources) as collective:
            train = read_channel(channels["train"], bool(hp.csv_weights))
            self._info(
                reporter,
                f"Train matrix has {train.num_rows} rows and {train.num_features} columns",
            )
            validation = None
            if "validation" in channels:
                validation = read_channel(channels["validation"], bool(hp.csv_weights))
                self._info(reporter, f"Validation matrix has {validation.num_rows} rows")
            train, validation = align_widths(train, validation)

            params = self._xgboost_params(hp, resources, reporter)
            evals = watchlist(train, validation, params)
            # The parsed arrays are copied into XGBoost's matrices; drop them before training.
            del train, validation
            booster = self._train_booster(hp, params, evals[0][0], evals, reporter, collective)
            leader = collective.is_leader
            release_in_background(evals)
        return XGBoostModel(booster) if leader else ReplicaModel(booster)

    def _train_booster(
        self,
        hp: XGBoostHyperparameters,
        params: dict[str, Any],
        dtrain: xgboost.DMatrix,
        evals: list[tuple[xgboost.DMatrix, str]],
        reporter: Reporter,
        collective: Collective | None = None,
    ) -> xgboost.Booster:
        """`xgboost.train` with the container's watchlist, logging and early stopping.

        On several hosts every host makes this call inside the collective; XGBoost's
        EvaluationMonitor prints on rank 0 only, and so do we."""
        collective = collective or Collective()
        metrics = hp.effective_eval_metrics()
        callbacks: list[xgboost.callback.TrainingCallback] = []
        python_metrics = _sklearn_metrics(metrics, hp.objective, collective)
        native = [m for m in metrics if m not in SKLEARN_METRICS]
        fast_train = train_metrics(
            params,
            native or ([] if metrics else [default_metric(hp.objective)]),
            dtrain,
            distributed=collective.distributed,
            python_metrics=python_metrics is not None,
        )
        if fast_train is not None:
            # The training set's scores come from the booster's cached margins (see the module).
            callbacks.append(fast_train)
            evals = [(matrix, name) for matrix, name in evals if matrix is not dtrain]
        if collective.is_leader:
            callbacks.append(RoundLogger(reporter))
        stopping_metric = None
        if hp.early_stopping_rounds is not None:
            # Stop on the validation set, on the tuning objective when tuning, else on the last
            # metric listed (XGBoost's rule). XGBoost infers the direction of its own metrics;
            # the scikit-learn ones need it spelled out.
            stopping_metric = hp.tuning_metric() or (metrics[-1] if metrics else None)
            maximize = None
            if stopping_metric in SKLEARN_METRICS:
                maximize = is_maximized(stopping_metric)
            callbacks.append(
                xgboost.callback.EarlyStopping(
                    rounds=hp.early_stopping_rounds,
                    metric_name=stopping_metric,
                    data_name="validation",
                    maximize=maximize,
                )
            )
        history: dict[str, Any] = {}
        assert hp.num_round is not None  # required: the parser refused a map without it
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                booster = xgboost.train(
                    params,
                    dtrain,
                    num_boost_round=hp.num_round,
                    evals=evals,
                    evals_result=history,
                    verbose_eval=False,
                    callbacks=callbacks,
                    custom_metric=python_metrics,
                )
            except xgboost.core.XGBoostError as exc:
                if collective.distributed and "src/collective/" in str(exc):
                    # A peer left the group (it failed; its own log has the reason).
                    raise AlgorithmError(
                        "Distributed training lost contact with another host (it probably "
                        f"failed; its log says why): {first_line(str(exc))}",
                        client_error=False,
                    ) from None
                # Bad labels for the objective, bad constraint strings, ...: the user's data or
                # settings, reported as the container does with XGBoost's own sentence.
                raise AlgorithmError(first_line(str(exc)), client_error=True) from None
            except ValueError as exc:
                raise AlgorithmError(str(exc), client_error=True) from None
        for warning in caught:
            reporter.log(f"WARNING: {first_line(str(warning.message))}")
        if collective.is_leader:
            self._log_best(hp, booster, history, reporter)
        return booster

    def _log_best(
        self,
        hp: XGBoostHyperparameters,
        booster: xgboost.Booster,
        history: Mapping[str, Any],
        reporter: Reporter,
    ) -> None:
        """After an early stop, repeat the best round's line as XGBoost's classic early-stopping
        message did, so the last value the metric regexes see is the best one."""
        if hp.early_stopping_rounds is None or booster.attr("best_iteration") is None:
            return
        if booster.num_boosted_rounds() >= (hp.num_round or 0):
            return  # ran every round: nothing stopped
        best = int(booster.attr("best_iteration"))  # type: ignore[arg-type]
        reporter.log("Stopping. Best iteration:")
        reporter.log(format_round(best, round_scores(history, best)))

    def _xgboost_params(
        self, hp: XGBoostHyperparameters, resources: Resources, reporter: Reporter
    ) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name in hp.specs():
            value = getattr(hp, name)
            if value is None or name in _CONTAINER_ONLY:
                continue
            if name in _REMOVED_UPSTREAM:
                reporter.log(
                    f"WARNING: Hyperparameter {name} has no effect with XGBoost "
                    f"{xgboost.__version__} (removed upstream); ignoring it."
                )
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = int(value)
            params[_XGBOOST_NAMES.get(name, name)] = value
        if params.get("tree_method") == "gpu_hist":
            # No GPU build here: the CPU histogram method grows the same kind of trees.
            reporter.log("WARNING: tree_method gpu_hist needs a GPU; training with hist on CPU.")
            params["tree_method"] = "hist"
        if params.get("objective") == "reg:linear":
            params["objective"] = "reg:squarederror"  # the deprecated name of the same loss
        # The container uses every core unless told otherwise; here the job's share caps it.
        cpus = max(1, int(resources.num_cpus))
        params["nthread"] = min(hp.nthread or cpus, cpus)
        metrics = hp.effective_eval_metrics()
        native = [m for m in metrics if m not in SKLEARN_METRICS]
        if native:
            params["eval_metric"] = native
        elif metrics:
            # Only scikit-learn metrics asked for: do not add the objective's default metric.
            params["disable_default_eval_metric"] = 1
        return params

    def _info(self, reporter: Reporter, message: str) -> None:
        # The container's Python logging format: [2024-05-01:12:00:00:INFO] message
        stamp = self.clock.now().strftime("%Y-%m-%d:%H:%M:%S")
        reporter.log(f"[{stamp}:INFO] {message}")


class ReplicaModel(XGBoostModel):
    """The model on a host other than the master of a multi-host job: the same booster, but
    `save` writes nothing, because the container saves `xgboost-model` on the master only."""

    def save(self, model_dir: Path) -> None:
        return None


def _sklearn_metrics(metrics: list[str], objective: str, collective: Collective) -> Any:
    wanted = [m for m in metrics if m in SKLEARN_METRICS]
    if not wanted:
        return None
    if not collective.distributed:
        return custom_metric(metrics, objective)

    def evaluate(predictions: np.ndarray, data: xgboost.DMatrix) -> list[tuple[str, float]]:
        # XGBoost reduces its own metrics across hosts but calls a Python metric on the local
        # rows only. These metrics are not sums (f1, r2, balanced accuracy), so gather every
        # host's labels and predictions and score the union: the same value on every host,
        # equal to a one-host run's, which early stopping needs to stop everywhere at once.
        # One gather of rows [label, weight, has weights, prediction...].
        local = np.asarray(predictions, dtype=np.float64)
        rows = local.shape[0]
        weights = data.get_weight().astype(np.float64)
        packed = np.column_stack(
            [
                data.get_label().astype(np.float64),
                weights if weights.size else np.ones(rows),
                np.full(rows, float(weights.size > 0)),
                local.reshape(rows, -1),
            ]
        )
        union = np.concatenate(collective.allgather(packed))
        labels = union[:, 0]
        w = union[:, 1] if union[:, 2].any() else None
        predicted = union[:, 3:] if local.ndim > 1 else union[:, 3]
        return [(n, sklearn_metric(n, objective, labels, predicted, w)) for n in wanted]

    return evaluate


__all__ = ["DEFAULT_CONTENT_TYPE", "TRAINING_CONTENT_TYPES", "ReplicaModel", "XGBoost"]
