"""One Linear Learner training job, from channel files to the selected model and its scores.

The container's sequence (specs/algorithms.md §1, and its logs): read the channels; learn the
scaler from the first `num_point_for_scaler` rows; train all parallel models epoch by epoch,
logging model 0's train (and validation) objective, each model's objective as a `#metrics`
record, the early-stopping criterion (the best model's value: `sampled_accuracy` for a binary
classifier with validation data, else the objective), "Epoch <e>: Loss improved. Updating best
model", progress and throughput; stop early after `early_stopping_patience` epochs without a
relative improvement of `early_stopping_tolerance`; go back to the best epoch; pick the best
model and its threshold on the validation data (else the training data); log the final scores
of train, validation and test; report "Best model found for hyperparameters: {...}".

On several hosts each step above that reads data combines every host's part of it
(`linear_learner_distributed.Hosts`), so every host logs the same values, stops at the same
epoch and selects the same model and threshold; only the master's model is saved.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from tule.algorithms.base import ChannelData, DataError, Reporter, Resources
from tule.algorithms.distributed import Collective
from tule.algorithms.linear_learner_data import read_channel
from tule.algorithms.linear_learner_distributed import Hosts
from tule.algorithms.linear_learner_hyperparameters import (
    LinearLearnerHyperparameters,
    build_plan,
    label_counts,
)
from tule.algorithms.linear_learner_losses import OBJECTIVE_NAMES
from tule.algorithms.linear_learner_metrics import (
    THRESHOLD_CRITERIA,
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
)
from tule.algorithms.linear_learner_model import LinearLearnerModel
from tule.algorithms.linear_learner_scaling import Features, Scaler
from tule.algorithms.linear_learner_training import (
    EpochReport,
    ParallelModels,
    Trainer,
    TrainingPlan,
)

# Rows of validation data the per-epoch "sampled_<criterion>" early-stopping metric uses.
_EARLY_STOPPING_SAMPLE = 10_000
# Multiply-adds per minibatch worth one more intra-op thread (see `TrainingJob.execute`).
_WORK_PER_THREAD = 4_000_000


def _summary(values: np.ndarray, shown: int = 20) -> list[float] | str:
    """A vector for the log: in full when short, else its first entries and its length."""
    if values.size <= shown:
        return [round(float(v), 6) for v in values]
    return f"{[round(float(v), 6) for v in values[:shown]]} ... ({values.size} values)"


@dataclass
class _Split:
    """One channel's data after normalisation (features) with raw labels."""

    features: Features
    labels: np.ndarray

    def head(self, rows: int) -> _Split:
        return _Split(self.features[:rows], self.labels[:rows])


class TrainingJob:
    """One training job: reading, normalising, the epoch loop, selection and final scores."""

    def __init__(
        self,
        params: LinearLearnerHyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources,
        collective: Collective | None = None,
    ) -> None:
        self.params = params
        self.channels = channels
        self.reporter = reporter
        self.host = resources.current_host
        self.num_cpus = max(1, resources.num_cpus)
        self.kind = str(params.predictor_type)
        self.objective = OBJECTIVE_NAMES[params.resolved_loss]
        self.hosts = Hosts(collective)

    def log(self, line: str) -> None:
        self.reporter.log(line)

    def quality(self, channel: str, name: str, value: float, epoch: int | None = None) -> None:
        # `<loss>` marks minimised quantities, `<score>` maximised ones (spec §0.4).
        kind = (
            "loss"
            if name.endswith("_objective") or name in ("mse", "rmse", "absolute_loss")
            else "score"
        )
        where = f"epoch={epoch}, " if epoch is not None else ""
        self.log(f"#quality_metric: host={self.host}, {where}{channel} {name} <{kind}>={value}")

    def per_model(self, channel: str, values: np.ndarray, epoch: int) -> None:
        """One `#metrics` record per parallel model, shaped like the container's."""
        now = time.time()
        for index, value in enumerate(values.tolist()):
            record = {
                "Metrics": {
                    f"{channel}_{self.objective}": {
                        "count": 1,
                        "max": value,
                        "sum": value,
                        "min": value,
                    }
                },
                "EndTime": now,
                "Dimensions": {
                    "model": index,
                    "Host": self.host,
                    "Operation": "training",
                    "Algorithm": "Linear Learner",
                    "epoch": epoch,
                },
                "StartTime": now,
            }
            self.log("#metrics " + json.dumps(record))

    # -- the job ----------------------------------------------------------------------------

    def execute(self) -> LinearLearnerModel:
        params = self.params
        if "train" not in self.channels:
            raise DataError("No data was provided for the required channel 'train'.")
        train = read_channel(self.channels, "train", self.params)
        assert train is not None and train.labels is not None
        if train.num_rows == 0:
            raise DataError("Channel 'train' has no records.")
        dim = train.num_features
        self.hosts.check_features("train", dim)
        validation, test = (
            read_channel(self.channels, "validation", self.params),
            read_channel(self.channels, "test", self.params),
        )
        for name, other in (("validation", validation), ("test", test)):
            if other is not None and other.num_features != train.num_features:
                raise DataError(
                    f"Channel '{name}' has {other.num_features} features but 'train' has "
                    f"{train.num_features}."
                )

        # SageMaker requires shuffled input ("if the data is ordered by label ... the algorithm
        # fails"); one seeded shuffle makes tule robust to ordered files and stays repeatable.
        order = np.random.default_rng(0).permutation(train.num_rows)
        labels = train.labels[order]

        # On several hosts each takes its share of the sample; the statistics are global.
        sample = self.hosts.share(params.num_point_for_scaler)
        sparse = sp.issparse(train.features)
        shift_x, scale_x, shift_y, scale_y = params.normalisation(sparse)
        scaler = self.hosts.fit_scaler(
            train.features[order[:sample]],
            labels[:sample],
            shift_features=shift_x,
            scale_features=scale_x,
            shift_label=shift_y,
            scale_label=scale_y,
        )
        # The container prints the statistics it learned (`stdev_weight`, `mean_weight`,
        # `stdev_label`, `mean_label`; None where it does not normalise).
        self.log(
            "Scaling model computed with parameters: "
            + json.dumps(
                {
                    "stdev_weight": _summary(scaler.feature_scale) if scale_x else None,
                    "stdev_label": scaler.label_scale if scale_y else None,
                    "mean_label": scaler.label_shift if shift_y else None,
                    "mean_weight": _summary(scaler.feature_shift) if shift_x else None,
                }
            )
        )
        # Training rows carry a constant-1 column so the bias trains inside the same product.
        train_split = _Split(
            scaler.transform_features(train.features, order=order, bias_column=params.use_bias),
            labels,
        )
        del train  # the raw copy is no longer needed
        val_split = (
            None
            if validation is None
            else _Split(scaler.transform_features(validation.features), validation.labels)
        )
        counts = self.hosts.label_counts(label_counts(params, labels))
        plan = build_plan(params, labels, labels.size, counts=counts)
        # Intra-op threads only pay off when a minibatch's products are large: on small ones
        # the threads' hand-offs cost more than they save (and stall badly on a busy host).
        work = plan.mini_batch_size * (dim + 1) * plan.num_models * plan.outputs
        torch.set_num_threads(min(self.num_cpus, max(1, work // _WORK_PER_THREAD)))
        self.log(
            f"Training {plan.num_models} models in parallel ({plan.optimizer}, "
            f"{self.params.resolved_loss})."
        )

        trainer = Trainer(plan, dim, self.hosts.collective)
        best = self.epochs(plan, trainer, train_split, val_split, scaler)

        calibration_rows = self.hosts.share(params.resolved_calibration_samples)
        calibration = (val_split or train_split).head(calibration_rows)
        chosen, threshold = self.select(plan, best, calibration, scaler)
        weights, bias = best.select(chosen)
        raw_w, raw_b = scaler.unscale(weights, bias)
        model = LinearLearnerModel(
            predictor_type=self.kind,
            loss=plan.loss,
            weights=raw_w,
            bias=raw_b,
            threshold=threshold,
            info={
                "feature_dim": dim,
                "num_classes": params.num_classes,
                "selected_model": chosen,
                "hyperparameters": plan.models[chosen].describe(plan.optimizer),
                "label_scaler": {"shift": scaler.label_shift, "scale": scaler.label_scale},
            },
            replica=not self.hosts.is_leader,
        )

        self.final_scores(
            "train",
            model,
            train_split.head(calibration_rows),
            best,
            chosen,
            scaler,
            plan,
        )
        if val_split is not None:
            self.final_scores("validation", model, val_split, best, chosen, scaler, plan)
        self.log(
            "Best model found for hyperparameters: "
            + json.dumps(plan.models[chosen].describe(plan.optimizer))
        )
        if test is None:
            self.log("Test data is not provided.")
        else:
            test_split = _Split(scaler.transform_features(test.features), test.labels)
            self.final_scores("test", model, test_split, best, chosen, scaler, plan)
        return model

    # -- epochs and early stopping ----------------------------------------------------------

    def epochs(
        self,
        plan: TrainingPlan,
        trainer: Trainer,
        train: _Split,
        validation: _Split | None,
        scaler: Scaler,
    ) -> ParallelModels:
        """The epoch loop; returns the parallel models of the best epoch."""
        params = self.params
        y = torch.from_numpy(
            scaler.transform_labels(train.labels)
            if self.kind == "regressor"
            else train.labels.astype(np.float32)
        )
        sampled = (
            validation is not None
            and self.kind == "binary_classifier"
            and params.binary_classifier_model_selection_criteria in THRESHOLD_CRITERIA
        )
        criterion_name = (
            f"sampled_{params.binary_classifier_model_selection_criteria}"
            if sampled
            else self.objective
        )
        best_value: float | None = None
        best_models = trainer.models.copy()
        stale = 0
        for epoch in range(plan.epochs):
            report: EpochReport = trainer.run_epoch(epoch, train.features, y, None)
            # Each model's objective goes to a `#metrics` record; the `#quality_metric` lines
            # report model 0, as the container's do.
            self.per_model("train", report.train_loss, epoch)
            self.quality("train", self.objective, float(report.train_loss[0]), epoch)
            if validation is not None:
                losses = self.hosts.mean_losses(
                    plan, trainer.models, validation.features, validation.labels, scaler
                )
                self.per_model("validation", losses, epoch)
                self.quality("validation", self.objective, float(losses[0]), epoch)
            else:
                losses = report.train_loss
            if sampled:
                assert validation is not None
                head = validation.head(self.hosts.share(_EARLY_STOPPING_SAMPLE))
                scores = self.link(trainer.models.model_scores(head.features))
                best_cuts = self.hosts.search_thresholds(scores, head.labels, params.criterion())
                value = float(np.max(best_cuts[0]))
            else:
                value = float(np.min(losses))
            self.log(
                f"#early_stopping_criteria_metric: host={self.host}, epoch={epoch}, "
                f"criteria={criterion_name}, value={value}"
            )
            improved = best_value is None or (value > best_value if sampled else value < best_value)
            relative = (
                float("inf")
                if best_value is None
                else abs(value - best_value) / max(abs(best_value), 1e-12)
            )
            if improved:
                best_value, best_models = value, trainer.models.copy()
                self.log(f"Epoch {epoch}: Loss improved. Updating best model")
            else:
                self.log(f"Epoch {epoch}: Loss has not improved for {stale + 1} epochs.")
            # "If the ratio of the improvement in loss divided by the previous best loss is
            # smaller than [early_stopping_tolerance], early stopping considers the improvement
            # to be zero" (hyperparameter docs).
            stale = 0 if improved and relative >= params.early_stopping_tolerance else stale + 1
            done = stale >= params.early_stopping_patience or epoch == plan.epochs - 1
            percent = 100 if done else int(100 * (epoch + 1) / plan.epochs)
            self.log(f"#progress_metric: host={self.host}, completed {percent} % of epochs")
            throughput = report.records / max(report.seconds, 1e-9)
            self.log(
                f"#throughput_metric: host={self.host}, train throughput={throughput} "
                "records/second"
            )
            if stale >= params.early_stopping_patience and epoch < plan.epochs - 1:
                self.log(f"Early stop condition met. Stopping training after epoch {epoch}.")
                break
        return best_models

    # -- selection and final scores ---------------------------------------------------------

    def link(self, raw: torch.Tensor) -> np.ndarray:
        """Binary scores as served (probabilities with logistic loss, margins with hinge), in
        float32: enough to rank rows and place thresholds between distinct scores."""
        if self.params.resolved_loss == "logistic":
            return torch.sigmoid(raw).numpy()
        return raw.numpy()

    def select(
        self, plan: TrainingPlan, models: ParallelModels, data: _Split, scaler: Scaler
    ) -> tuple[int, float]:
        """The index of the best model on `data` and, for binary classifiers, its threshold."""
        params = self.params
        natural = 0.5 if plan.loss == "logistic" else 0.0
        criterion = params.binary_classifier_model_selection_criteria
        if self.kind == "binary_classifier" and criterion in THRESHOLD_CRITERIA:
            scores = self.link(models.model_scores(data.features))
            values, thresholds = self.hosts.search_thresholds(
                scores, data.labels, params.criterion(), workers=self.num_cpus
            )
            chosen = int(np.argmax(values))
            return chosen, float(thresholds[chosen])
        if self.kind == "binary_classifier" and criterion == "cross_entropy_loss":
            p = np.clip(
                1.0 / (1.0 + np.exp(-models.scores(data.features)[:, :, 0].double().numpy())),
                1e-12,
                1 - 1e-12,
            )
            y = data.labels[:, None]
            entropy = -self.hosts.row_mean(y * np.log(p) + (1 - y) * np.log(1 - p))
            return int(np.argmin(entropy)), natural
        # loss_function, and every regressor / multiclass model: the lowest objective loss
        # ("For regression problems, output the model that gets the best score on the
        # validation set").
        losses = self.hosts.mean_losses(plan, models, data.features, data.labels, scaler)
        return int(np.argmin(losses)), natural

    def final_scores(
        self,
        channel: str,
        model: LinearLearnerModel,
        data: _Split,
        models: ParallelModels,
        chosen: int,
        scaler: Scaler,
        plan: TrainingPlan,
    ) -> None:
        """The closing `#<channel>_score` and `#quality_metric` lines for one channel."""
        if self.hosts.total(data.labels.size) == 0:
            return
        losses = self.hosts.mean_losses(plan, models, data.features, data.labels, scaler)
        objective = float(losses[chosen])
        raw = models.scores(data.features)[:, chosen, :].double().numpy()
        raw = raw * scaler.label_scale + scaler.label_shift
        # On several hosts the scores are of every host's rows (the channel's whole data).
        raw, labels = self.hosts.gather(raw, data.labels)
        score = model.transform(raw)
        params = self.params
        if self.kind == "binary_classifier":
            values = binary_metrics(score, labels, model.threshold, params.f_beta)
        elif self.kind == "multiclass_classifier":
            values = multiclass_metrics(score, labels, params.accuracy_top_k, params.f_beta)
        else:
            values = regression_metrics(score, labels)
        values = {self.objective: objective, **values}
        if channel != "train":
            # The container prints the `#<channel>_score` tuples before the quality lines.
            for name, value in values.items():
                self.log(f"#{channel}_score ({self.host}) : ('{name}', {value})")
        for name, value in values.items():
            self.quality(channel, name, value)
