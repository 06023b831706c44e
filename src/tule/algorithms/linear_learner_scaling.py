"""Linear Learner's normalisation: feature and label statistics, and the bias input column.

SageMaker's Linear Learner "first goes over a small sample of the data to learn its
characteristics ... the mean value and the standard deviation for every feature and label",
and with `auto` it "always scales the features", "shifts the features only for dense data",
and shifts and scales the label for regression only [SageMaker docs, "How linear learner
works"]. Training happens in that normalised space; `Scaler.unscale` maps the selected model
back onto raw features and labels, so the saved model needs no scaler at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

Features = np.ndarray | sp.csr_matrix


@dataclass
class Scaler:
    """Feature and label normalisation learned from a sample of the training data."""

    feature_shift: np.ndarray
    feature_scale: np.ndarray
    label_shift: float = 0.0
    label_scale: float = 1.0

    @classmethod
    def fit(
        cls,
        features: Features,
        labels: np.ndarray | None,
        *,
        shift_features: bool,
        scale_features: bool,
        shift_label: bool,
        scale_label: bool,
    ) -> Scaler:
        if sp.issparse(features):
            mean = np.asarray(features.mean(axis=0)).ravel()
            mean_sq = np.asarray(features.multiply(features).mean(axis=0)).ravel()
            std = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
        else:
            sample = np.asarray(features, dtype=np.float64)
            mean, std = sample.mean(axis=0), sample.std(axis=0)
        label_moments = None
        if labels is not None and labels.size:
            y = labels.astype(np.float64)
            label_moments = (float(y.mean()), float(y.std()))
        return cls.from_moments(
            mean,
            std,
            label_moments,
            shift_features=shift_features,
            scale_features=scale_features,
            shift_label=shift_label,
            scale_label=scale_label,
        )

    @classmethod
    def from_moments(
        cls,
        mean: np.ndarray,
        std: np.ndarray,
        label_moments: tuple[float, float] | None,
        *,
        shift_features: bool,
        scale_features: bool,
        shift_label: bool,
        scale_label: bool,
    ) -> Scaler:
        """The scaler of features with per-feature `mean` and `std` and labels with
        `label_moments` (mean, std; None when there are no labels). `fit` computes them from
        one sample; a multi-host job reduces them over every host's sample."""
        dim = mean.shape[0]
        # A constant feature carries no signal; leave it unscaled rather than divide by zero.
        std = np.where(std > 1e-12, std, 1.0)
        scaler = cls(
            (mean if shift_features else np.zeros(dim)).astype(np.float32),
            (std if scale_features else np.ones(dim)).astype(np.float32),
        )
        if label_moments is not None:
            label_mean, label_std = label_moments
            if shift_label:
                scaler.label_shift = float(label_mean)
            if scale_label:
                scaler.label_scale = float(label_std) if label_std > 1e-12 else 1.0
        return scaler

    def transform_features(
        self,
        features: Features,
        *,
        order: np.ndarray | None = None,
        bias_column: bool = False,
    ) -> Features:
        """A normalised float32 copy, its rows taken in `order` when given, with a trailing
        constant-1 column when `bias_column` (the bias input during training).

        Sparse data stays sparse: it is only scaled, never shifted. Dense data is done in one
        pass of row blocks, so shuffling, normalising and widening cost one copy, not three.
        """
        rows = features.shape[0] if order is None else order.size
        if sp.issparse(features):
            out = sp.csr_matrix(
                features if order is None else features[order], dtype=np.float32, copy=True
            )
            out.data /= self.feature_scale[out.indices]
            return with_bias_column(out) if bias_column else out
        dim = features.shape[1]
        out = np.empty((rows, dim + (1 if bias_column else 0)), dtype=np.float32)
        block = max(1, (1 << 21) // max(dim, 1))
        for start in range(0, rows, block):
            stop = min(start + block, rows)
            chunk = features[start:stop] if order is None else features[order[start:stop]]
            target = out[start:stop, :dim]
            np.subtract(chunk, self.feature_shift, out=target, casting="unsafe")
            target /= self.feature_scale
        if bias_column:
            out[:, dim] = 1.0
        return out

    def transform_labels(self, labels: np.ndarray) -> np.ndarray:
        return ((labels.astype(np.float64) - self.label_shift) / self.label_scale).astype(
            np.float32
        )

    def unscale(self, weights: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weights `(features, outputs)` and bias for raw features and raw labels."""
        raw_w = weights / self.feature_scale[:, None].astype(np.float64)
        raw_b = bias - self.feature_shift.astype(np.float64) @ raw_w
        return raw_w * self.label_scale, raw_b * self.label_scale + self.label_shift


def with_bias_column(features: Features) -> Features:
    """Rows with a trailing constant-1 feature (the bias input during training)."""
    rows = features.shape[0]
    if sp.issparse(features):
        ones = sp.csr_matrix(np.ones((rows, 1), dtype=np.float32))
        return sp.hstack([features, ones], format="csr", dtype=np.float32)
    out = np.empty((rows, features.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = features
    out[:, -1] = 1.0
    return out
