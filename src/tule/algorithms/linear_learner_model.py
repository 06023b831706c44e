"""A trained Linear Learner model: the `model_algo-1` artifact and its predictions.

Artifact. SageMaker's `model_algo-1` is a zip of MXNet module files (`mx-mod-symbol.json`,
`mx-mod-0000.params`, `manifest.json`, `additional-params.json`) holding only the best of the
parallel models (specs/algorithms.md §1 Model artifact). tule writes its own format under the
same name: a NumPy `.npz` archive (no pickles) with the selected model's weights and bias
already mapped back to raw features and labels, the binary threshold, and a JSON header
(predictor type, loss, the scaler's statistics and the winning settings, for inspection).
Artifacts produced by the real container cannot be loaded.

Predictions follow the container's response fields (§1 Inference): regressors give `score`;
binary classifiers give `score` (P(label = 1) with logistic loss, the raw margin with hinge
loss) and `predicted_label` (score above the tuned threshold); multiclass classifiers give
`score` as the list of class probabilities and `predicted_label` as the arg-max class.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from tule.algorithms.base import AlgorithmError, DataError, TrainedModel

MODEL_FILE = "model_algo-1"
FORMAT = "tule-linear-learner/1"


class LinearLearnerModel(TrainedModel):
    """One linear model `(features, outputs)` plus what turns its outputs into predictions.

    `replica=True` is the copy held by a host other than the master of a multi-host job: it
    predicts the same, but `save` writes nothing (the model is `algo-1`'s)."""

    def __init__(
        self,
        *,
        predictor_type: str,
        loss: str,
        weights: np.ndarray,
        bias: np.ndarray,
        threshold: float = 0.5,
        info: Mapping[str, Any] | None = None,
        replica: bool = False,
    ) -> None:
        self.replica = replica
        self.predictor_type = predictor_type
        self.loss = loss
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = np.asarray(bias, dtype=np.float64).reshape(-1)
        self.threshold = float(threshold)
        self.info = dict(info or {})

    @property
    def feature_dim(self) -> int:
        return int(self.weights.shape[0])

    def raw_scores(self, features: Any) -> np.ndarray:
        """Linear outputs `(rows, outputs)` for raw features."""
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            width = features.shape[1] if features.ndim == 2 else features.shape[-1]
            raise DataError(
                f"Invalid input: the model expects {self.feature_dim} features per record, "
                f"got {width}."
            )
        if sp.issparse(features):
            out = np.asarray(features.astype(np.float64) @ self.weights)
        else:
            out = np.asarray(features, dtype=np.float64) @ self.weights
        return out + self.bias

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """The `score` values from linear outputs."""
        if self.predictor_type == "multiclass_classifier":
            shifted = raw - raw.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            return exp / exp.sum(axis=1, keepdims=True)
        column = raw[:, 0]
        if self.predictor_type == "binary_classifier" and self.loss == "logistic":
            return 1.0 / (1.0 + np.exp(-np.clip(column, -500, 500)))
        return column

    def predict(
        self, features: Any, *, options: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        score = self.transform(self.raw_scores(features))
        if self.predictor_type == "regressor":
            return {"score": score.astype(np.float32)}
        if self.predictor_type == "multiclass_classifier":
            label = score.argmax(axis=1)
        else:
            label = (score > self.threshold).astype(np.int64)
        return {"score": score.astype(np.float32), "predicted_label": label.astype(np.int64)}

    # -- artifact ---------------------------------------------------------------------------

    def save(self, model_dir: Path) -> None:
        if self.replica:
            return
        header = {
            "format": FORMAT,
            "predictor_type": self.predictor_type,
            "loss": self.loss,
            "threshold": self.threshold,
            "info": self.info,
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            header=np.array(json.dumps(header)),
            weights=self.weights,
            bias=self.bias,
        )
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / MODEL_FILE).write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, model_dir: Path) -> Self:
        path = model_dir / MODEL_FILE
        if not path.is_file():
            raise AlgorithmError(f"No model file '{MODEL_FILE}' found in the model directory.")
        try:
            with np.load(path, allow_pickle=False) as archive:
                header = json.loads(str(archive["header"]))
                weights, bias = archive["weights"], archive["bias"]
        except (ValueError, KeyError, OSError) as exc:
            raise AlgorithmError(
                f"'{MODEL_FILE}' is not a Linear Learner model written by tule ({exc}). "
                "Artifacts of SageMaker's own container (MXNet modules) cannot be loaded."
            ) from None
        if header.get("format") != FORMAT:
            raise AlgorithmError(f"'{MODEL_FILE}' has unknown format {header.get('format')!r}.")
        return cls(
            predictor_type=header["predictor_type"],
            loss=header["loss"],
            weights=weights,
            bias=bias,
            threshold=header["threshold"],
            info=header.get("info", {}),
        )
