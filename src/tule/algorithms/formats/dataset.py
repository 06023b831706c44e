"""The in-memory value every reader produces: features, optional labels, optional weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

Features = np.ndarray | sp.csr_matrix


@dataclass
class Dataset:
    """Rows of a channel or a request.

    `features` is a 2-D float array or a CSR matrix. `labels` is 1-D (one label per row) or
    2-D when a row carries several labels (`label_size` > 1); `weights` is 1-D. `configuration`
    holds per-row JSON configuration objects from inference requests, when any were given.
    """

    features: Features
    labels: np.ndarray | None = None
    weights: np.ndarray | None = None
    configuration: list[dict] | None = None

    @property
    def num_rows(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.features)

    def dense_features(self) -> np.ndarray:
        """Features as a dense array (densifies a sparse matrix)."""
        return self.features.toarray() if sp.issparse(self.features) else self.features

    def slice(self, start: int, stop: int) -> Dataset:
        return Dataset(
            self.features[start:stop],
            None if self.labels is None else self.labels[start:stop],
            None if self.weights is None else self.weights[start:stop],
            None if self.configuration is None else self.configuration[start:stop],
        )


def _pad_columns(features: Features, width: int) -> Features:
    if features.shape[1] == width:
        return features
    if sp.issparse(features):
        return sp.csr_matrix(
            (features.data, features.indices, features.indptr), shape=(features.shape[0], width)
        )
    out = np.zeros((features.shape[0], width), dtype=features.dtype)
    out[:, : features.shape[1]] = features
    return out


def concat(parts: Sequence[Dataset], *, sparse_width: int | None = None) -> Dataset:
    """Stack datasets row-wise. Sparse parts of differing widths (LibSVM files whose highest
    index differs) are widened to the widest, or to `sparse_width` when given."""
    if not parts:
        raise ValueError("no datasets to concatenate")
    if len(parts) == 1 and sparse_width is None:
        return parts[0]
    any_sparse = any(p.is_sparse for p in parts)
    if any_sparse:
        width = sparse_width or max(p.num_features for p in parts)
        features: Features = sp.vstack(
            [_pad_columns(sp.csr_matrix(p.features), width) for p in parts], format="csr"
        )
    else:
        features = np.concatenate([p.features for p in parts], axis=0)

    def join(attr: str) -> np.ndarray | None:
        values = [getattr(p, attr) for p in parts]
        if all(v is None for v in values):
            return None
        if any(v is None for v in values):
            raise ValueError(f"some parts have {attr} and some do not")
        return np.concatenate(values, axis=0)

    configs = [p.configuration for p in parts]
    configuration = None
    if any(c is not None for c in configs):
        configuration = [
            item
            for p, c in zip(parts, configs, strict=True)
            for item in (c if c is not None else [{}] * p.num_rows)
        ]
    return Dataset(features, join("labels"), join("weights"), configuration)


@dataclass(frozen=True)
class ReadOptions:
    """How a reader turns bytes into a `Dataset`.

    `label_size`: leading label columns (CSV, Parquet); None lets the format decide (training
    CSV: the content type's `label_size` parameter, else 1). `feature_dim`: the expected number
    of feature columns (checked; also the width of sparse data). `csv_weights`: XGBoost's
    `csv_weights=1`, the column after the label holds instance weights. `channel` and
    `content_type` only word error messages.
    """

    label_size: int | None = None
    feature_dim: int | None = None
    dtype: np.dtype | type = np.float32
    csv_weights: bool = False
    channel: str = "train"
    content_type: str = ""
