"""The whole algorithm layer, driven by a small nearest-centroid algorithm written against it.

`Centroids` uses every piece an algorithm helper uses (hyperparameter fields, channels,
streaming `iter_batches`, metric lines, save/load, the example hooks), so running the shipped
conformance suite over it proves the suite and the layer together without depending on any one
built-in algorithm. Other layer tests import `Centroids` from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pytest

from tule.algorithms.base import (
    Algorithm,
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
from tule.algorithms.formats import Dataset, iter_batches, read_dataset
from tule.testing.algorithms import CHECKS

TYPES = ("text/csv", "application/x-recordio-protobuf")


@dataclass(frozen=True)
class CentroidsHyperparameters(Hyperparameters):
    IGNORED: ClassVar[frozenset[str]] = frozenset({"force_dense"})

    feature_dim: int | None = hp(required=True, minimum=1)
    mini_batch_size: int = hp(64, minimum=1, tunable=True)
    shrink: float = hp(0.0, minimum=0, maximum=1)
    init: str = hp("zero", choices=("zero", "mean"))
    eval_metrics: tuple[str, ...] = hp(("msd",), choices=("msd", "ssd"))
    verbose: bool = hp(False)
    learning_rate: float | str = hp("auto", allow=("auto",), minimum=0, exclusive_minimum=True)


class CentroidsModel(TrainedModel):
    def __init__(self, labels: np.ndarray, centroids: np.ndarray) -> None:
        self.labels = labels
        self.centroids = centroids
        self.feature_dim = int(centroids.shape[1])

    def save(self, model_dir: Path) -> None:
        np.savez(model_dir / "model_algo-1.npz", labels=self.labels, centroids=self.centroids)

    @classmethod
    def load(cls, model_dir: Path) -> Self:
        data = np.load(model_dir / "model_algo-1.npz")
        return cls(data["labels"], data["centroids"])

    def predict(self, features: Any, *, options: Mapping[str, str] | None = None):
        dense = features.toarray() if hasattr(features, "toarray") else np.asarray(features)
        if dense.shape[1] != self.feature_dim:
            raise DataError(f"expected {self.feature_dim} features, got {dense.shape[1]}")
        distances = ((dense[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        nearest = distances.argmin(1)
        out = {
            "predicted_label": self.labels[nearest].astype(np.float32),
            "distance": np.sqrt(distances.min(1)).astype(np.float32),
        }
        if (options or {}).get("verbose") == "true":
            out["distances"] = np.sqrt(distances).astype(np.float32)
        return out


def _msd(model: CentroidsModel, data: Dataset) -> float:
    return float(np.mean(model.predict(data.features)["distance"] ** 2))


class Centroids(Algorithm):
    name: ClassVar[str] = "centroids"
    repositories: ClassVar[tuple[str, ...]] = ("centroids",)
    hyperparameters: ClassVar[type[Hyperparameters]] = CentroidsHyperparameters
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec("train", True, TYPES, "application/x-recordio-protobuf"),
        ChannelSpec("test", False, TYPES, "application/x-recordio-protobuf"),
    )
    metrics: ClassVar[tuple[MetricDefinition, ...]] = (
        MetricDefinition("train:msd", r"#quality_metric: host=\S+, train msd <loss>=(\S+)"),
        MetricDefinition(
            "test:msd", r"#quality_metric: host=\S+, test msd <loss>=(\S+)", Direction.MINIMIZE
        ),
    )
    model_class: ClassVar[type[TrainedModel]] = CentroidsModel
    request_content_types: ClassVar[tuple[str, ...]] = (
        "text/csv",
        "application/json",
        "application/jsonlines",
        "application/x-recordio-protobuf",
    )
    response_accept_types: ClassVar[tuple[str, ...]] = (
        "application/json",
        "application/jsonlines",
        "application/x-recordio-protobuf",
        "text/csv",
    )

    def train(
        self,
        hyperparameters: Hyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources = Resources(),  # noqa: B008 - the base class's signature
    ) -> CentroidsModel:
        assert isinstance(hyperparameters, CentroidsHyperparameters)
        self.validate_channels(channels)
        dim = hyperparameters.feature_dim
        sums: dict[float, np.ndarray] = {}
        counts: dict[float, int] = {}
        batches = iter_batches(channels["train"], hyperparameters.mini_batch_size, feature_dim=dim)
        for batch in batches:
            if batch.labels is None:
                raise DataError("The train channel needs labels.")
            for label in np.unique(batch.labels):
                rows = batch.dense_features()[batch.labels == label]
                sums[float(label)] = sums.get(float(label), np.zeros(dim)) + rows.sum(0)
                counts[float(label)] = counts.get(float(label), 0) + len(rows)
        labels = np.array(sorted(sums))
        centroids = np.stack([sums[k] / counts[k] for k in labels]) * (1 - hyperparameters.shrink)
        model = CentroidsModel(labels, centroids)
        host = resources.current_host
        train = read_dataset(channels["train"], feature_dim=dim)
        reporter.log(f"#quality_metric: host={host}, train msd <loss>={_msd(model, train)}")
        if "test" in channels:
            test = read_dataset(channels["test"], feature_dim=dim)
            reporter.log(f"#quality_metric: host={host}, test msd <loss>={_msd(model, test)}")
        return model

    @classmethod
    def example_hyperparameters(cls) -> dict[str, str]:
        return {"feature_dim": "3"}

    @classmethod
    def example_data(cls, seed: int = 0) -> dict[str, Dataset]:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 3, 120).astype(np.float32)
        features = (rng.normal(size=(120, 3)) + labels[:, None] * 3).astype(np.float32)
        return {
            "train": Dataset(features[:100], labels[:100]),
            "test": Dataset(features[100:], labels[100:]),
        }

    @classmethod
    def emitted_metrics(cls, hyperparameters: Mapping[str, str], channels: Sequence[str]):
        return [m.name for m in cls.metrics if m.name.split(":")[0] in channels]


@pytest.mark.parametrize("check", list(CHECKS))
def test_conformance_suite_passes_on_a_small_algorithm(check: str, tmp_path: Path) -> None:
    CHECKS[check](Centroids, tmp_path)


def test_conformance_suite_catches_a_model_that_forgets_on_load(tmp_path: Path) -> None:
    class Forgetful(CentroidsModel):
        @classmethod
        def load(cls, model_dir: Path) -> Self:
            model = super().load(model_dir)
            model.centroids = model.centroids + 1.0
            return model

    class Broken(Centroids):
        model_class = Forgetful

        def train(self, *args, **kwargs):
            model = super().train(*args, **kwargs)
            return Forgetful(model.labels, model.centroids)

    with pytest.raises(AssertionError, match="save -> load"):
        CHECKS["save_load_identical"](Broken, tmp_path)


def test_conformance_suite_catches_a_metric_never_logged(tmp_path: Path) -> None:
    class Silent(Centroids):
        metrics = (
            *Centroids.metrics,
            MetricDefinition("train:accuracy", r"#quality_metric: host=\S+, train acc=(\S+)"),
        )

        @classmethod
        def emitted_metrics(cls, hyperparameters, channels):
            return [m.name for m in cls.metrics]

    with pytest.raises(AssertionError, match="train:accuracy"):
        CHECKS["declared_metrics_emitted"](Silent, tmp_path)
