"""SageMaker's built-in K-Means (`kmeans`): web-scale mini-batch k-means, for real.

What the container does and we do (specs/algorithms.md §2, the "How K-Means Clustering Works"
page): stream the `train` channel in mini-batches of `mini_batch_size` rows for `epochs`
passes, keeping K = k x `extra_center_factor` centres seeded from the first mini-batch
(`init_method` random or kmeans++) and moved by Sculley's per-centre learning rate with the
`half_life_time_size` decay (`kmeans_training.MiniBatchState`); then shrink the K centres to
k by weighted Lloyd (`local_lloyd_init_method`, `_max_iter`, `_tol`, `_num_trials`), score the
optional `test` channel by `eval_metrics` (msd, ssd), and write `model_algo-1` as an MXNet
NDArray list holding the (k, feature_dim) float32 centroids — the file AWS's own notebooks load
with `mx.ndarray.load('model_algo-1')[0]`, so a model built that way is hostable too.

Log lines follow the container: `#quality_metric: host=algo-1, epoch=<e>, train msd <loss>=`
per epoch, `#progress_metric`, `#throughput_metric`, "shrinking K centers into k", one
"local kmeans attempt" line per trial, `#quality_metric: host=algo-1, train msd <loss>=`, and
for the test channel `#test_score (algo-1) : ('msd', v)` with `... test msd <loss>=v`.

Multi-host training (`InstanceCount > 1`, the `train` channel `ShardedByS3Key`) follows the
documented design, "each host streams its shard, then the centres are reduced to k": every host
seeds its K centres from its own first mini-batch (same seed everywhere) and streams its shard;
the hosts' K centres with their weights and square sums are gathered (an allreduce over a
zero-padded buffer, `tule.algorithms.distributed`), and the master host (`algo-1`) shrinks the
union of the N x K weighted centres to k with the same local Lloyd and broadcasts the result.
Each epoch's train msd and the final one are reduced over all hosts, so every host logs the
same values; the test channel is scored by each host on its own test data (`FullyReplicated`, as
SageMaker recommends, gives every host the same score). Only the master writes `model_algo-1`.

Where SageMaker leaves a choice undocumented, tule's rule is written at its constant below
(`auto` values, the train msd).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from tule.algorithms import im_family, mxnet_ndarray
from tule.algorithms.base import (
    Algorithm,
    AlgorithmError,
    ChannelData,
    ChannelSpec,
    DataError,
    Direction,
    Hyperparameters,
    MetricDefinition,
    Reporter,
    Resources,
    TrainedModel,
    hp,
)
from tule.algorithms.distributed import Collective, joined
from tule.algorithms.formats import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF, Dataset, iter_batches
from tule.algorithms.kmeans_training import (
    LloydResult,
    MiniBatchState,
    Workers,
    distances_to,
    kmeans_plus_plus,
    local_lloyd,
    nearest,
    random_init,
    single_threaded_blas,
)

MODEL_FILE = "model_algo-1"
AUTO = ("auto",)
INIT_METHODS = ("random", "kmeans++")
EVAL_METRICS = ("msd", "ssd")
# SageMaker K-Means has no seed hyperparameter; a fixed seed makes runs repeatable.
SEED = 0
# `local_lloyd_num_trials=auto`: 10 seedings while one Lloyd iteration over the K centres is
# cheap, fewer as K·k·feature_dim grows (undocumented by SageMaker; tule's rule).
_TRIALS_BY_WORK = ((10_000_000, 10), (100_000_000, 3))


@dataclass(frozen=True)
class KMeansHyperparameters(Hyperparameters):
    """The `kmeans` image's hyperparameters (SageMaker names, defaults and valid values)."""

    feature_dim: int | None = hp(None, required=True, minimum=1)
    k: int | None = hp(None, required=True, minimum=1)
    epochs: int = hp(1, minimum=1, tunable=True)
    eval_metrics: tuple[str, ...] = hp(("msd",), choices=EVAL_METRICS)
    extra_center_factor: int | str = hp("auto", minimum=1, allow=AUTO, tunable=True)
    half_life_time_size: int = hp(0, minimum=0)
    init_method: str = hp("random", choices=INIT_METHODS, tunable=True)
    local_lloyd_init_method: str = hp("kmeans++", choices=INIT_METHODS)
    local_lloyd_max_iter: int = hp(300, minimum=1)
    local_lloyd_num_trials: int | str = hp("auto", minimum=1, allow=AUTO)
    local_lloyd_tol: float = hp(0.0001, minimum=0, maximum=1)
    mini_batch_size: int = hp(5000, minimum=1, tunable=True)
    # Hidden in the image's defaults; the SDK always sends force_dense="True" (spec §2).
    force_dense: bool = hp(True)

    @property
    def center_factor(self) -> int:
        """`auto`: max(4, ⌈ln k⌉) centres per cluster (SageMaker does not publish its
        rule; this keeps K a few times k, enough for the shrink to pick good centres)."""
        if self.extra_center_factor != "auto":
            return int(self.extra_center_factor)
        return max(4, math.ceil(math.log(max(int(self.k or 1), 1))))

    def trials(self, centers: int) -> int:
        if self.local_lloyd_num_trials != "auto":
            return int(self.local_lloyd_num_trials)
        work = centers * int(self.k or 1) * int(self.feature_dim or 1)
        return next((t for limit, t in _TRIALS_BY_WORK if work <= limit), 1)


class KMeansModel(TrainedModel):
    """k centroids; predicts the closest one and the Euclidean distance to it.

    `replica=True` is the copy held by a host other than the master of a multi-host job:
    it predicts the same, but `save` writes nothing (the model is `algo-1`'s)."""

    def __init__(self, centroids: np.ndarray, *, replica: bool = False) -> None:
        self.replica = replica
        centroids = np.asarray(centroids, dtype=np.float32)
        if centroids.ndim != 2 or centroids.shape[0] == 0:
            raise AlgorithmError(
                f"A K-Means model holds a (k, feature_dim) array of centroids; got shape "
                f"{centroids.shape}."
            )
        self.centroids = centroids

    @property
    def feature_dim(self) -> int:
        return int(self.centroids.shape[1])

    def predict(
        self, features: Any, *, options: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            width = features.shape[-1]
            raise DataError(
                f"Invalid input: the model expects {self.feature_dim} features per record, "
                f"got {width}."
            )
        rows = features if sp.issparse(features) else np.asarray(features)
        if not sp.issparse(rows) and rows.dtype not in (np.float32, np.float64):
            rows = rows.astype(np.float32)
        labels, _ = nearest(rows, self.centroids)
        # The reported distance is recomputed from differences: the expanded form used for
        # the search loses digits when points are far from the origin.
        distance = np.sqrt(distances_to(rows, self.centroids, labels))
        # JSON Lines examples print the cluster index as a float ("closest_cluster": 1.0).
        return {
            "closest_cluster": labels.astype(np.float32),
            "distance_to_cluster": distance.astype(np.float32),
        }

    def save(self, model_dir: Path) -> None:
        if self.replica:
            return
        model_dir.mkdir(parents=True, exist_ok=True)
        mxnet_ndarray.save(model_dir / MODEL_FILE, [self.centroids])

    @classmethod
    def load(cls, model_dir: Path) -> Self:
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise AlgorithmError(f"No model file '{MODEL_FILE}' found in the model directory.")
        try:
            arrays = mxnet_ndarray.load(path)
        except mxnet_ndarray.NDArrayFormatError as exc:
            raise AlgorithmError(f"'{MODEL_FILE}' is not an MXNet NDArray file: {exc}.") from None
        values = list(arrays.values()) if isinstance(arrays, dict) else arrays
        if not values:
            raise AlgorithmError(f"'{MODEL_FILE}' holds no arrays; expected the centroids.")
        # `mx.ndarray.load('model_algo-1')[0]` is the centroid matrix (AWS notebooks).
        return cls(values[0])


def _quality(name: str, channel: str) -> MetricDefinition:
    direction = Direction.MINIMIZE if channel == "test" else None
    return MetricDefinition(
        f"{channel}:{name}", rf"#quality_metric: host=\S+, {channel} {name} <loss>=(\S+)", direction
    )


class KMeans(Algorithm):
    """Clustering into k groups (SageMaker K-Means)."""

    name: ClassVar[str] = "kmeans"
    repositories: ClassVar[tuple[str, ...]] = ("kmeans",)
    hyperparameters: ClassVar[type[Hyperparameters]] = KMeansHyperparameters
    channels: ClassVar[tuple[ChannelSpec, ...]] = im_family.TRAIN_AND_TEST
    metrics: ClassVar[tuple[MetricDefinition, ...]] = (
        _quality("msd", "test"),
        _quality("ssd", "test"),
        _quality("msd", "train"),
        im_family.PROGRESS,
        im_family.THROUGHPUT,
    )
    model_class: ClassVar[type[TrainedModel]] = KMeansModel
    request_content_types: ClassVar[tuple[str, ...]] = im_family.REQUEST_TYPES
    response_accept_types: ClassVar[tuple[str, ...]] = (JSON, JSONLINES, RECORDIO_PROTOBUF, CSV)

    @classmethod
    def example_hyperparameters(cls) -> dict[str, str]:
        return {
            "feature_dim": "4",
            "k": "3",
            "mini_batch_size": "64",
            "eval_metrics": '["msd", "ssd"]',
        }

    @classmethod
    def example_data(cls, seed: int = 0) -> Mapping[str, Dataset]:
        """Three well-separated blobs in 4 dimensions: train and test."""
        rng = np.random.default_rng(seed)
        means = np.array([[0, 0, 0, 0], [6, 6, 0, 0], [0, 6, 6, 6]], dtype=np.float32)
        out = {}
        for channel, rows in (("train", 240), ("test", 60)):
            which = rng.integers(0, 3, rows)
            x = means[which] + rng.standard_normal((rows, 4)).astype(np.float32)
            out[channel] = Dataset(x.astype(np.float32))
        return out

    @classmethod
    def emitted_metrics(
        cls, hyperparameters: Mapping[str, str], channels: Sequence[str]
    ) -> Sequence[str]:
        """Train metrics always; `test:<m>` for each of `eval_metrics` with a test channel."""
        params = KMeansHyperparameters.parse(hyperparameters)
        names = ["train:msd", "train:progress", "train:throughput"]
        if "test" in channels:
            names += [f"test:{m}" for m in params.eval_metrics]
        return names

    def train(
        self,
        hyperparameters: Hyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources = Resources(),  # noqa: B008 - the base class's signature
    ) -> KMeansModel:
        assert isinstance(hyperparameters, KMeansHyperparameters)
        self.validate_channels(channels)
        with (
            single_threaded_blas(),
            Workers(resources.num_cpus) as workers,
            joined(resources) as collective,
        ):
            job = _Job(
                hyperparameters, channels, reporter, resources.current_host, workers, collective
            )
            return job.run()


class _Job:
    """One training run: streaming epochs, the shrink, and the test score."""

    def __init__(
        self,
        params: KMeansHyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        host: str,
        workers: Workers,
        collective: Collective | None = None,
    ) -> None:
        self.params = params
        self.channels = channels
        self.reporter = reporter
        self.host = host
        self.workers = workers
        self.collective = collective or Collective()
        # The same seed on every host: a multi-host run differs from a one-host run only by
        # the data each host sees.
        self.rng = np.random.default_rng(SEED)

    def log(self, line: str) -> None:
        self.reporter.log(line)

    def batches(self, channel: str) -> Iterator[Any]:
        """Feature blocks of `mini_batch_size` rows (labels, if any, are not used)."""
        params = self.params
        for batch in iter_batches(
            self.channels[channel], params.mini_batch_size, feature_dim=params.feature_dim
        ):
            features = batch.features
            if params.force_dense and sp.issparse(features):
                features = features.toarray()
            yield features

    def seed_centers(self, stream: Iterator[Any]) -> tuple[MiniBatchState, list[Any]]:
        """Initial centres from the first mini-batch (more batches if it has fewer than K
        rows); returns the state and the batches read, which still have to be absorbed."""
        params = self.params
        k = int(params.k or 1)
        wanted = k * params.center_factor
        head: list[Any] = []
        rows = 0
        for batch in stream:
            head.append(batch)
            rows += batch.shape[0]
            if rows >= wanted:
                break
        if rows < k and not self.collective.distributed:
            raise DataError(
                f"The train channel has {rows} records; k={k} clusters need at least {k}."
            )
        # On several hosts a small shard seeds what it can (none if empty); whether all the
        # shards together have k records is checked once the first epoch's count is reduced.
        if rows == 0:
            empty = np.zeros((0, int(params.feature_dim or 1)))
            return MiniBatchState(empty, params.half_life_time_size), head
        sample = sp.vstack(head).toarray() if sp.issparse(head[0]) else np.concatenate(head)
        centers = min(wanted, rows)
        self.log(
            f"Initializing {centers} centers (k={k} x extra_center_factor="
            f"{params.center_factor}) with {params.init_method} on {rows} records"
        )
        if params.init_method == "kmeans++":
            initial = kmeans_plus_plus(sample, centers, self.rng, workers=self.workers)
        else:
            initial = random_init(sample, centers, self.rng)
        return MiniBatchState(initial, params.half_life_time_size), head

    def stream(self) -> MiniBatchState:
        """All epochs of mini-batch updates, logging each epoch's msd of the points to their
        centre at the time they were absorbed."""
        params = self.params
        started = time.perf_counter()
        total_rows = 0
        state: MiniBatchState | None = None
        for epoch in range(params.epochs):
            stream = self.batches("train")
            pending: list[Any] = []
            if state is None:
                state, pending = self.seed_centers(stream)
            sq_sum, rows = 0.0, 0
            for batch in itertools.chain(pending, stream):
                batch_sq, batch_rows = state.update(batch, self.workers)
                sq_sum += batch_sq
                rows += batch_rows
            total_rows += rows
            # The epoch's msd over every host's rows (a no-op on one host).
            sq_sum, global_rows = self.collective.allreduce_sum(np.array([sq_sum, float(rows)]))
            if global_rows == 0:
                raise DataError("No data was found in the train channel.")
            k = int(params.k or 1)
            if global_rows < k:  # only reachable on several hosts: one host checks at seeding
                raise DataError(
                    f"The train channel has {int(global_rows)} records on all hosts together; "
                    f"k={k} clusters need at least {k}."
                )
            epoch_msd = float(sq_sum) / float(global_rows)
            self.log(
                f"#quality_metric: host={self.host}, epoch={epoch}, train msd <loss>={epoch_msd}"
            )
            percent = 100 * (epoch + 1) // params.epochs
            self.log(f"#progress_metric: host={self.host}, completed {percent} % of epochs")
        assert state is not None
        elapsed = max(time.perf_counter() - started, 1e-9)
        self.log(f"processed a total of {total_rows} examples")
        self.log(
            f"#throughput_metric: host={self.host}, train throughput={total_rows / elapsed} "
            "records/second"
        )
        return state

    def run(self) -> KMeansModel:
        params = self.params
        k = int(params.k or 1)
        state = self.gathered(self.stream())

        def shrink() -> LloydResult:
            self.log(f"shrinking {len(state.centers)} centers into {k}")
            result = local_lloyd(
                state.centers,
                state.weights,
                k,
                init_method=params.local_lloyd_init_method,
                max_iter=params.local_lloyd_max_iter,
                tol=params.local_lloyd_tol,
                trials=params.trials(len(state.centers)),
                rng=self.rng,
                log=self.log,
            )
            self.log(f"finished shrinking process. Mean Square Distance = {result.msd}")
            return result

        # The master's shrink is the job's result; the other hosts wait for it here.
        result = self.collective.on_leader(shrink)
        # train msd: the mean squared distance of the absorbed points to the final centroid
        # of the centre that absorbed them, which is their spread around that centre (each
        # centre is its points' running mean) plus the centres' weighted msd to the final
        # centroids; exact for that assignment and needing no second pass over the channel.
        train_msd = state.spread() + result.msd
        self.log(f"#quality_metric: host={self.host}, train msd <loss>={train_msd}")
        model = KMeansModel(
            result.centers.astype(np.float32), replica=not self.collective.is_leader
        )
        if "test" in self.channels:
            self.score_test(model)
        return model

    def gathered(self, state: MiniBatchState) -> MiniBatchState:
        """The union of every host's centres with their weights and square sums (this
        host's state on one host), packed as rows [centre..., weight, square sum] so one
        gather carries all three."""
        if not self.collective.distributed:
            return state
        packed = np.column_stack([state.centers, state.weights, state.square_sums])
        rows = np.concatenate(self.collective.allgather(packed.astype(np.float64)))
        return MiniBatchState.from_parts(
            rows[:, :-2], rows[:, -2], rows[:, -1], self.params.half_life_time_size
        )

    def score_test(self, model: KMeansModel) -> None:
        sq_sum, rows = 0.0, 0
        for batch in self.batches("test"):
            labels, _ = nearest(batch, model.centroids, self.workers)
            sq_sum += float(distances_to(batch, model.centroids, labels).sum())
            rows += batch.shape[0]
        if rows == 0:
            raise DataError("No data was found in the test channel.")
        scores = {"msd": sq_sum / rows, "ssd": sq_sum}
        for name in self.params.eval_metrics:
            self.log(f"#test_score ({self.host}) : ('{name}', {scores[name]})")
            self.log(f"#quality_metric: host={self.host}, test {name} <loss>={scores[name]}")


__all__ = ["KMeans", "KMeansHyperparameters", "KMeansModel"]
