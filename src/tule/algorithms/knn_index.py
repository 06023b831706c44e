"""k-NN's sampling, dimension reduction and faiss index (SageMaker's "How the k-NN Algorithm
Works": sample, reduce dimension, build an index).

* Sampling: `Reservoir` keeps a uniform random sample of `sample_size` rows of a stream in one
  pass ("sampling runs in linear time"): every row draws a seeded uniform key and the rows with
  the smallest keys are kept, which is reservoir sampling without replacement, vectorised per
  mini-batch. The sample keeps the stream's row order. On several hosts each samples its own
  shard and `merge_samples` draws the job's sample from theirs.
* Reduction: `sign` is a random projection with a matrix of random signs scaled by
  1/sqrt(target); `fjlt` is the fast Johnson-Lindenstrauss transform in its subsampled
  randomized Hadamard form (random sign flips, a Walsh-Hadamard transform, `target` sampled
  coordinates rescaled by sqrt(d'/target)). Both preserve L2 distances and inner products in
  expectation, as the SageMaker page says.
* Index: faiss `IndexFlat`, `IndexIVFFlat` or `IndexIVFPQ` with L2 or inner-product metric
  (COSINE is inner product on unit-normalised vectors). IVFPQ pads the dimension with zeros to
  a multiple of `faiss_index_pq_m` (SageMaker: "the dimension is padded").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np
import scipy.sparse as sp

Matrix = np.ndarray | sp.csr_matrix


class Reservoir:
    """A uniform sample of at most `size` rows (with labels) of a stream, seeded.

    Rows are appended in parts and compacted (the `size` smallest keys kept) whenever twice
    `size` rows are held, so the work is linear in the stream. After a compaction only rows
    whose key beats the largest kept key can still enter."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.rng = rng
        self.seen = 0
        self.held = 0
        self.threshold = np.inf
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, features: Matrix, labels: np.ndarray) -> None:
        rows = features.shape[0]
        keys = self.rng.random(rows)
        order = np.arange(self.seen, self.seen + rows)
        self.seen += rows
        take = np.flatnonzero(keys < self.threshold)
        if take.size == 0:
            return
        if take.size < rows:
            features, labels, keys, order = features[take], labels[take], keys[take], order[take]
        dense = features.toarray() if sp.issparse(features) else np.asarray(features)
        dense = dense.astype(np.float32, copy=False)
        self.parts.append((keys, order, np.asarray(labels, dtype=np.float32), dense))
        self.held += len(keys)
        if self.held >= 2 * self.size:
            self._compact()

    def _compact(self) -> None:
        if not self.parts:
            return
        parts, self.parts = self.parts, []
        keys, order, labels = (np.concatenate([part[i] for part in parts]) for i in range(3))
        features = np.concatenate([part[3] for part in parts]) if len(parts) > 1 else parts[0][3]
        del parts  # the parts' feature blocks go as soon as the concatenation exists
        if len(keys) > self.size:
            keep = np.argpartition(keys, self.size - 1)[: self.size]
            keys, order, labels, features = keys[keep], order[keep], labels[keep], features[keep]
            self.threshold = float(keys.max())
        self.parts = [(keys, order, labels, features)]
        self.held = len(keys)

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """(features, labels) of the kept rows in stream order."""
        self._compact()
        if not self.parts:
            return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
        _, order, labels, features = self.parts[0]
        if np.all(order[1:] > order[:-1]):  # nothing was dropped or reordered: no copy
            return features, labels
        by_position = np.argsort(order, kind="stable")
        return np.ascontiguousarray(features[by_position]), labels[by_position]


def merge_samples(
    samples: list[tuple[np.ndarray, np.ndarray]],
    seen: list[int],
    size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A uniform sample of at most `size` rows of the union of several streams, from a uniform
    sample of each (host i kept min(size, seen[i]) of its seen[i] rows).

    How many rows of a uniform `size`-subset of all the rows fall on each stream follows the
    multivariate hypergeometric law; drawing those counts, then that many rows uniformly from
    each stream's own sample, is a uniform sample of the union (each stream's sample is big
    enough: a count never exceeds min(size, seen[i])). Rows keep stream order, streams rank
    order."""
    total = int(sum(seen))
    counts = rng.multivariate_hypergeometric(np.asarray(seen, dtype=np.int64), min(size, total))
    features: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for (x, y), count in zip(samples, counts, strict=True):
        if count == 0:
            continue
        keep = np.sort(rng.choice(len(y), size=int(count), replace=False))
        features.append(x[keep])
        labels.append(y[keep])
    if not features:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
    return np.concatenate(features), np.concatenate(labels)


# ---------------------------------------------------------------------------------------------
# Dimension reduction


def _hadamard(x: np.ndarray) -> np.ndarray:
    """Orthonormal Walsh-Hadamard transform of each row (width a power of two)."""
    rows, width = x.shape
    out = x.copy()
    step = 1
    while step < width:
        view = out.reshape(rows, width // (2 * step), 2, step)
        left = view[:, :, 0, :].copy()
        view[:, :, 0, :] += view[:, :, 1, :]
        view[:, :, 1, :] = left - view[:, :, 1, :]
        step *= 2
    return out / math.sqrt(width)


@dataclass(frozen=True)
class Reduction:
    """A fitted `sign` or `fjlt` projection from `source` to `target` dimensions."""

    kind: str
    source: int
    target: int
    matrix: np.ndarray | None = None  # sign: (source, target)
    signs: np.ndarray | None = None  # fjlt: (padded,) of +-1
    picks: np.ndarray | None = None  # fjlt: (target,) coordinates kept

    @classmethod
    def fit(cls, kind: str, source: int, target: int, rng: np.random.Generator) -> Reduction:
        if kind == "sign":
            signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(source, target))
            return cls(kind, source, target, matrix=signs / np.float32(math.sqrt(target)))
        padded = 1 << max(0, (source - 1).bit_length())
        flips = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=padded)
        picks = np.sort(rng.choice(padded, size=target, replace=False))
        return cls(kind, source, target, signs=flips, picks=picks)

    def apply(self, x: Matrix) -> np.ndarray:
        if self.kind == "sign":
            assert self.matrix is not None
            return np.asarray(x @ self.matrix, dtype=np.float32)
        assert self.signs is not None and self.picks is not None
        dense = x.toarray() if sp.issparse(x) else np.asarray(x)
        padded = np.zeros((dense.shape[0], self.signs.size), dtype=np.float32)
        padded[:, : self.source] = dense
        mixed = _hadamard(padded * self.signs)
        scale = np.float32(math.sqrt(self.signs.size / self.target))
        return np.ascontiguousarray(mixed[:, self.picks] * scale, dtype=np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for name in ("matrix", "signs", "picks"):
            value = getattr(self, name)
            if value is not None:
                out[f"reduction_{name}"] = value
        return out


# ---------------------------------------------------------------------------------------------
# The faiss index


def _pq_bits(rows: int) -> int:
    """Bits per PQ code: faiss's 8 (256 centroids per sub-quantizer) unless the sample is
    too small to train that many, when it drops to what the sample supports."""
    return max(1, min(8, math.floor(math.log2(max(rows, 2)))))


def default_pq_m(dim: int, choices: tuple[int, ...]) -> int:
    """`faiss_index_pq_m` when unset: the largest allowed value giving sub-vectors of at
    least 4 dimensions (SageMaker documents no default; tule's rule)."""
    fitting = [m for m in choices if m * 4 <= dim]
    return max(fitting) if fitting else min(choices)


@dataclass
class IndexSpec:
    index_type: str  # faiss.Flat | faiss.IVFFlat | faiss.IVFPQ
    metric: str  # L2 | INNER_PRODUCT | COSINE
    nlists: int | None = None
    pq_m: int | None = None
    nprobe: int = 5


def prepare(x: np.ndarray, metric: str, padded_dim: int) -> np.ndarray:
    """Vectors as the index stores them: unit length for COSINE, zero-padded for IVFPQ."""
    out = np.ascontiguousarray(x, dtype=np.float32)
    if metric == "COSINE":
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.maximum(norms, np.float32(1e-30))
    if padded_dim > out.shape[1]:
        out = np.pad(out, ((0, 0), (0, padded_dim - out.shape[1])))
    return np.ascontiguousarray(out, dtype=np.float32)


def padded_dimension(dim: int, spec: IndexSpec) -> int:
    if spec.index_type != "faiss.IVFPQ" or not spec.pq_m:
        return dim
    return int(math.ceil(dim / spec.pq_m) * spec.pq_m)


def build_index(x: np.ndarray, spec: IndexSpec) -> faiss.Index:
    """A trained index holding every row of x (already `prepare`d)."""
    rows, dim = x.shape
    metric = faiss.METRIC_L2 if spec.metric == "L2" else faiss.METRIC_INNER_PRODUCT
    if spec.index_type == "faiss.Flat":
        index = faiss.IndexFlatL2(dim) if metric == faiss.METRIC_L2 else faiss.IndexFlatIP(dim)
    else:
        # faiss cannot train more lists than it has points.
        nlists = max(1, min(int(spec.nlists or 1), rows))
        quantizer = faiss.IndexFlatL2(dim) if metric == faiss.METRIC_L2 else faiss.IndexFlatIP(dim)
        if spec.index_type == "faiss.IVFFlat":
            index = faiss.IndexIVFFlat(quantizer, dim, nlists, metric)
        else:
            index = faiss.IndexIVFPQ(quantizer, dim, nlists, int(spec.pq_m or 1), _pq_bits(rows))
            # Small samples are allowed: no "please provide at least N points" warnings.
            index.pq.cp.min_points_per_centroid = 1
        index.cp.min_points_per_centroid = 1
        index.train(x)
        index.nprobe = min(spec.nprobe, nlists)
    index.add(x)
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(distances, ids) of the k nearest stored vectors. IVF rows that found fewer than k
    neighbours in their `nprobe` lists are searched again over every list, so each row always
    gets k real neighbours."""
    distances, ids = index.search(queries, k)
    short = np.flatnonzero((ids < 0).any(axis=1))
    if short.size and hasattr(index, "nprobe"):
        saved = index.nprobe
        index.nprobe = index.nlist
        try:
            distances[short], ids[short] = index.search(np.ascontiguousarray(queries[short]), k)
        finally:
            index.nprobe = saved
    return distances, ids


def serialize(index: faiss.Index) -> np.ndarray:
    return np.asarray(faiss.serialize_index(index), dtype=np.uint8)


def deserialize(data: np.ndarray) -> faiss.Index:
    return faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
