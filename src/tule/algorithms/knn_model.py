"""A trained k-NN model: the faiss index, its vectors' labels, the query transformation, and
the `model_algo-1` artifact.

Artifact (SageMaker does not document its own; see `tule.algorithms.knn`): one file
`model_algo-1`, a NumPy `.npz` archive without pickles holding `header` (JSON: format,
predictor type, k, index settings, dimensions), `index` (the faiss index as
`faiss.serialize_index` bytes), `labels` (the sampled rows' labels, float32, by faiss id) and
the dimension reduction's arrays (`reduction_matrix` for sign, `reduction_signs` and
`reduction_picks` for fjlt). Artifacts of SageMaker's own container cannot be loaded.

Predictions: classifier, the most common label of the k neighbours (ties to the smallest
label); regressor, their mean; with `verbose=true`, also `distances` (ascending) and `labels`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np

from tule.algorithms import knn_index
from tule.algorithms.base import AlgorithmError, DataError, TrainedModel
from tule.algorithms.knn_index import Reduction

MODEL_FILE = "model_algo-1"
FORMAT = "tule-knn/1"


def _vote(neighbour_labels: np.ndarray) -> np.ndarray:
    """Most common label per row; ties go to the smallest label (as scikit-learn's
    KNeighborsClassifier breaks them)."""
    classes, codes = np.unique(neighbour_labels, return_inverse=True)
    rows, k = neighbour_labels.shape
    codes = codes.reshape(rows, k)
    cells = (np.arange(rows)[:, None] * len(classes) + codes).ravel()
    counts = np.bincount(cells, minlength=rows * len(classes)).reshape(rows, len(classes))
    return classes[counts.argmax(axis=1)]


class KNNModel(TrainedModel):
    """The index, the labels of its vectors and the query transformation."""

    def __init__(
        self,
        index: Any,
        labels: np.ndarray,
        header: Mapping[str, Any],
        reduction: Reduction | None = None,
        *,
        replica: bool = False,
    ) -> None:
        # A non-master host's copy in a multi-host job: it predicts, but saves nothing.
        self.replica = replica
        self.index = index
        self.labels = np.asarray(labels, dtype=np.float32)
        self.header = dict(header)
        self.reduction = reduction

    @property
    def feature_dim(self) -> int:
        return int(self.header["feature_dim"])

    @property
    def k(self) -> int:
        return int(self.header["k"])

    def neighbours(self, features: Any) -> tuple[np.ndarray, np.ndarray]:
        """(distances ascending, neighbour labels), each (rows, k)."""
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise DataError(
                f"Invalid input: the model expects {self.feature_dim} features per record, "
                f"got {features.shape[-1]}."
            )
        queries = features
        if self.reduction is not None:
            queries = self.reduction.apply(queries)
        elif hasattr(queries, "toarray"):
            queries = queries.toarray()
        metric = self.header["index_metric"]
        prepared = knn_index.prepare(np.asarray(queries), metric, int(self.header["index_dim"]))
        raw, ids = knn_index.search(self.index, prepared, self.k)
        if metric == "L2":
            distances = np.sqrt(np.maximum(raw, 0))
        elif metric == "COSINE":
            distances = 1.0 - raw
        else:
            distances = -raw
        return distances.astype(np.float32), self.labels[ids]

    def predict(
        self, features: Any, *, options: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        distances, labels = self.neighbours(features)
        if self.header["predictor_type"] == "classifier":
            predicted = _vote(labels)
        else:
            predicted = labels.astype(np.float64).mean(axis=1)
        out = {"predicted_label": predicted.astype(np.float32)}
        if str((options or {}).get("verbose", "")).lower() == "true":
            out["distances"] = distances
            out["labels"] = labels
        return out

    def save(self, model_dir: Path) -> None:
        if self.replica:
            return
        arrays = {
            "header": np.array(json.dumps(self.header)),
            "index": knn_index.serialize(self.index),
            "labels": self.labels,
        }
        if self.reduction is not None:
            arrays.update(self.reduction.arrays())
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / MODEL_FILE).write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, model_dir: Path) -> Self:
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise AlgorithmError(f"No model file '{MODEL_FILE}' found in the model directory.")
        try:
            with np.load(path, allow_pickle=False) as archive:
                header = json.loads(str(archive["header"]))
                arrays = {name: archive[name] for name in archive.files}
        except (ValueError, KeyError, OSError) as exc:
            raise AlgorithmError(
                f"'{MODEL_FILE}' is not a k-NN model written by tule ({exc}). Artifacts of "
                "SageMaker's own k-NN container cannot be loaded."
            ) from None
        if header.get("format") != FORMAT:
            raise AlgorithmError(f"'{MODEL_FILE}' has unknown format {header.get('format')!r}.")
        reduction = None
        if header.get("reduction_type"):
            reduction = Reduction(
                header["reduction_type"],
                int(header["feature_dim"]),
                int(header["reduction_target"]),
                matrix=arrays.get("reduction_matrix"),
                signs=arrays.get("reduction_signs"),
                picks=arrays.get("reduction_picks"),
            )
        return cls(knn_index.deserialize(arrays["index"]), arrays["labels"], header, reduction)
