"""SageMaker's built-in PCA (`pca`): principal components from a streamed channel, for real.

What the container does and we do (specs/algorithms.md §5): read the `train` channel in
mini-batches (recordIO-protobuf or CSV with `label_size=0`; labels, if present, are ignored),
accumulate the statistics of `algorithm_mode` (`regular`: exact scatter matrix and mean, then
an eigendecomposition; `randomized`: a sketch with `extra_components` extra columns, see
`pca_training`), keep `num_components` components, and write `model_algo-1` as the MXNet
NDArray dict the container writes: `s` (singular values), `v` (feature_dim x num_components
components) and, with `subtract_mean`, `mean` (1 x feature_dim). Inference projects each
record onto the components (after subtracting the mean when `subtract_mean`) and answers
`{"projections": [{"projection": [...]}, ...]}`.

Component order follows the container as AWS's census notebook reads it: the largest
component is the *last* column of `v` and of each projection (ascending singular values).
`s` is the singular values of the (centred) training matrix, i.e. the square roots of the
scatter matrix's eigenvalues.

SageMaker documents no quality metric for PCA; the run logs progress and throughput lines. A
`test` channel is accepted and its mean squared reconstruction error is logged as
information (not a metric SageMaker defines).

Multi-host training (`InstanceCount > 1`): every host accumulates its shard, then the hosts
reduce their statistics (`tule.algorithms.distributed`). Regular mode sums the row counts and
column sums, then each host's scatter re-centred on the global mean, so the result is the
one-host result up to float rounding. Randomized mode uses the same seeded test matrix on every
host, and the sketch X^T X Omega, the column sums and the row count are all sums over rows, so
it sums them (after every epoch: the next pass's test matrix comes from the global sketch and
is broadcast from `algo-1`); again the one-host result. Only `algo-1` writes `model_algo-1`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
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
    HyperparameterError,
    Hyperparameters,
    MetricDefinition,
    Reporter,
    Resources,
    TrainedModel,
    hp,
)
from tule.algorithms.distributed import Collective, joined
from tule.algorithms.formats import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF, Dataset, iter_batches
from tule.algorithms.kmeans_training import Workers, single_threaded_blas
from tule.algorithms.pca_training import Components, ScatterAccumulator, SketchAccumulator

MODEL_FILE = "model_algo-1"
SEED = 0  # SageMaker PCA has no seed hyperparameter; the random sketch uses a fixed one
# Rows per read: mini_batch_size does not change regular mode's exact result, so reads are
# at least this many values (about 16 MiB of float32) to keep per-batch overhead negligible.
_READ_VALUES = 1 << 22


@dataclass(frozen=True)
class PCAHyperparameters(Hyperparameters):
    """The `pca` image's hyperparameters (SageMaker names, defaults and valid values)."""

    feature_dim: int | None = hp(None, required=True, minimum=1)
    mini_batch_size: int | None = hp(None, required=True, minimum=1)
    num_components: int | None = hp(None, required=True, minimum=1)
    algorithm_mode: str = hp("regular", choices=("regular", "randomized"))
    extra_components: int = hp(-1, minimum=-1)
    subtract_mean: bool = hp(True)
    # Hidden in the image's defaults (spec §0.1).
    epochs: int = hp(1, minimum=1)
    force_dense: bool = hp(True)

    def __post_init__(self) -> None:
        if (
            self.num_components is not None
            and self.feature_dim is not None
            and self.num_components > self.feature_dim
        ):
            raise HyperparameterError(
                f"num_components ({self.num_components}) must not be greater than feature_dim "
                f"({self.feature_dim})."
            )

    @property
    def sketch_width(self) -> int:
        """Randomized mode's l = num_components + extra; `extra_components=-1` means
        max(10, num_components) ("-1 ... the algorithm uses max(10, num_components)")."""
        count = int(self.num_components or 1)
        extra = max(10, count) if self.extra_components == -1 else self.extra_components
        return min(count + extra, int(self.feature_dim or 1))


class PCAModel(TrainedModel):
    """Components `v`, singular values `s` and the optional `mean`; predicts projections."""

    def __init__(
        self,
        v: np.ndarray,
        s: np.ndarray,
        mean: np.ndarray | None = None,
        *,
        replica: bool = False,
    ) -> None:
        # A non-master host's copy in a multi-host job: it predicts, but saves nothing.
        self.replica = replica
        self.v = np.asarray(v, dtype=np.float32)
        self.s = np.asarray(s, dtype=np.float32).ravel()
        if self.v.ndim != 2 or self.v.shape[1] != self.s.size:
            raise AlgorithmError(
                f"A PCA model holds v (feature_dim, num_components) and s (num_components); got "
                f"v {self.v.shape} and s {self.s.shape}."
            )
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32).reshape(1, -1)
        if self.mean is not None and self.mean.shape[1] != self.v.shape[0]:
            raise AlgorithmError(
                f"The PCA model's mean has {self.mean.shape[1]} values for {self.v.shape[0]} "
                "features."
            )

    @property
    def feature_dim(self) -> int:
        return int(self.v.shape[0])

    def predict(
        self, features: Any, *, options: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise DataError(
                f"Invalid input: the model expects {self.feature_dim} features per record, "
                f"got {features.shape[-1]}."
            )
        projection = np.asarray(features @ self.v.astype(np.float64), dtype=np.float64)
        if self.mean is not None:
            # (x - mean) v = x v - mean v, which keeps sparse requests sparse.
            projection -= self.mean.astype(np.float64) @ self.v.astype(np.float64)
        return {"projection": projection.astype(np.float32)}

    def save(self, model_dir: Path) -> None:
        if self.replica:
            return
        arrays: dict[str, np.ndarray] = {}
        if self.mean is not None:
            arrays["mean"] = self.mean
        arrays["s"] = self.s
        arrays["v"] = self.v
        model_dir.mkdir(parents=True, exist_ok=True)
        mxnet_ndarray.save(model_dir / MODEL_FILE, arrays)

    @classmethod
    def load(cls, model_dir: Path) -> Self:
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise AlgorithmError(f"No model file '{MODEL_FILE}' found in the model directory.")
        try:
            arrays = mxnet_ndarray.load(path)
        except mxnet_ndarray.NDArrayFormatError as exc:
            raise AlgorithmError(f"'{MODEL_FILE}' is not an MXNet NDArray file: {exc}.") from None
        if not isinstance(arrays, dict) or "v" not in arrays or "s" not in arrays:
            raise AlgorithmError(
                f"'{MODEL_FILE}' must be an NDArray dict with keys 's', 'v' and optionally "
                "'mean' (what the PCA container writes)."
            )
        return cls(arrays["v"], arrays["s"], arrays.get("mean"))


class PCA(Algorithm):
    """Principal component analysis (SageMaker PCA)."""

    name: ClassVar[str] = "pca"
    repositories: ClassVar[tuple[str, ...]] = ("pca",)
    hyperparameters: ClassVar[type[Hyperparameters]] = PCAHyperparameters
    channels: ClassVar[tuple[ChannelSpec, ...]] = im_family.TRAIN_AND_TEST
    metrics: ClassVar[tuple[MetricDefinition, ...]] = (
        im_family.PROGRESS,
        im_family.THROUGHPUT,
    )
    model_class: ClassVar[type[TrainedModel]] = PCAModel
    request_content_types: ClassVar[tuple[str, ...]] = im_family.REQUEST_TYPES
    response_accept_types: ClassVar[tuple[str, ...]] = (JSON, JSONLINES, RECORDIO_PROTOBUF, CSV)
    json_response_key: ClassVar[str] = "projections"

    @classmethod
    def example_hyperparameters(cls) -> dict[str, str]:
        return {"feature_dim": "6", "mini_batch_size": "50", "num_components": "2"}

    @classmethod
    def example_data(cls, seed: int = 0) -> Mapping[str, Dataset]:
        """Points near a tilted 2-D plane in 6 dimensions, off the origin: train and test."""
        rng = np.random.default_rng(seed)
        basis = np.linalg.qr(np.random.default_rng(7).standard_normal((6, 2)))[0].T
        out = {}
        for channel, rows in (("train", 200), ("test", 50)):
            latent = rng.standard_normal((rows, 2)) * np.array([5.0, 2.0])
            x = latent @ basis + 3.0 + 0.1 * rng.standard_normal((rows, 6))
            out[channel] = Dataset(x.astype(np.float32))
        return out

    def train(
        self,
        hyperparameters: Hyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources = Resources(),  # noqa: B008 - the base class's signature
    ) -> PCAModel:
        assert isinstance(hyperparameters, PCAHyperparameters)
        self.validate_channels(channels)
        with (
            single_threaded_blas(),
            Workers(resources.num_cpus) as workers,
            joined(resources) as collective,
        ):
            return self._train(hyperparameters, channels, reporter, resources, workers, collective)

    def _train(
        self,
        params: PCAHyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources,
        workers: Workers,
        collective: Collective,
    ) -> PCAModel:
        host = resources.current_host
        dim = int(params.feature_dim or 1)
        count = int(params.num_components or 1)
        started = time.perf_counter()
        total = 0
        accumulator: ScatterAccumulator | SketchAccumulator
        if params.algorithm_mode == "regular":
            accumulator = ScatterAccumulator(dim)
        else:
            width = params.sketch_width
            reporter.log(f"Randomized PCA: sketching {count} + {width - count} components")
            accumulator = SketchAccumulator.start(dim, width, np.random.default_rng(SEED))
        # Regular mode is exact after one pass, so further epochs would add nothing; in
        # randomized mode each further epoch is one more subspace iteration.
        passes = params.epochs if isinstance(accumulator, SketchAccumulator) else 1
        for epoch in range(passes):
            if epoch and isinstance(accumulator, SketchAccumulator):
                accumulator = accumulator.next_pass(params.subtract_mean, collective)
            for batch in _batches(channels["train"], params):
                accumulator.add(batch, workers)
                total += batch.shape[0]
            # Every host's statistics summed (a no-op on one host); randomized mode needs the
            # global sketch before the next pass.
            accumulator = accumulator.merged(collective)
            percent = 100 * (epoch + 1) // passes
            reporter.log(f"#progress_metric: host={host}, completed {percent} % of epochs")
        if accumulator.rows == 0:
            raise DataError("No data was found in the train channel.")
        if accumulator.rows < 2 and params.subtract_mean:
            raise DataError("PCA with subtract_mean needs at least 2 records in the train channel.")
        elapsed = max(time.perf_counter() - started, 1e-9)
        reporter.log(
            f"#throughput_metric: host={host}, train throughput={total / elapsed} records/second"
        )
        components: Components = accumulator.components(count, params.subtract_mean)
        reporter.log(f"Singular values (ascending): {components.singular_values.tolist()}")
        model = PCAModel(
            components.components,
            components.singular_values,
            components.mean,
            replica=not collective.is_leader,
        )
        if "test" in channels:
            error = _reconstruction_error(model, _batches(channels["test"], params))
            reporter.log(f"Mean squared reconstruction error on the test channel: {error}")
        return model


def _batches(channel: ChannelData, params: PCAHyperparameters) -> Iterator[Any]:
    dim = int(params.feature_dim or 1)
    rows = max(int(params.mini_batch_size or 1), _READ_VALUES // dim)
    for batch in iter_batches(channel, rows, feature_dim=dim):
        features = batch.features
        if params.force_dense and sp.issparse(features):
            features = features.toarray()
        yield features


def _reconstruction_error(model: PCAModel, batches: Iterator[Any]) -> float:
    squared, rows = 0.0, 0
    mean = 0.0 if model.mean is None else model.mean.astype(np.float64)
    v = model.v.astype(np.float64)
    for batch in batches:
        x = (batch.toarray() if sp.issparse(batch) else np.asarray(batch)).astype(np.float64)
        centred = x - mean
        residual = centred - (centred @ v) @ v.T
        squared += float(np.einsum("ij,ij->", residual, residual))
        rows += x.shape[0]
    return squared / max(rows, 1)


__all__ = ["PCA", "PCAHyperparameters", "PCAModel"]
