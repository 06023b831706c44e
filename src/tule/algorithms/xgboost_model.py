"""A trained XGBoost model: the `xgboost-model` artifact and what the container's server predicts.

Artifact: one file `xgboost-model` at the root of the model directory, written by XGBoost's
`save_model` in its native format (the 1.3-1+ containers do this; earlier ones pickled the
Booster). We write UBJSON, XGBoost's own default for a name without an extension. Hosting reads
the objective and num_class back from the booster's config, as the container's server does, so
any native model file loads, not only ones tule wrote.

Predictions (specs/algorithms.md §4 Inference): by default one `score` per row (a list of class
probabilities per row for multi:softprob); with `SAGEMAKER_INFERENCE_OUTPUT` set to a comma list
of predicted_label, labels, probability, probabilities, raw_score, raw_scores, predicted_score,
those keys in that order, NaN for a key the objective does not support. A model trained with
early stopping predicts with the trees up to its best iteration (the container's server passes
the best iteration to `predict`; a bare `Booster.predict` would use every tree).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import xgboost

from tule.algorithms.base import AlgorithmError, DataError, TrainedModel
from tule.algorithms.float_text import float32_lines
from tule.algorithms.xgboost_metrics import predicted_classes

MODEL_FILE = "xgboost-model"
INFERENCE_OUTPUT = "SAGEMAKER_INFERENCE_OUTPUT"
SELECTABLE_KEYS = (
    "predicted_label",
    "labels",
    "probability",
    "probabilities",
    "raw_score",
    "raw_scores",
    "predicted_score",
)
_CLASSIFICATION_KEYS = frozenset(SELECTABLE_KEYS) - {"predicted_score"}
_LABEL_ONLY_KEYS = frozenset({"predicted_label", "labels", "raw_score", "raw_scores"})
# Up to this many rows predict on one thread. Rows are predicted independently (each sums its
# trees in the same order whatever the thread count), so the values are the same; but waking
# XGBoost's OpenMP team for a few rows cost more than the rows (a 10-tree model, one row: 190 us
# on one thread, 215 us to 4 ms with the team on 2 busy cores, its idle thread spinning).
SERIAL_ROWS = 64


def valid_output_keys(objective: str) -> frozenset[str]:
    """The selectable keys the container fills for an objective (§4 Selectable inference)."""
    if objective in ("binary:logistic", "multi:softprob"):
        return _CLASSIFICATION_KEYS
    if objective in ("binary:logitraw", "binary:hinge", "multi:softmax"):
        return _LABEL_ONLY_KEYS
    if objective.startswith(("reg:", "count:", "survival:", "rank:")):
        return frozenset({"predicted_score"})
    return frozenset()


def requested_keys(options: Mapping[str, str] | None) -> list[str] | None:
    """The keys of `SAGEMAKER_INFERENCE_OUTPUT` (None: the default `score` output)."""
    if not options:
        return None
    for key, value in options.items():
        if key.upper() == INFERENCE_OUTPUT and value and value.strip():
            return [k.strip().lower() for k in value.split(",") if k.strip()]
    return None


class XGBoostModel(TrainedModel):
    """A Booster plus what inference needs to know about it."""

    def __init__(self, booster: xgboost.Booster) -> None:
        self.booster = booster
        config = json.loads(booster.save_config())
        learner = config["learner"]
        self.objective: str = learner["objective"]["name"]
        self.num_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
        self.num_features = booster.num_features()
        best = booster.attr("best_iteration")
        # Early-stopped models predict with the trees up to the best round (0 = all trees).
        self.iteration_range = (0, int(best) + 1) if best is not None else (0, 0)
        self._serial: xgboost.Booster | None = None

    # -- artifact -------------------------------------------------------------------------------

    def save(self, model_dir: Path) -> None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        raw = self.booster.save_raw(raw_format="ubj")
        # Write then rename, so a reader never sees half a model.
        fd, tmp = tempfile.mkstemp(dir=model_dir, prefix=".xgboost-model.")
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
        os.replace(tmp, model_dir / MODEL_FILE)

    @classmethod
    def load(cls, model_dir: Path) -> Self:
        path = Path(model_dir) / MODEL_FILE
        if not path.exists():
            raise AlgorithmError(f"Model file {MODEL_FILE} not found in {model_dir}.")
        booster = xgboost.Booster()
        try:
            # From a buffer XGBoost detects JSON / UBJSON itself (no guessing from the name).
            booster.load_model(bytearray(path.read_bytes()))
        except xgboost.core.XGBoostError as exc:
            raise AlgorithmError(
                f"Unable to load model {MODEL_FILE}: {first_line(str(exc))}", client_error=True
            ) from None
        return cls(booster)

    # -- inference ------------------------------------------------------------------------------

    def check_features(self, features: Any) -> Any:
        """The container refuses rows whose width differs from the model's (HTTP 400).

        Dense rows (CSV, protobuf) must have exactly the model's feature count. Sparse rows
        (LibSVM) are as wide as their highest index, so narrower is fine and is widened."""
        width = int(features.shape[1])
        if sp.issparse(features):
            if width > self.num_features:
                used = int(features.indices.max()) + 1 if features.nnz else 0
                if used > self.num_features:
                    raise DataError(self._mismatch(used))
                features = features[:, : self.num_features]
            elif width < self.num_features:
                features = sp.csr_matrix(
                    (features.data, features.indices, features.indptr),
                    shape=(features.shape[0], self.num_features),
                )
            return features
        if width != self.num_features:
            raise DataError(self._mismatch(width))
        return features

    def _mismatch(self, width: int) -> str:
        return (
            f"Feature size of inference data {width} is not consistent with feature size of "
            f"trained model {self.num_features}."
        )

    def raw_predict(self, features: Any) -> np.ndarray:
        features = self.check_features(features)
        if features.shape[0] == 0:
            width = self.num_class if self.objective == "multi:softprob" else 0
            return np.zeros((0, width) if width else (0,), dtype=np.float32)
        if sp.issparse(features):
            features = sp.csr_matrix(features)
        booster = self.booster if features.shape[0] > SERIAL_ROWS else self._serial_booster()
        try:
            return booster.inplace_predict(features, iteration_range=self.iteration_range)
        except xgboost.core.XGBoostError as exc:
            raise DataError(first_line(str(exc))) from None

    def _serial_booster(self) -> xgboost.Booster:
        """The booster's single-threaded twin (made on first use; a race makes two, harmlessly).

        A separate booster, not `set_param` around the call: larger requests predict on other
        threads at the same time, and the thread count is the booster's own setting."""
        if self._serial is None:
            twin = self.booster.copy()
            twin.set_param({"nthread": 1})
            self._serial = twin
        return self._serial

    def predict(
        self, features: Any, *, options: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        predictions = self.raw_predict(features)
        keys = requested_keys(options)
        if keys is None:
            return {"score": predictions}
        return self.selected_outputs(predictions, keys)

    def selected_outputs(self, predictions: np.ndarray, keys: list[str]) -> dict[str, np.ndarray]:
        """The `SAGEMAKER_INFERENCE_OUTPUT` keys, in the order asked, NaN where not valid."""
        valid = valid_output_keys(self.objective)
        rows = len(predictions)
        out: dict[str, np.ndarray] = {}
        for key in keys:
            if key not in valid:
                out[key] = np.full(rows, np.nan, dtype=np.float32)
                continue
            out[key] = self._output(key, predictions)
        return out

    def _classes(self) -> int:
        return self.num_class if self.objective.startswith("multi:") else 2

    def _output(self, key: str, predictions: np.ndarray) -> np.ndarray:
        rows = len(predictions)
        objective = self.objective
        if key == "predicted_score":
            return np.asarray(predictions)
        if key == "predicted_label":
            return predicted_classes(objective, predictions)
        if key == "labels":
            return np.tile(np.arange(self._classes(), dtype=np.int64), (rows, 1))
        if objective == "multi:softprob":
            matrix = np.asarray(predictions).reshape(rows, -1)
            if key in ("probability", "raw_score"):
                return matrix.max(axis=1)
            return matrix  # probabilities, raw_scores
        if objective == "multi:softmax":
            # Only the class index comes back from softmax; raw_scores as a one-hot row (?).
            if key == "raw_score":
                return np.asarray(predictions)
            one_hot = np.zeros((rows, self._classes()), dtype=np.float32)
            one_hot[np.arange(rows), np.rint(predictions).astype(np.int64)] = 1.0
            return one_hot
        # binary:logistic (a probability), binary:logitraw (a margin), binary:hinge (0/1).
        score = np.asarray(predictions)
        if key in ("probability", "raw_score"):
            return score
        return np.column_stack([1 - score, score])  # probabilities, raw_scores


def _number(value: Any) -> str:
    """A value as the shortest text that reads back to it at its own precision (float32
    predictions print as `0.8752`, not as the float64 expansion `0.87520003318786621`)."""
    if isinstance(value, np.floating):
        return str(value)
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def encode_csv(outputs: Mapping[str, np.ndarray]) -> bytes:
    """text/csv as the container answers.

    Default output (`score` only): one line per row; a row with several values (softprob's
    class probabilities) comma-joined. Selected outputs (`SAGEMAKER_INFERENCE_OUTPUT`): the keys'
    values in the order asked, a list value written as one quoted field, `"[0.1, 0.9]"`."""
    keys = list(outputs)
    lines: list[str] = []
    if keys == ["score"]:
        scores = np.asarray(outputs["score"])
        if scores.ndim == 1 and scores.dtype == np.float32:  # the common case: vectorised
            return float32_lines(scores)
        if scores.ndim == 1:
            return ("\n".join(map(_number, scores)) + "\n").encode() if len(scores) else b""
        for row in scores:
            lines.append(",".join(_number(v) for v in np.ravel(row)))
    else:
        columns = [np.asarray(outputs[k]) for k in keys]
        for i in range(len(columns[0]) if columns else 0):
            cells = []
            for column in columns:
                value = column[i]
                if np.ndim(value):
                    inner = ", ".join(_number(v) for v in np.ravel(value))
                    cells.append(f'"[{inner}]"')
                else:
                    cells.append(_number(value))
            lines.append(",".join(cells))
    return "".join(line + "\n" for line in lines).encode()


def first_line(message: str) -> str:
    """XGBoost's error text without its `[time] file:line:` prefix and stack trace."""
    line = message.strip().splitlines()[0] if message.strip() else message
    if line.startswith("[") and "]" in line:
        line = line.split("]", 1)[1].strip()
    head, sep, rest = line.partition(": ")
    if sep and (".cc:" in head or ".cu:" in head or ".h:" in head):
        line = rest
    if line.startswith("Check failed: ") and ": " in line[len("Check failed: ") :]:
        # "Check failed: valid: SoftmaxMultiClassObj: label must be ..." - drop the C++ check.
        line = line[len("Check failed: ") :].split(": ", 1)[1]
    return line.strip()


__all__ = [
    "INFERENCE_OUTPUT",
    "MODEL_FILE",
    "SELECTABLE_KEYS",
    "XGBoostModel",
    "encode_csv",
    "first_line",
    "requested_keys",
    "valid_output_keys",
]
