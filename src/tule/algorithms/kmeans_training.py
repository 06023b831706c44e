"""The numerical core of SageMaker K-Means: nearest-centre search, k-means++, web-scale
mini-batch updates and the weighted local Lloyd that shrinks K centres to k.

SageMaker documents its K-Means as a variant of web-scale k-means (Sculley, 2010): it streams
mini-batches, keeps K = k x `extra_center_factor` centres, moves each centre towards the mean
of the points assigned to it with a per-centre learning rate 1/(points seen), optionally lets
old points fade (`half_life_time_size`), and finally reduces the K centres to k by running
Lloyd's algorithm on the K centres weighted by how many points each absorbed
(`local_lloyd_*`). This module has those pieces; `tule.algorithms.kmeans` drives them over a
channel and logs what the container logs.

Speed. Distances use the expansion ||x||² - 2·x·c + ||c||², one BLAS matrix product per block
of rows, then an arg-min over the block, as scikit-learn and faiss do. Blocks run on a small
thread pool with BLAS held to one thread per call: numpy releases the GIL in both steps, and
one BLAS thread per block avoids OpenBLAS's spinning threads fighting the pool (on a loaded
2-core machine that fight made a single multithreaded-BLAS pass 5x slower).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

Matrix = np.ndarray | sp.csr_matrix

# Rows per block for the row-parallel kernels.
BLOCK_ROWS = 4096


def _distance_block_rows(centers: int) -> int:
    """Rows per distance block: about 4 MiB of float32 scores (rows x centres), within
    [1024, 8192] rows; measured best on the 2-core AVX-512 box for k = 20, 100 and 500."""
    return max(1024, min(8192, (1 << 20) // max(centers, 1)))


_controller: Any = None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold BLAS to one thread (our own pool parallelises over blocks instead)."""
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # scikit-learn brings threadpoolctl; without it, BLAS keeps its threads
        yield
        return
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield


class Workers:
    """A thread pool for block-parallel kernels; `threads=1` runs blocks inline."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, min(int(threads), os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def run(self, rows: int, work: Callable[[int, int], None], block: int = BLOCK_ROWS) -> None:
        """Call `work(start, stop)` over row blocks, in parallel when it pays."""
        starts = range(0, rows, block)
        if self._pool is None or rows <= block:
            for start in starts:
                work(start, min(start + block, rows))
            return
        for future in [self._pool.submit(work, s, min(s + block, rows)) for s in starts]:
            future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_INLINE = Workers(1)


def _row_norms(x: Matrix) -> np.ndarray:
    if sp.issparse(x):
        return np.asarray(x.multiply(x).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", x, x)


def nearest(
    x: Matrix, centers: np.ndarray, workers: Workers = _INLINE
) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest centre, squared Euclidean distance to it) for every row of x.

    Distances come from the expanded form, so they carry float rounding of the order of
    eps·||x||²; callers that report a distance recompute it directly (`distances_to`)."""
    rows = x.shape[0]
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    minus_two_ct = np.ascontiguousarray((-2.0 * centers).T, dtype=dtype)
    center_norms = np.einsum("ij,ij->i", centers, centers).astype(dtype)
    labels = np.empty(rows, dtype=np.int64)
    best = np.empty(rows, dtype=dtype)

    def work(start: int, stop: int) -> None:
        block = x[start:stop]
        scores = block @ minus_two_ct
        scores = np.asarray(scores)
        scores += center_norms
        index = scores.argmin(axis=1)
        labels[start:stop] = index
        best[start:stop] = np.take_along_axis(scores, index[:, None], axis=1)[:, 0] + _row_norms(
            block
        )

    if sp.issparse(x):
        work(0, rows)  # scipy's sparse product is single-threaded and does the whole batch
    else:
        workers.run(rows, work, block=_distance_block_rows(len(centers)))
    np.maximum(best, 0, out=best)
    return labels, best


def distances_to(x: Matrix, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Exact squared distances (float64) of each row to `centers[labels]`, by differences."""
    chosen = centers[labels].astype(np.float64)
    if sp.issparse(x):
        diff = np.asarray(x.toarray(), dtype=np.float64) - chosen
    else:
        diff = np.asarray(x, dtype=np.float64) - chosen
    return np.einsum("ij,ij->i", diff, diff)


def cluster_sums(
    x: Matrix, labels: np.ndarray, clusters: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(per-cluster weighted sums of rows (float64), per-cluster total weight)."""
    rows = x.shape[0]
    data = np.ones(rows, dtype=x.dtype) if weights is None else weights.astype(x.dtype)
    # A one-hot (rows x clusters) sparse matrix: its transpose times x is every cluster's sum
    # in one pass over x (much faster than np.add.at).
    onehot = sp.csr_matrix((data, labels, np.arange(rows + 1)), shape=(rows, clusters))
    product = onehot.T @ x
    sums = product.toarray() if sp.issparse(product) else np.asarray(product)
    counts = np.bincount(labels, weights=weights, minlength=clusters).astype(np.float64)
    return sums.astype(np.float64), counts


def kmeans_plus_plus(
    x: np.ndarray,
    k: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    workers: Workers = _INLINE,
) -> np.ndarray:
    """k initial centres by k-means++ (Arthur & Vassilvitskii): the first drawn with
    probability ∝ weight, each next one ∝ weight x squared distance to the nearest centre
    chosen so far — the seeding SageMaker describes for `init_method=kmeans++`. Weights let
    the local Lloyd seed on centres weighted by their counts. Zero-probability cases (all
    remaining points on a centre) fall back to a uniform pick among unchosen points."""
    rows = x.shape[0]
    w = np.ones(rows) if weights is None else np.asarray(weights, dtype=np.float64)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    norms = _row_norms(x).astype(dtype)
    chosen = np.zeros(rows, dtype=bool)
    centers = np.empty((k, x.shape[1]), dtype=x.dtype)
    nearest_sq = np.full(rows, np.inf, dtype=dtype)

    def pick(p: np.ndarray) -> int:
        total = float(p.sum())
        if not math.isfinite(total) or total <= 0:
            free = np.flatnonzero(~chosen)
            return int(free[rng.integers(len(free))]) if len(free) else int(rng.integers(rows))
        cumulative = np.cumsum(p)
        return int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1]), rows - 1))

    index = pick(w)
    for i in range(k):
        if i:
            index = pick(w * nearest_sq)
        chosen[index] = True
        center = x[index]
        centers[i] = center
        center_norm = dtype(np.dot(center, center))
        column = center.astype(dtype)

        def work(start: int, stop: int, column: np.ndarray = column, cn: Any = center_norm) -> None:
            d2 = x[start:stop] @ column
            d2 *= -2
            d2 += norms[start:stop]
            d2 += cn
            np.minimum(nearest_sq[start:stop], d2, out=nearest_sq[start:stop])

        workers.run(rows, work, block=1 << 16)
        np.maximum(nearest_sq, 0, out=nearest_sq)
    return centers


def random_init(
    x: np.ndarray, k: int, rng: np.random.Generator, weights: np.ndarray | None = None
) -> np.ndarray:
    """k distinct rows drawn at random (∝ weight when weighted: zero-weight rows last)."""
    rows = x.shape[0]
    if weights is None:
        return x[rng.choice(rows, size=k, replace=False)].copy()
    w = np.asarray(weights, dtype=np.float64)
    positive = int(np.count_nonzero(w > 0))
    if positive >= k:
        return x[rng.choice(rows, size=k, replace=False, p=w / w.sum())].copy()
    order = np.concatenate([np.flatnonzero(w > 0), rng.permutation(np.flatnonzero(w <= 0))])
    return x[order[:k]].copy()


# ---------------------------------------------------------------------------------------------
# Lloyd's algorithm


def lloyd_iteration(
    x: Matrix,
    centers: np.ndarray,
    weights: np.ndarray | None = None,
    workers: Workers = _INLINE,
) -> tuple[np.ndarray, float]:
    """One Lloyd step: assign every row to its nearest centre, move each centre to the
    (weighted) mean of its rows. An empty cluster is moved onto the row farthest from its
    centre (the next farthest for the next empty one), as scikit-learn and faiss do, so no
    centre is wasted. Returns (new centres, weighted sum of squared distances before the
    move)."""
    labels, d2 = nearest(x, centers, workers)
    sums, counts = cluster_sums(x, labels, len(centers), weights)
    moved = centers.astype(np.float64, copy=True)
    filled = counts > 0
    moved[filled] = sums[filled] / counts[filled, None]
    empty = np.flatnonzero(~filled)
    if empty.size:
        cost = d2 if weights is None else d2 * (weights > 0)
        farthest = np.argsort(cost)[::-1][: empty.size]
        farthest = farthest[cost[farthest] > 0]
        rows = x[farthest]
        moved[empty[: farthest.size]] = rows.toarray() if sp.issparse(rows) else rows
    loss = float(d2 @ weights) if weights is not None else float(d2.sum(dtype=np.float64))
    return moved.astype(centers.dtype), loss


@dataclass(frozen=True)
class LloydResult:
    centers: np.ndarray
    msd: float  # weighted mean squared distance of the points to the final centres
    trial: int
    iterations: int


def local_lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    k: int,
    *,
    init_method: str,
    max_iter: int,
    tol: float,
    trials: int,
    rng: np.random.Generator,
    log: Callable[[str], None] | None = None,
) -> LloydResult:
    """Weighted Lloyd's algorithm from `trials` seedings; the lowest loss wins.

    A trial stops after `max_iter` iterations or when the loss improves by less than `tol`
    relative to the previous iteration (SageMaker's `local_lloyd_tol`: "the tolerance for
    change in loss for early stopping")."""
    total = float(weights.sum()) or 1.0
    best: LloydResult | None = None
    for trial in range(trials):
        if init_method == "kmeans++":
            centers = kmeans_plus_plus(points, k, rng, weights)
        else:
            centers = random_init(points, k, rng, weights)
        previous = math.inf
        iterations = 0
        for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is the result
            moved, loss = lloyd_iteration(points, centers, weights)
            improvement = previous - loss
            centers = moved
            if previous < math.inf and improvement <= tol * max(previous, 1e-30):
                break
            previous = loss
        _, d2 = nearest(points, centers)
        msd = float(d2 @ weights) / total
        if log is not None:
            log(f"local kmeans attempt #{trial}. Current mean square distance {msd}")
        if best is None or msd < best.msd:
            best = LloydResult(centers, msd, trial, iterations)
    assert best is not None
    return best


# ---------------------------------------------------------------------------------------------
# Web-scale mini-batch k-means


class MiniBatchState:
    """K centres and the (decayed) weight of the points each has absorbed.

    Sculley's update, batched: a centre that receives n_b points with sum s_b moves to
    (v·c + s_b) / (v + n_b), where v is the weight it had; this is a per-centre learning rate
    of 1/(points seen). With `half_life_time_size` h > 0, every earlier point's weight is
    multiplied by 2^(-1/h) per new point, so a point counts 1/2 after h more points
    ("weight decays exponentially ... chosen so that after observing half_life_time_size
    points its weight is 1/2", SageMaker's hyperparameter docs)."""

    def __init__(self, centers: np.ndarray, half_life_time_size: int = 0) -> None:
        self.centers = np.asarray(centers, dtype=np.float64)
        self.weights = np.zeros(len(centers), dtype=np.float64)
        # Per centre, the (decayed) sum of squared norms of the points it absorbed: with the
        # weights and the centres (the running means of those points) it gives their spread.
        self.square_sums = np.zeros(len(centers), dtype=np.float64)
        self.decay_per_point = 0.5 ** (1.0 / half_life_time_size) if half_life_time_size else 1.0

    @classmethod
    def from_parts(
        cls,
        centers: np.ndarray,
        weights: np.ndarray,
        square_sums: np.ndarray,
        half_life_time_size: int = 0,
    ) -> MiniBatchState:
        """A state from its arrays: how the centres several hosts streamed on their shards
        are put side by side before the shrink (their spread stays exact: it is per centre)."""
        state = cls(centers, half_life_time_size)
        state.weights = np.asarray(weights, dtype=np.float64).copy()
        state.square_sums = np.asarray(square_sums, dtype=np.float64).copy()
        return state

    def update(self, batch: Matrix, workers: Workers = _INLINE) -> tuple[float, int]:
        """Absorb one mini-batch; returns (sum of squared distances before the move, rows)."""
        rows = batch.shape[0]
        dtype = np.float64 if batch.dtype == np.float64 else np.float32
        labels, d2 = nearest(batch, self.centers.astype(dtype), workers)
        sums, counts = cluster_sums(batch, labels, len(self.centers))
        norms = np.bincount(labels, weights=_row_norms(batch), minlength=len(self.centers))
        if self.decay_per_point != 1.0:
            self.weights *= self.decay_per_point**rows
            self.square_sums *= self.decay_per_point**rows
        self.square_sums += norms
        updated = self.weights + counts
        hit = counts > 0
        self.centers[hit] += (sums[hit] - counts[hit, None] * self.centers[hit]) / updated[
            hit, None
        ]
        self.weights = updated
        return float(d2.sum(dtype=np.float64)), rows

    def spread(self) -> float:
        """Weighted mean squared distance of the absorbed points to their centre (each centre
        is the running mean of its points, so this is their within-centre variance)."""
        total = float(self.weights.sum())
        if total <= 0:
            return 0.0
        centre_norms = np.einsum("ij,ij->i", self.centers, self.centers)
        within = self.square_sums - self.weights * centre_norms
        return max(float(within.sum()) / total, 0.0)
