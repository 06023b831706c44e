"""SageMaker's built-in Linear Learner (`linear-learner`), trained for real with torch.

What the container does and we do (specs/algorithms.md §1): read `train` (required) and the
optional `validation` and `test` channels (RecordIO-protobuf when no content type is given, or
CSV with the label first); learn feature (and, for regression, label) statistics from the first
`num_point_for_scaler` rows; train `num_models` linear models at once by minibatch SGD / Adam /
RMSProp with different learning rates, L1, L2 and schedules (`linear_learner_training`);
log each epoch's objective (model 0, as the container does), the early-stopping criterion (the
best model's) and throughput; keep the best epoch; pick the best model and the binary
threshold on the validation data (the training data when there is none) by
`binary_classifier_model_selection_criteria`; log the final train / validation / test scores;
and save the selected model as `model_algo-1` (`linear_learner_model`).

Multi-host training (`InstanceCount > 1`, `train` ShardedByS3Key) is data-parallel, as
SageMaker's: every host trains the same parallel models on its shard, each step with the
gradient of all hosts' minibatches, and the scaler, label counts, epoch objectives, threshold
search and model selection are combined over the hosts (`linear_learner_distributed`); only
`algo-1` writes `model_algo-1`.

Not here: checkpoints under managed spot training, and
streaming a channel larger than memory (channels are read whole; SageMaker also requires the
input to be pre-shuffled, tule shuffles it once with a fixed seed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
import torch

from tule.algorithms import im_family
from tule.algorithms.base import (
    Algorithm,
    ChannelData,
    ChannelSpec,
    Direction,
    Hyperparameters,
    MetricDefinition,
    Reporter,
    Resources,
)
from tule.algorithms.distributed import joined
from tule.algorithms.formats import CSV, RECORDIO_PROTOBUF, Dataset
from tule.algorithms.linear_learner_hyperparameters import (
    LinearLearnerHyperparameters,
)
from tule.algorithms.linear_learner_job import TrainingJob
from tule.algorithms.linear_learner_model import LinearLearnerModel

_TRAINING_TYPES = (RECORDIO_PROTOBUF, CSV)
_ONE_HOST = Resources()
_EXAMPLE_FEATURES = 5
# Which predictor type logs each metric (the rest every run logs).
_METRIC_KINDS = {
    **dict.fromkeys(
        ("binary_classification_accuracy", "binary_f_beta", "precision", "recall", "roc_auc_score"),
        "binary_classifier",
    ),
    **dict.fromkeys(("mse", "absolute_loss", "rmse"), "regressor"),
    **dict.fromkeys(
        (
            "multiclass_accuracy",
            "multiclass_top_k_accuracy",
            "macro_precision",
            "macro_recall",
            "macro_f_beta",
            "dcg",
        ),
        "multiclass_classifier",
    ),
}


def _quality(channel: str, what: str, kind: str) -> str:
    return rf"#quality_metric: host=\S+, {channel} {what} <{kind}>=(\S+)"


def _definitions() -> tuple[MetricDefinition, ...]:
    """The regexes SageMaker attaches to the linear-learner image (spec §1 Metrics)."""
    mx, mn = Direction.MAXIMIZE, Direction.MINIMIZE
    out = [
        im_family.PROGRESS,
        im_family.THROUGHPUT,
        MetricDefinition(
            "train:objective_loss",
            r"#quality_metric: host=\S+, epoch=\S+, train \S+_objective <loss>=(\S+)",
        ),
        MetricDefinition("train:objective_loss:final", _quality("train", r"\S+_objective", "loss")),
        MetricDefinition(
            "train:binary_classification_accuracy",
            _quality("train", "binary_classification_accuracy", "score"),
        ),
        MetricDefinition("train:binary_f_beta", _quality("train", r"binary_f_\S+", "score")),
        MetricDefinition("train:precision", _quality("train", "precision", "score")),
        MetricDefinition("train:recall", _quality("train", "recall", "score")),
        MetricDefinition("train:mse", _quality("train", "mse", "loss")),
        MetricDefinition("train:absolute_loss", _quality("train", "absolute_loss", "loss")),
        MetricDefinition(
            "validation:objective_loss",
            r"#quality_metric: host=\S+, epoch=\S+, validation \S+_objective <loss>=(\S+)",
            mn,
        ),
        MetricDefinition(
            "validation:objective_loss:final",
            _quality("validation", r"\S+_objective", "loss"),
        ),
    ]
    # Final scores of the validation and test channels; validation ones are tunable.
    shared = [
        ("binary_classification_accuracy", "binary_classification_accuracy", "score", mx),
        ("binary_f_beta", r"binary_f_\S+", "score", mx),
        ("precision", "precision", "score", mx),
        ("recall", "recall", "score", mx),
        # roc_auc_score is doc-listed as tunable but absent from the image's dump; the test
        # line is observed in logs, so its regex is the analogous one.
        ("roc_auc_score", "roc_auc_score", "score", mx),
        ("mse", "mse", "loss", mn),
        ("absolute_loss", "absolute_loss", "loss", mn),
        ("multiclass_accuracy", "multiclass_accuracy", "score", mx),
        ("multiclass_top_k_accuracy", r"multiclass_top_k_accuracy_\S+", "score", mx),
        ("macro_precision", "macro_precision", "score", mx),
        ("macro_recall", "macro_recall", "score", mx),
        ("macro_f_beta", r"macro_f_\S+", "score", mx),
        ("dcg", "dcg", "score", mx),
    ]
    for name, pattern, kind, direction in shared:
        out.append(
            MetricDefinition(f"validation:{name}", _quality("validation", pattern, kind), direction)
        )
    # validation:rmse is doc-listed as tunable (Minimize); its regex is not in the dump.
    out.append(MetricDefinition("validation:rmse", _quality("validation", "rmse", "loss"), mn))
    out.append(
        MetricDefinition("test:objective_loss", _quality("test", r"\S+_objective", "loss"), mn)
    )
    for name, pattern, kind, direction in shared:
        out.append(MetricDefinition(f"test:{name}", _quality("test", pattern, kind), direction))
    return tuple(out)


class LinearLearner(Algorithm):
    """Binary, multiclass and regression linear models (SageMaker Linear Learner)."""

    name: ClassVar[str] = "linear-learner"
    repositories: ClassVar[tuple[str, ...]] = ("linear-learner",)
    hyperparameters: ClassVar[type[Hyperparameters]] = LinearLearnerHyperparameters
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec("train", True, _TRAINING_TYPES, RECORDIO_PROTOBUF),
        ChannelSpec("validation", False, _TRAINING_TYPES, RECORDIO_PROTOBUF),
        ChannelSpec("test", False, _TRAINING_TYPES, RECORDIO_PROTOBUF),
    )
    metrics: ClassVar[tuple[MetricDefinition, ...]] = _definitions()
    model_class = LinearLearnerModel
    request_content_types: ClassVar[tuple[str, ...]] = (
        CSV,
        "application/json",
        "application/jsonlines",
        RECORDIO_PROTOBUF,
    )
    response_accept_types: ClassVar[tuple[str, ...]] = (
        "application/json",
        "application/jsonlines",
        RECORDIO_PROTOBUF,
    )
    default_accept: ClassVar[str] = "application/json"

    @classmethod
    def example_hyperparameters(cls) -> dict[str, str]:
        return {
            "predictor_type": "binary_classifier",
            "feature_dim": str(_EXAMPLE_FEATURES),
            "mini_batch_size": "50",
            "epochs": "5",
        }

    @classmethod
    def example_data(cls, seed: int = 0) -> Mapping[str, Dataset]:
        """A noisy linear binary problem: train, validation and test channels."""
        rng = np.random.default_rng(seed)
        truth = np.linspace(-1.5, 1.5, _EXAMPLE_FEATURES)
        out = {}
        for channel, rows in (("train", 300), ("validation", 100), ("test", 100)):
            x = rng.standard_normal((rows, _EXAMPLE_FEATURES)).astype(np.float32)
            y = (x @ truth + 0.5 * rng.standard_normal(rows) > 0).astype(np.float32)
            out[channel] = Dataset(x, y)
        return out

    @classmethod
    def emitted_metrics(
        cls, hyperparameters: Mapping[str, str], channels: Sequence[str]
    ) -> Sequence[str]:
        """The declared metrics a run logs: those of its predictor type, for its channels."""
        kind = hyperparameters.get("predictor_type", "")
        names = []
        for metric in cls.metrics:
            channel, _, what = metric.name.partition(":")
            if channel not in channels or _METRIC_KINDS.get(what, kind) != kind:
                continue
            names.append(metric.name)
        return names

    def train(
        self,
        hyperparameters: Hyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources = _ONE_HOST,
    ) -> LinearLearnerModel:
        assert isinstance(hyperparameters, LinearLearnerHyperparameters)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, resources.num_cpus))
        # Adam's second-moment estimates decay towards denormal floats, which x86 handles
        # orders of magnitude slower; flush them to zero while training (torch's default,
        # restored afterwards, is not to).
        flushing = torch.set_flush_denormal(True)
        try:
            with joined(resources) as collective:
                job = TrainingJob(hyperparameters, channels, reporter, resources, collective)
                return job.execute()
        finally:
            torch.set_num_threads(previous_threads)
            if flushing:
                torch.set_flush_denormal(False)


__all__ = ["LinearLearner", "LinearLearnerHyperparameters", "LinearLearnerModel"]
