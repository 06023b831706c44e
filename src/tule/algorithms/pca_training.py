"""The numerical core of SageMaker PCA: one streaming pass (per epoch) over the channel.

* Regular mode ("for datasets with sparse data and a moderate number of observations and
  features", SageMaker's docs) accumulates the exact scatter matrix and mean over the
  mini-batches and takes its eigendecomposition. Blocks are merged with Chan et al.'s
  pairwise update (each block is centred on its own mean before its Gram product), so a large
  mean does not cancel away the digits of the variance.
* Randomized mode ("for datasets with both a large number of observations and features; uses
  an approximation algorithm") keeps only a d x l sketch Y = C·Omega of the covariance C, with
  l = num_components + extra_components and Omega a seeded random orthonormal matrix, and
  recovers the leading eigenpairs by the single-pass Nystrom approximation for positive
  semidefinite matrices (Tropp, Yurtsever, Udell & Cevher, 2017). Memory is O(d·l), not
  O(d²). Each further epoch is one more subspace iteration (Omega <- orth(Y)) before the
  Nystrom step, which sharpens the estimate.

Both accumulators are `merged` across the hosts of a multi-host job (`tule.algorithms.distributed`)
into the accumulator one host would have built from all the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp

# The block-parallel helpers K-Means uses: a thread pool over row blocks with BLAS held to
# one thread per call (see `kmeans_training`).
from tule.algorithms.distributed import Collective
from tule.algorithms.kmeans_training import Workers

Matrix = np.ndarray | sp.csr_matrix
INLINE = Workers(1)
# Rows per parallel block: big enough that BLAS runs at full speed on each.
_BLOCK_ROWS = 16384
_T = TypeVar("_T")


@dataclass(frozen=True)
class Components:
    """Leading principal components, smallest first (SageMaker's order, see `pca`)."""

    singular_values: np.ndarray  # (num_components,), ascending
    components: np.ndarray  # (feature_dim, num_components), column j belongs to value j
    mean: np.ndarray | None  # (feature_dim,) when subtract_mean


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Eigenvectors are defined up to sign; make each one's largest entry positive so runs
    and modes agree."""
    biggest = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[biggest, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1
    return vectors * signs


def _block_stats(x: Matrix) -> tuple[int, np.ndarray, np.ndarray]:
    """(rows, mean, scatter about the block's own mean) of one block, in float64."""
    rows = x.shape[0]
    if sp.issparse(x):
        mean = np.asarray(x.mean(axis=0), dtype=np.float64).ravel()
        gram = (x.T @ x).toarray().astype(np.float64)
        return rows, mean, gram - rows * np.outer(mean, mean)
    mean = x.mean(axis=0, dtype=np.float64)
    centred = x - mean.astype(x.dtype)
    # numpy turns `a.T @ a` into one BLAS syrk call.
    return rows, mean, (centred.T @ centred).astype(np.float64)


def _blocks(x: Matrix, workers: Workers, work: Callable[[Matrix], _T]) -> list[_T]:
    """`work` applied to row blocks of x, in parallel on `workers` (dense data only: scipy's
    sparse products hold the GIL, so sparse batches are one block)."""
    if sp.issparse(x):
        return [work(x)]
    rows = x.shape[0]
    results: dict[int, _T] = {}

    def run(start: int, stop: int) -> None:
        results[start] = work(x[start:stop])

    workers.run(rows, run, block=_BLOCK_ROWS)
    return [results[start] for start in sorted(results)]


class ScatterAccumulator:
    """Regular mode: exact count, mean and scatter (sum of centred outer products)."""

    def __init__(self, dim: int) -> None:
        self.rows = 0
        self.mean = np.zeros(dim, dtype=np.float64)
        self.scatter = np.zeros((dim, dim), dtype=np.float64)

    def add(self, x: Matrix, workers: Workers = INLINE) -> None:
        for block in _blocks(x, workers, _block_stats):
            self._merge(*block)

    def _merge(self, rows: int, mean: np.ndarray, scatter: np.ndarray) -> None:
        if rows == 0:
            return
        total = self.rows + rows
        delta = mean - self.mean
        self.scatter += scatter + np.outer(delta, delta) * (self.rows * rows / total)
        self.mean += delta * (rows / total)
        self.rows = total

    def merged(self, collective: Collective) -> ScatterAccumulator:
        """The accumulator of every host's rows together (self on one host).

        Two sums: the row counts and column sums give the global mean; then each host's
        scatter re-centred on it (S_i + n_i·d_i·d_iᵀ with d_i its mean's offset from the global
        one) sums to the global scatter exactly, without the cancellation of summing
        uncentred X^T X when the mean is large."""
        if not collective.distributed:
            return self
        counts = collective.allreduce_sum(
            np.concatenate([[float(self.rows)], self.rows * self.mean])
        )
        total = int(counts[0])  # a float count is exact below 2**53 rows
        out = ScatterAccumulator(len(self.mean))
        if total == 0:
            return out
        out.rows = total
        out.mean = counts[1:] / total
        delta = self.mean - out.mean
        local = self.scatter + self.rows * np.outer(delta, delta)
        out.scatter = collective.allreduce_sum(local)
        return out

    def components(self, count: int, subtract_mean: bool) -> Components:
        matrix = self.scatter
        if not subtract_mean:  # the uncentred second moment X^T X
            matrix = matrix + self.rows * np.outer(self.mean, self.mean)
        values, vectors = np.linalg.eigh(matrix)  # ascending
        top_values = np.maximum(values[-count:], 0.0)
        return Components(
            singular_values=np.sqrt(top_values),
            components=_fix_signs(vectors[:, -count:]),
            mean=self.mean.copy() if subtract_mean else None,
        )


class SketchAccumulator:
    """Randomized mode: Y = X^T X Omega, the column sums and the row count for one pass."""

    def __init__(self, omega: np.ndarray) -> None:
        self.omega = omega  # (dim, l), orthonormal columns
        self.rows = 0
        self.sums = np.zeros(omega.shape[0], dtype=np.float64)
        self.sketch = np.zeros(omega.shape, dtype=np.float64)
        self._omega32 = omega.astype(np.float32)

    @classmethod
    def start(cls, dim: int, width: int, rng: np.random.Generator) -> SketchAccumulator:
        gaussian = rng.standard_normal((dim, width))
        q, _ = np.linalg.qr(gaussian)
        return cls(q)

    def add(self, x: Matrix, workers: Workers = INLINE) -> None:
        omega = self.omega if x.dtype == np.float64 else self._omega32

        def partial(block: Matrix) -> np.ndarray:
            return np.asarray(block.T @ np.asarray(block @ omega), dtype=np.float64)

        for block_sketch in _blocks(x, workers, partial):
            self.sketch += block_sketch
        self.sums += np.asarray(x.sum(axis=0, dtype=np.float64)).ravel()
        self.rows += x.shape[0]

    @property
    def mean(self) -> np.ndarray:
        return self.sums / max(self.rows, 1)

    def merged(self, collective: Collective) -> SketchAccumulator:
        """The accumulator of every host's rows together (self on one host): every host used
        the same Omega (see `next_pass`), and the sketch, column sums and row count are sums
        over rows."""
        if not collective.distributed:
            return self
        out = SketchAccumulator(self.omega)
        out.sketch = collective.allreduce_sum(self.sketch)
        out.sums = collective.allreduce_sum(self.sums)
        out.rows = int(collective.allreduce_sum(np.array([self.rows], dtype=np.int64))[0])
        return out

    def centred_sketch(self, subtract_mean: bool) -> np.ndarray:
        """C·Omega for C = X^T X - n·mean·mean^T (or X^T X without subtract_mean)."""
        if not subtract_mean:
            return self.sketch
        mean = self.mean
        return self.sketch - self.rows * np.outer(mean, mean @ self.omega)

    def next_pass(
        self, subtract_mean: bool, collective: Collective | None = None
    ) -> SketchAccumulator:
        """A fresh accumulator whose test matrix is the orthonormalised current sketch (one
        subspace iteration). On several hosts the master's is used everywhere: the merged
        sketches are equal, but a rounding difference in the QR must not give hosts different
        test matrices, whose sketches could then not be summed."""
        q, _ = np.linalg.qr(self.centred_sketch(subtract_mean))
        if collective is not None and collective.distributed:
            q = collective.broadcast(q, root=0)
        return SketchAccumulator(q)

    def components(self, count: int, subtract_mean: bool) -> Components:
        omega = self.omega
        sketch = self.centred_sketch(subtract_mean)
        # Nystrom: C ~ Y (Omega^T Y)^+ Y^T, computed stably with a small shift nu.
        nu = np.sqrt(sketch.shape[0]) * np.finfo(np.float64).eps * np.linalg.norm(sketch)
        nu = max(nu, np.finfo(np.float64).tiny)
        shifted = sketch + nu * omega
        core = omega.T @ shifted
        core = (core + core.T) / 2
        try:
            factor = np.linalg.cholesky(core)
            basis = scipy.linalg.solve_triangular(factor, shifted.T, lower=True).T
            left, sigma, _ = np.linalg.svd(basis, full_matrices=False)
            values = np.maximum(sigma**2 - nu, 0.0)
        except np.linalg.LinAlgError:
            # Omega^T C Omega is singular (rank-deficient data): a Rayleigh-Ritz step on the
            # sketch's range instead.
            q, _ = np.linalg.qr(sketch)
            small = q.T @ sketch @ np.linalg.pinv(core) @ sketch.T @ q
            values, vectors = np.linalg.eigh((small + small.T) / 2)
            order = np.argsort(values)[::-1]
            values, left = np.maximum(values[order], 0.0), q @ vectors[:, order]
        # SVD order is descending; keep the leading `count`, then smallest first.
        top_values = values[:count][::-1]
        top_vectors = left[:, :count][:, ::-1]
        return Components(
            singular_values=np.sqrt(top_values),
            components=_fix_signs(top_vectors),
            mean=self.mean.copy() if subtract_mean else None,
        )
