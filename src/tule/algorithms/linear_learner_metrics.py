"""Linear Learner's evaluation: binary thresholds, model selection criteria and final metrics.

SageMaker's Linear Learner trains many models in parallel and, once training ends, "uses a
sample of (raw prediction, label) pairs to tune the threshold for a provided objective" and
keeps the model that scores best on the validation set (the training set when there is none)
[SageMaker docs, "How linear learner works"]. `search_thresholds` does that for every model at
once: it sorts each model's scores, sweeps every cut between distinct scores, and returns, per
model, the best value of the criterion and the threshold that reaches it.

`binary_metrics`, `multiclass_metrics` and `regression_metrics` compute the final scores the
container logs (names as they appear in its log lines: `binary_f_1.000`, `macro_f_1.000`,
`multiclass_top_k_accuracy_3`, `dcg`, ...).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

# Criteria for which a threshold is tuned on the calibration sample; the others rank models by
# a loss and use the natural threshold (probability 0.5, or raw score 0 with hinge loss).
THRESHOLD_CRITERIA = (
    "accuracy",
    "f_beta",
    "f1",
    "precision_at_target_recall",
    "recall_at_target_precision",
)
LOSS_CRITERIA = ("loss_function", "cross_entropy_loss")


@dataclass(frozen=True)
class Criterion:
    """A binary model-selection criterion with its parameters."""

    name: str
    beta: float = 1.0
    target_recall: float = 0.8
    target_precision: float = 0.8

    @property
    def effective_beta(self) -> float:
        # The SDK's legacy `f1` value is F-beta with beta fixed at 1.
        return 1.0 if self.name == "f1" else self.beta


def search_thresholds(
    scores: np.ndarray, labels: np.ndarray, criterion: Criterion, *, workers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Per model, the best criterion value and its threshold; `scores` is `(models, rows)`.

    A row is predicted positive when its score is strictly greater than the threshold; the
    thresholds are midpoints between consecutive distinct scores (plus one below the smallest
    score, predicting every row positive, and one at the largest, predicting none). Models are
    swept one at a time (contiguous passes), on up to `workers` threads (NumPy's sort and
    element-wise passes release the GIL).
    """
    m = scores.shape[0]
    positive = np.asarray(labels) == 1
    rows = np.asarray(scores, dtype=np.float32)

    def sweep(j: int) -> tuple[float, float]:
        return _best_cut(np.ascontiguousarray(rows[j]), positive, criterion)

    if workers > 1 and m > 1:
        with ThreadPoolExecutor(max_workers=min(workers, m)) as pool:
            results = list(pool.map(sweep, range(m)))
    else:
        results = [sweep(j) for j in range(m)]
    return np.array([r[0] for r in results]), np.array([r[1] for r in results])


_SIGN = np.uint32(0x80000000)


def _ranked(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores in descending order with their labels, by sorting one packed key per row.

    A float32's bits, sign-flipped, order like the floats; shifted left with the label in the
    low bit they make a uint64 key whose plain sort (much cheaper than an argsort plus two
    gathers) carries each label along with its score.
    """
    bits = scores.view(np.uint32)
    ordered = np.where(bits & _SIGN, ~bits, bits | _SIGN).astype(np.uint64)
    ordered <<= np.uint64(1)
    ordered |= positive
    ordered.sort()
    ordered = ordered[::-1]
    labels = (ordered & np.uint64(1)).astype(bool)
    top = (ordered >> np.uint64(1)).astype(np.uint32)
    return np.where(top & _SIGN, top & ~_SIGN, ~top).view(np.float32), labels


def _cut_value(criterion: Criterion, tp: float, k: float, positives: float, n: float) -> float:
    """The criterion at one cut (k rows predicted positive, tp of them truly), exactly."""
    precision = tp / k if k > 0 else 1.0
    recall = tp / positives if positives > 0 else 1.0
    name = criterion.name
    if name == "accuracy":
        return (tp + (n - positives) - (k - tp)) / n
    if name in ("f_beta", "f1"):
        b2 = criterion.effective_beta**2
        denominator = b2 * precision + recall
        return (1 + b2) * precision * recall / denominator if denominator > 0 else 0.0
    if name == "precision_at_target_recall":
        return precision if recall >= criterion.target_recall else -1.0 + recall
    if name == "recall_at_target_precision":
        return recall if precision >= criterion.target_precision else -1.0 + precision
    raise ValueError(f"{name!r} does not tune a threshold")


def _best_cut(
    scores: np.ndarray, positive: np.ndarray, criterion: Criterion
) -> tuple[float, float]:
    """One model's sweep over every cut of its ranked scores."""
    n = scores.size
    # Descending order; ties may land in any order, since only cuts between them count.
    ranked, ranked_positive = _ranked(scores, positive)
    # Cut k (k = 0..n) predicts the k highest-scored rows positive; it is realisable when the
    # k-th and (k+1)-th scores differ (ties go together). Cut 0 predicts nothing positive.
    # Counts stay exact in float32 up to 2**24 rows; beyond that, in float64.
    dtype = np.float32 if n < (1 << 24) else np.float64
    tp = np.zeros(n + 1, dtype=dtype)
    np.cumsum(ranked_positive, dtype=dtype, out=tp[1:])
    k = np.arange(n + 1, dtype=dtype)
    positives = float(tp[-1])
    name = criterion.name
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "accuracy":
            value = 2 * tp - k  # accuracy * n, less a constant
        elif name in ("f_beta", "f1"):
            # F-beta = (1 + b2) tp / (b2 P + k): the same ranking without the constant.
            value = tp / (criterion.effective_beta**2 * positives + k)
        elif name == "precision_at_target_recall":
            precision = np.where(k > 0, tp / k, 1)
            reached = tp.astype(np.float64) >= criterion.target_recall * positives
            value = np.where(reached, precision, -1 - (positives - tp))
        elif name == "recall_at_target_precision":
            precision = np.where(k > 0, tp / k, 1)
            reached = tp.astype(np.float64) >= criterion.target_precision * k.astype(np.float64)
            value = np.where(reached, tp, -1 - positives + precision)
        else:
            raise ValueError(f"{name!r} does not tune a threshold")
    value[1:-1][ranked[:-1] == ranked[1:]] = -np.inf
    best = int(np.argmax(value))
    if best == 0:
        threshold = float(ranked[0])  # nothing is strictly above the largest score
    elif best == n:
        threshold = float(ranked[-1]) - max(1e-6, abs(float(ranked[-1])) * 1e-6)
    else:
        threshold = (float(ranked[best - 1]) + float(ranked[best])) / 2.0
    return _cut_value(criterion, float(tp[best]), float(best), positives, float(n)), threshold


def precision_recall_at(
    scores: np.ndarray, labels: np.ndarray, threshold: float
) -> tuple[float, float]:
    """Precision and recall of one model's scores at `threshold`."""
    predicted = scores > threshold
    tp = float(np.sum(predicted & (labels == 1)))
    precision = tp / max(float(predicted.sum()), 1.0) if predicted.any() else 1.0
    positives = float(np.sum(labels == 1))
    recall = tp / positives if positives else 1.0
    return precision, recall


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U over average ranks, ties counted half)."""
    positives = labels == 1
    n_pos = int(positives.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(
    scores: np.ndarray, labels: np.ndarray, threshold: float, beta: float
) -> dict[str, float]:
    """Accuracy, F-beta, precision, recall and ROC AUC of one model at its threshold."""
    predicted = (scores > threshold).astype(np.float64)
    y = labels.astype(np.float64)
    precision, recall = precision_recall_at(scores, labels, threshold)
    b2 = beta * beta
    denominator = b2 * precision + recall
    f_beta = (1 + b2) * precision * recall / denominator if denominator > 0 else 0.0
    return {
        "binary_classification_accuracy": float(np.mean(predicted == y)),
        f"binary_f_{beta:.3f}": f_beta,
        "precision": precision,
        "recall": recall,
        "roc_auc_score": roc_auc(scores, labels),
    }


def multiclass_metrics(
    probabilities: np.ndarray, labels: np.ndarray, top_k: int, beta: float
) -> dict[str, float]:
    """Accuracy, top-k accuracy, DCG, macro precision/recall/F-beta and balanced accuracy."""
    n, classes = probabilities.shape
    y = labels.astype(np.int64)
    predicted = probabilities.argmax(axis=1)
    true_score = probabilities[np.arange(n), y]
    # Rank of the true class (1 = top); ties resolved in the true class's favour.
    rank = 1 + np.sum(probabilities > true_score[:, None], axis=1)
    k = min(top_k, classes)
    recalls, precisions, f_scores = [], [], []
    b2 = beta * beta
    for c in range(classes):
        actual = y == c
        chosen = predicted == c
        tp = float(np.sum(actual & chosen))
        if not actual.any():
            continue  # a class absent from the data has no recall to average
        recall = tp / float(actual.sum())
        precision = tp / float(chosen.sum()) if chosen.any() else 0.0
        denominator = b2 * precision + recall
        recalls.append(recall)
        precisions.append(precision)
        f_scores.append((1 + b2) * precision * recall / denominator if denominator > 0 else 0.0)
    clipped = np.clip(true_score, 1e-15, 1.0)
    return {
        "multiclass_accuracy": float(np.mean(predicted == y)),
        f"multiclass_top_k_accuracy_{top_k}": float(np.mean(rank <= k)),
        "dcg": float(np.mean(1.0 / np.log2(1.0 + rank))),
        "macro_recall": float(np.mean(recalls)),
        "macro_precision": float(np.mean(precisions)),
        f"macro_f_{beta:.3f}": float(np.mean(f_scores)),
        "multiclass_balanced_accuracy": float(np.mean(recalls)),
        "multiclass_log_loss": float(-np.mean(np.log(clipped))),
    }


def regression_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """MSE, RMSE and mean absolute error in the label's own units."""
    residual = predictions.astype(np.float64) - labels.astype(np.float64)
    mse = float(np.mean(residual * residual))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "absolute_loss": float(np.mean(np.abs(residual))),
    }
