"""SageMaker's built-in k-NN (`knn`): a faiss index over a sample of the training data.

What the container does and we do (specs/algorithms.md §3, "How the k-NN Algorithm Works"):
stream the labelled `train` channel once and keep a uniform sample of `sample_size` rows;
optionally reduce the dimension (`dimension_reduction_type` sign / fjlt to
`dimension_reduction_target`); build a faiss index (`index_type` faiss.Flat, faiss.IVFFlat,
faiss.IVFPQ; `index_metric` L2, INNER_PRODUCT, COSINE; `faiss_index_ivf_nlists` with `auto` =
sqrt(sample size); `faiss_index_pq_m`; `_faiss_index_nprobe`); score the optional `test`
channel (classifier: accuracy, regressor: mse) with the container's `#test_score` and
`#quality_metric` lines. Inference answers `predicted_label` (classifier: the most common label
of the k neighbours, ties to the smallest label; regressor: their mean), and with
`verbose=true` on Accept also `distances` (ascending) and `labels` of the neighbours.

Model artifact: one file `model_algo-1` in tule's own documented format (a NumPy archive
holding the serialized faiss index and the labels; see `knn_model`), since SageMaker does not
document its own.

Reported distances: Euclidean distance for L2; for INNER_PRODUCT the negated inner product and
for COSINE one minus the cosine similarity, so that "distances" ascend from the nearest
neighbour under every metric (SageMaker only documents the ascending order).

Multi-host training (`InstanceCount > 1`): each host samples `sample_size` rows of its shard;
the samples and row counts are gathered (`tule.algorithms.distributed`) and the master draws
the job's uniform sample of `sample_size` rows of all the data from them
(`knn_index.merge_samples`), builds the index and shares the model, with which every host
scores its own test channel. Only the master writes `model_algo-1`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import faiss
import numpy as np

from tule.algorithms import im_family, knn_index
from tule.algorithms.base import (
    Algorithm,
    ChannelData,
    ChannelSpec,
    DataError,
    Direction,
    HyperparameterError,
    Hyperparameters,
    MetricDefinition,
    Reporter,
    Resources,
    TrainedModel,
    hp,
)
from tule.algorithms.distributed import Collective, joined
from tule.algorithms.formats import JSON, JSONLINES, RECORDIO_PROTOBUF, Dataset, iter_batches
from tule.algorithms.knn_index import IndexSpec, Reduction, Reservoir, merge_samples
from tule.algorithms.knn_model import FORMAT, KNNModel

AUTO = ("auto",)
SEED = 0  # SageMaker k-NN has no seed hyperparameter; sampling and projections use this one
PQ_M = (1, 2, 3, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 96)
INDEX_TYPES = ("faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ")
METRICS = ("L2", "INNER_PRODUCT", "COSINE")
# Rows per read while sampling: at least this many values per batch (mini_batch_size only
# sizes reads; the sample does not depend on it).
_READ_VALUES = 1 << 22


@dataclass(frozen=True)
class KNNHyperparameters(Hyperparameters):
    """The `knn` image's hyperparameters (SageMaker names, defaults and valid values)."""

    feature_dim: int | str | None = hp(None, required=True, minimum=1, allow=AUTO)
    k: int | None = hp(None, required=True, minimum=1, tunable=True)
    predictor_type: str | None = hp(None, required=True, choices=("classifier", "regressor"))
    sample_size: int | None = hp(None, required=True, minimum=1, tunable=True)
    dimension_reduction_target: int | None = hp(None, minimum=1)
    dimension_reduction_type: str | None = hp(None, choices=("sign", "fjlt"))
    faiss_index_ivf_nlists: int | str = hp("auto", minimum=1, allow=AUTO)
    faiss_index_pq_m: int | None = hp(None, choices=PQ_M)
    index_metric: str = hp("L2", choices=METRICS)
    index_type: str = hp("faiss.Flat", choices=INDEX_TYPES)
    mini_batch_size: int = hp(5000, minimum=1)
    # Hidden in the image's defaults (spec §3).
    epochs: int = hp(1, minimum=1)
    _faiss_index_nprobe: int = hp(5, minimum=1)

    def __post_init__(self) -> None:
        if self.dimension_reduction_type and self.dimension_reduction_target is None:
            # The SDK's own check, before a job is created.
            raise HyperparameterError(
                '"dimension_reduction_target" is required when "dimension_reduction_type" is set.'
            )
        dim, target = self.feature_dim, self.dimension_reduction_target
        if (
            self.dimension_reduction_type
            and isinstance(dim, int)
            and target is not None
            and not 0 < target < dim
        ):
            raise HyperparameterError(
                f"dimension_reduction_target ({target}) must be greater than 0 and less than "
                f"feature_dim ({dim})."
            )
        if self.index_type == "faiss.IVFPQ" and self.index_metric != "L2":
            raise HyperparameterError(
                f"index_metric '{self.index_metric}' is not supported with index_type "
                "'faiss.IVFPQ'; faiss.IVFPQ supports only 'L2'."
            )


class KNN(Algorithm):
    """k-nearest-neighbour classification and regression (SageMaker k-NN)."""

    name: ClassVar[str] = "knn"
    repositories: ClassVar[tuple[str, ...]] = ("knn",)
    hyperparameters: ClassVar[type[Hyperparameters]] = KNNHyperparameters
    channels: ClassVar[tuple[ChannelSpec, ...]] = im_family.TRAIN_AND_TEST
    metrics: ClassVar[tuple[MetricDefinition, ...]] = (
        MetricDefinition(
            "test:accuracy",
            r"#quality_metric: host=\S+, test accuracy <score>=(\S+)",
            Direction.MAXIMIZE,
        ),
        MetricDefinition(
            "test:mse", r"#quality_metric: host=\S+, test mse <loss>=(\S+)", Direction.MINIMIZE
        ),
        im_family.PROGRESS,
        im_family.THROUGHPUT,
    )
    model_class: ClassVar[type[TrainedModel]] = KNNModel
    request_content_types: ClassVar[tuple[str, ...]] = im_family.REQUEST_TYPES
    response_accept_types: ClassVar[tuple[str, ...]] = (JSON, JSONLINES, RECORDIO_PROTOBUF)

    @classmethod
    def example_hyperparameters(cls) -> dict[str, str]:
        return {
            "feature_dim": "3",
            "k": "5",
            "predictor_type": "classifier",
            "sample_size": "150",
        }

    @classmethod
    def example_data(cls, seed: int = 0) -> Mapping[str, Dataset]:
        """Three labelled blobs in 3 dimensions: train (sampled down to 150) and test."""
        rng = np.random.default_rng(seed)
        out = {}
        for channel, rows in (("train", 200), ("test", 60)):
            labels = rng.integers(0, 3, rows).astype(np.float32)
            x = rng.standard_normal((rows, 3)) + labels[:, None] * 2.5
            out[channel] = Dataset(x.astype(np.float32), labels)
        return out

    @classmethod
    def emitted_metrics(
        cls, hyperparameters: Mapping[str, str], channels: Sequence[str]
    ) -> Sequence[str]:
        names = ["train:progress", "train:throughput"]
        if "test" in channels:
            kind = hyperparameters.get("predictor_type")
            names.append("test:accuracy" if kind == "classifier" else "test:mse")
        return names

    def train(
        self,
        hyperparameters: Hyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources = Resources(),  # noqa: B008 - the base class's signature
    ) -> KNNModel:
        assert isinstance(hyperparameters, KNNHyperparameters)
        self.validate_channels(channels)
        # faiss trains IVF and PQ quantizers with OpenMP; hold it to the job's CPUs (its
        # spinning threads slow everything down on an oversubscribed host).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(max(1, resources.num_cpus))
        try:
            with joined(resources) as collective:
                return self._train(hyperparameters, channels, reporter, resources, collective)
        finally:
            faiss.omp_set_num_threads(threads)

    def _train(
        self,
        params: KNNHyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources,
        collective: Collective,
    ) -> KNNModel:
        host = resources.current_host
        rng = np.random.default_rng(SEED)
        started = time.perf_counter()
        reservoir = Reservoir(int(params.sample_size or 1), rng)
        dim = None if params.feature_dim in (None, "auto") else int(params.feature_dim)
        for batch in _labelled_batches(channels["train"], params, dim, "train"):
            reservoir.add(batch.features, batch.labels)
        elapsed = max(time.perf_counter() - started, 1e-9)
        features, labels = reservoir.sample()
        seen = reservoir.seen
        if collective.distributed:
            features, labels, seen = _job_sample(features, labels, reservoir, collective)
        reporter.log(f"#progress_metric: host={host}, completed 100 % of epochs")
        reporter.log(
            f"#throughput_metric: host={host}, train throughput={reservoir.seen / elapsed} "
            "records/second"
        )
        k = int(params.k or 1)
        if len(labels) < k:
            raise DataError(
                f"k={k} is larger than the number of sampled training records ({len(labels)})."
            )
        reporter.log(f"Sampled {len(labels)} of {seen} training records")

        def build() -> KNNModel:
            model = _build(params, features, labels, rng)
            reporter.log(
                f"Built {params.index_type} index ({params.index_metric}) over {len(labels)} "
                f"vectors of dimension {model.header['index_dim']}"
            )
            return model

        # On several hosts the master builds and every host gets its model (faiss indexes
        # pickle), so all score the test channel with the same index.
        model = collective.on_leader(build)
        model.replica = not collective.is_leader
        if "test" in channels:
            _score_test(model, params, channels["test"], reporter, host)
        return model


def _job_sample(
    features: np.ndarray, labels: np.ndarray, reservoir: Reservoir, collective: Collective
) -> tuple[np.ndarray, np.ndarray, int]:
    """The job's sample from every host's: (features, labels, rows seen on all hosts).

    Every host gets every host's sample and the master's draw (the same on all hosts), so the
    later checks fail on every host alike."""
    rows = len(labels)
    width = features.shape[1] if rows else -1
    # Widths must agree before the rows can be gathered into one buffer; an empty shard has
    # no width. One reduction gives the widest and (negated) the narrowest.
    big = np.iinfo(np.int64).max
    widest, narrowest = collective.allreduce_max(
        np.array([width, -width if rows else -big], dtype=np.int64)
    )
    if widest >= 0 and widest != -narrowest:
        raise DataError(
            f"The hosts' train shards have different feature counts ({-narrowest} to "
            f"{widest}); every record needs the same number of features."
        )
    width = max(int(widest), 0)
    packed = np.zeros((rows, width + 1), dtype=np.float32)
    if rows:
        packed[:, :width] = features
        packed[:, width] = labels
    parts = collective.allgather(packed)
    seen = [int(n[0]) for n in collective.allgather(np.array([reservoir.seen], dtype=np.int64))]
    samples = [(part[:, :width], part[:, width]) for part in parts]

    def draw() -> tuple[np.ndarray, np.ndarray]:
        return merge_samples(samples, seen, reservoir.size, reservoir.rng)

    merged_features, merged_labels = collective.on_leader(draw)
    return merged_features, merged_labels, sum(seen)


def _labelled_batches(
    channel: ChannelData, params: KNNHyperparameters, dim: int | None, name: str
) -> Any:
    rows = max(params.mini_batch_size, _READ_VALUES // max(dim or 1, 1))
    for batch in iter_batches(channel, rows, feature_dim=dim):
        if batch.labels is None:
            raise DataError(
                f"The {name} channel has no labels. k-NN needs a label per record: the first "
                "CSV column (text/csv;label_size=1) or the recordIO-protobuf label."
            )
        labels = np.asarray(batch.labels)
        if labels.ndim != 1:
            raise DataError(
                f"The {name} channel has {labels.shape[1]} labels per record; k-NN takes one."
            )
        if not np.all(np.isfinite(labels)):
            raise DataError(f"The {name} channel has labels that are not finite numbers.")
        yield Dataset(batch.features, labels)


def _build(
    params: KNNHyperparameters, features: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> KNNModel:
    rows, dim = features.shape
    reduction = None
    vectors = features
    if params.dimension_reduction_type:
        target = int(params.dimension_reduction_target or 1)
        if not 0 < target < dim:
            raise HyperparameterError(
                f"dimension_reduction_target ({target}) must be greater than 0 and less than "
                f"feature_dim ({dim})."
            )
        reduction = Reduction.fit(params.dimension_reduction_type, dim, target, rng)
        vectors = reduction.apply(features)
    nlists = params.faiss_index_ivf_nlists
    # `auto`: "sqrt(sample_size)" (hyperparameter docs), of the rows actually sampled.
    resolved_nlists = max(1, round(math.sqrt(rows))) if nlists == "auto" else int(nlists)
    reduced_dim = vectors.shape[1]
    pq_m = params.faiss_index_pq_m
    if params.index_type == "faiss.IVFPQ" and pq_m is None:
        pq_m = knn_index.default_pq_m(reduced_dim, PQ_M)
    spec = IndexSpec(
        params.index_type,
        params.index_metric,
        nlists=resolved_nlists,
        pq_m=pq_m,
        nprobe=params._faiss_index_nprobe,
    )
    index_dim = knn_index.padded_dimension(reduced_dim, spec)
    index = knn_index.build_index(knn_index.prepare(vectors, params.index_metric, index_dim), spec)
    header = {
        "format": FORMAT,
        "predictor_type": params.predictor_type,
        "k": int(params.k or 1),
        "feature_dim": dim,
        "index_type": params.index_type,
        "index_metric": params.index_metric,
        "index_dim": index_dim,
        "nlists": resolved_nlists if params.index_type != "faiss.Flat" else None,
        "pq_m": pq_m,
        "nprobe": params._faiss_index_nprobe,
        "reduction_type": params.dimension_reduction_type,
        "reduction_target": params.dimension_reduction_target,
    }
    return KNNModel(index, labels, header, reduction)


def _score_test(
    model: KNNModel,
    params: KNNHyperparameters,
    channel: ChannelData,
    reporter: Reporter,
    host: str,
) -> None:
    hits, squared, rows = 0, 0.0, 0
    for batch in _labelled_batches(channel, params, model.feature_dim, "test"):
        predicted = model.predict(batch.features)["predicted_label"].astype(np.float64)
        truth = batch.labels.astype(np.float64)
        hits += int(np.count_nonzero(predicted == truth))
        squared += float(np.sum((predicted - truth) ** 2))
        rows += len(truth)
    if rows == 0:
        raise DataError("No data was found in the test channel.")
    if params.predictor_type == "classifier":
        name, value, kind = "accuracy", hits / rows, "score"
    else:
        name, value, kind = "mse", squared / rows, "loss"
    reporter.log(f"#test_score ({host}) : ('{name}', {value})")
    reporter.log(f"#quality_metric: host={host}, test {name} <{kind}>={value}")


__all__ = ["KNN", "KNNHyperparameters", "KNNModel"]
