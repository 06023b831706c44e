"""Linear Learner on several hosts: what the hosts of one job combine, and how.

SageMaker trains Linear Learner data-parallel: each host reads its shard of a `ShardedByS3Key`
channel and the hosts train one set of parallel models together (a parameter server holds the
weights), so the job learns what one host would learn from all the data. tule's hosts combine
their work through the job's collective (`tule.algorithms.distributed`):

- the scaler: each host takes its share of the `num_point_for_scaler` sample; the row count and
  feature / label sums are summed, then the squared deviations from the global means, so every
  host normalises with the statistics of the whole sample;
- the label counts behind `positive_example_weight_mult` (`balanced` / `auto`) and
  `balance_multiclass_weights`;
- every optimisation step: the summed gradient and row count of each host's minibatch
  (`linear_learner_training.Trainer`); `mini_batch_size` is per host, as a host's data
  iterator reads it;
- each epoch's train and validation objectives (loss sums and row counts), so early stopping
  stops every host at the same epoch;
- what thresholds are tuned on (the early-stopping sample, the calibration sample) and what the
  final scores are computed from: each host's share of the sample is gathered, the master
  (`algo-1`) searches the thresholds and every host uses its choice;
- the selection of the best parallel model, from those combined quantities.

On one host every method is the one-host computation itself, so a single-host job is unchanged
bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import scipy.sparse as sp

from tule.algorithms.base import DataError
from tule.algorithms.distributed import Collective
from tule.algorithms.linear_learner_metrics import Criterion, search_thresholds
from tule.algorithms.linear_learner_scaling import Features, Scaler
from tule.algorithms.linear_learner_training import (
    ParallelModels,
    TrainingPlan,
    evaluate_losses,
    loss_totals,
)

_T = TypeVar("_T")


class Hosts:
    """The hosts of one Linear Learner job, seen from one of them."""

    def __init__(self, collective: Collective | None = None) -> None:
        self.collective = collective or Collective()

    @property
    def distributed(self) -> bool:
        return self.collective.distributed

    @property
    def is_leader(self) -> bool:
        return self.collective.is_leader

    def share(self, rows: int) -> int:
        """This host's part of a sample of `rows` rows taken over all hosts."""
        return rows if not self.distributed else math.ceil(rows / self.collective.world_size)

    def total(self, count: int) -> int:
        """`count` summed over the hosts."""
        if not self.distributed:
            return count
        return int(self.collective.allreduce_sum(np.array([count], dtype=np.int64))[0])

    def check_features(self, channel: str, num_features: int) -> None:
        """Every host's `channel` must have the same width: the reductions that follow are
        sized by it, and a mismatch is the same data error on every host."""
        if not self.distributed:
            return
        widest, negated = self.collective.allreduce_max(
            np.array([num_features, -num_features], dtype=np.int64)
        )
        if widest != -negated:
            raise DataError(
                f"The hosts' shards of channel '{channel}' do not agree in their number of "
                f"features ({-negated} to {widest}); set feature_dim or fix the data."
            )

    def decide(self, compute: Callable[[], _T]) -> _T:
        """`compute()` on the master, its result on every host (identity on one host)."""
        return self.collective.on_leader(compute)

    # -- statistics ---------------------------------------------------------------------------

    def fit_scaler(self, features: Features, labels: np.ndarray, **flags: bool) -> Scaler:
        """`Scaler.fit` over every host's sample (`features`, `labels`: this host's part)."""
        if not self.distributed:
            return Scaler.fit(features, labels, **flags)
        sparse = sp.issparse(features)
        dim = features.shape[1]
        rows = features.shape[0]
        y = labels.astype(np.float64)
        if sparse:
            sums = np.asarray(features.sum(axis=0, dtype=np.float64)).ravel()
        else:
            dense = np.asarray(features, dtype=np.float64)
            sums = dense.sum(axis=0)
        first = self.collective.allreduce_sum(np.concatenate([[rows, y.sum()], sums]))
        count = max(float(first[0]), 1.0)
        label_mean, mean = first[1] / count, first[2:] / count
        # Squared deviations from the global means, summed: the two-pass variance, which
        # does not cancel when a feature's mean is large against its spread.
        if sparse:
            squares = np.asarray(features.multiply(features).sum(axis=0, dtype=np.float64))
            deviations = squares.ravel() - 2.0 * mean * sums + rows * mean * mean
        else:
            deviations = ((dense - mean) ** 2).sum(axis=0)
        label_deviation = float(((y - label_mean) ** 2).sum())
        second = self.collective.allreduce_sum(np.concatenate([[label_deviation], deviations]))
        std = np.sqrt(np.maximum(second[1:] / count, 0.0))
        label_moments = None
        if first[0] > 0:
            label_moments = (float(label_mean), math.sqrt(max(second[0] / count, 0.0)))
        assert std.shape == (dim,)
        return Scaler.from_moments(mean, std, label_moments, **flags)

    def label_counts(self, counts: np.ndarray | None) -> np.ndarray | None:
        """Per-class label counts (`label_counts`) summed over the hosts."""
        if counts is None or not self.distributed:
            return counts
        return self.collective.allreduce_sum(counts)

    def mean_losses(
        self,
        plan: TrainingPlan,
        models: ParallelModels,
        features: Features,
        labels: np.ndarray,
        scaler: Scaler,
    ) -> np.ndarray:
        """`evaluate_losses` over every host's rows."""
        if not self.distributed:
            return evaluate_losses(plan, models, features, labels, scaler)
        totals = loss_totals(plan, models, features, labels, scaler)
        return self._mean(totals, labels.size)

    def row_mean(self, values: np.ndarray) -> np.ndarray:
        """The column means of `values` `(rows, k)` over every host's rows."""
        if not self.distributed:
            return np.mean(values, axis=0)
        return self._mean(values.sum(axis=0, dtype=np.float64), values.shape[0])

    def _mean(self, sums: np.ndarray, rows: int) -> np.ndarray:
        reduced = self.collective.allreduce_sum(np.append(sums.astype(np.float64), float(rows)))
        return reduced[:-1] / max(reduced[-1], 1.0)

    # -- gathered samples ---------------------------------------------------------------------

    def gather(self, values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every host's rows of `values` `(rows, k)` with their labels, in host order."""
        if not self.distributed:
            return values, labels
        rows = np.column_stack([values, labels.astype(values.dtype)])
        merged = np.concatenate(self.collective.allgather(np.ascontiguousarray(rows)))
        return merged[:, :-1], merged[:, -1].astype(np.float64)

    def search_thresholds(
        self, scores: np.ndarray, labels: np.ndarray, criterion: Criterion, *, workers: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """`search_thresholds` over every host's `(models, rows)` scores, decided on the
        master so every host takes the same thresholds."""
        if not self.distributed:
            return search_thresholds(scores, labels, criterion, workers=workers)
        merged, merged_labels = self.gather(np.asarray(scores, dtype=np.float32).T, labels)
        return self.decide(
            lambda: search_thresholds(merged.T, merged_labels, criterion, workers=workers)
        )


__all__ = ["Hosts"]
