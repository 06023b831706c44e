"""K-Means, k-NN and PCA benchmark: tule's kernels vs scikit-learn and faiss, same data, one run.

Data: N x D float32 rows (default 1,000,000 x 50) drawn around 100 well-separated Gaussian
centres (specs performance.md §2), saved once as `.npy` (in-memory comparisons) and as
RecordIO-protobuf with the centre id as label (the end-to-end runs through the algorithm layer).
Every measurement runs in a fresh spawned process that loads the data first, so its peak-RSS
increase (peak RSS during the measured runs minus RSS before them, with the kernel's peak
mark reset first) is its own, BLAS/OpenMP/faiss
allocations included. Each prints the median of `--runs` timings.

Measured, with the targets of issue "Built-in algorithms I":

* K-Means Lloyd iteration (assign every row to the nearest of k = 100 centres, move the
  centres) from the same initial centres: tule's `kmeans_training.lloyd_iteration` vs
  scikit-learn `KMeans(algorithm="lloyd", init=C, n_init=1, max_iter=10, tol=0)` (time / its
  iterations) vs `faiss.Kmeans(niter=10)` on all rows (no subsampling). Target: tule >= 0.8x
  their speed.
* k-means++ seeding of k = 100 centres over all rows: tule's `kmeans_plus_plus` (D² sampling, as
  SageMaker describes) vs scikit-learn's `kmeans_plusplus` (greedy, 2 + ln k candidates per
  step). Target: no slower.
* k-NN batch queries (`--queries` rows, k = 10) against a flat L2 index of all rows: a tule
  `KNNModel` (faiss index + label vote, what an endpoint calls) vs raw `faiss.IndexFlatL2.search`.
  Target: >= 0.8x faiss's QPS.
* PCA, 10 components: tule's regular mode (streamed scatter accumulation + eigendecomposition,
  in-memory blocks as the algorithm reads them) vs scikit-learn `PCA(10).fit`. Target: <= 1.25x
  its time. Randomized mode vs `PCA(svd_solver="randomized")` is reported too.
* For information, end-to-end training through the algorithm layer from the RecordIO file
  (parsing included): K-Means with the container's defaults (mini-batch 5000, 1 epoch,
  K = 5 x k centres, shrink by local Lloyd) and scikit-learn `MiniBatchKMeans` for one epoch;
  k-NN (sample every row, build the flat index); PCA regular mode.

Threads: `--threads` (default: all cores) for every side; tule runs its own block-parallel pool
with BLAS held to one thread, the baselines use their OpenMP/BLAS threads.

    python benchmarks/algorithms_unsupervised.py [--rows 1000000] [--dim 50] [--runs 3]
        [--queries 1000] [--threads N] [--only kmeans,knn,pca] [--no-e2e]

`--only` takes measurement-name prefixes (`kmeans.lloyd`, `knn.query`, `pca.regular`, ...).

On a slow or shared machine, shrink with `--rows 200000 --runs 1` (and say so when quoting).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CLUSTERS = 100
KNN_K = 10
COMPONENTS = 10


def make_data(folder: Path, rows: int, dim: int, queries: int, seed: int = 5) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, dim), dtype=np.float32) * 5
    which = rng.integers(0, CLUSTERS, rows + queries)
    x = centres[which] + rng.standard_normal((rows + queries, dim), dtype=np.float32)
    np.save(folder / "x.npy", x[:rows])
    np.save(folder / "labels.npy", which[:rows].astype(np.float32))
    np.save(folder / "queries.npy", x[rows:])
    np.save(folder / "init.npy", x[rng.choice(rows, CLUSTERS, replace=False)])
    from tule.algorithms.formats import recordio_protobuf as rp

    (folder / "train").mkdir()
    with open(folder / "train" / "data.pbr", "wb") as out:
        for start in range(0, rows, 100_000):
            stop = min(start + 100_000, rows)
            rp.write_dense(out, x[start:stop], which[start:stop].astype(np.float32))


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _start_peak() -> float:
    """Current RSS (MiB), with the kernel's peak-RSS mark reset to it where Linux allows
    (`/proc/self/clear_refs` = 5), so the next `_peak_mb` is this measurement's own."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass
    current = _status_mb("VmRSS")
    return current if current is not None else _peak_mb()


def _peak_mb() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------- measurements
# Each returns (seconds of one run, extra figures); `setup` work is outside the timing.


def _tule_lloyd(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
    from tule.algorithms.kmeans_training import Workers, lloyd_iteration, single_threaded_blas

    x, init = data["x"], data["init"]

    def run() -> tuple[float, dict]:
        with single_threaded_blas(), Workers(threads) as workers:
            centres = init.copy()
            start = time.perf_counter()
            for _ in range(10):
                centres, loss = lloyd_iteration(x, centres, workers=workers)
            seconds = (time.perf_counter() - start) / 10
        return seconds, {"msd_after_10": loss / len(x)}

    return run


def _sklearn_lloyd(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
    from sklearn.cluster import KMeans

    x, init = data["x"], data["init"]

    def run() -> tuple[float, dict]:
        model = KMeans(CLUSTERS, init=init, n_init=1, max_iter=10, tol=0, algorithm="lloyd")
        start = time.perf_counter()
        model.fit(x)
        seconds = (time.perf_counter() - start) / model.n_iter_
        return seconds, {"iterations": model.n_iter_, "msd": model.inertia_ / len(x)}

    return run


def _faiss_lloyd(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
    import faiss

    x, init = data["x"], data["init"]

    def run() -> tuple[float, dict]:
        kmeans = faiss.Kmeans(x.shape[1], CLUSTERS, niter=10, max_points_per_centroid=10**9)
        start = time.perf_counter()
        kmeans.train(x, init_centroids=init)
        return (time.perf_counter() - start) / 10, {}

    return run


def _tule_kmeanspp(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
    from tule.algorithms.kmeans_training import Workers, kmeans_plus_plus, single_threaded_blas

    x = data["x"]

    def run() -> tuple[float, dict]:
        with single_threaded_blas(), Workers(threads) as workers:
            start = time.perf_counter()
            kmeans_plus_plus(x, CLUSTERS, np.random.default_rng(0), workers=workers)
            return time.perf_counter() - start, {}

    return run


def _sklearn_kmeanspp(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
    from sklearn.cluster import kmeans_plusplus

    x = data["x"]

    def run() -> tuple[float, dict]:
        start = time.perf_counter()
        kmeans_plusplus(x, CLUSTERS, random_state=0)
        return time.perf_counter() - start, {}

    return run


def _flat_index(x: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    return index


def _faiss_queries(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
    index, queries = _flat_index(data["x"]), data["queries"]

    def run() -> tuple[float, dict]:
        start = time.perf_counter()
        index.search(queries, KNN_K)
        seconds = time.perf_counter() - start
        return seconds, {"qps": len(queries) / seconds}

    return run


def _tule_queries(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
    from tule.algorithms.knn import KNNModel

    x, queries = data["x"], data["queries"]
    header = {
        "format": "tule-knn/1",
        "predictor_type": "classifier",
        "k": KNN_K,
        "feature_dim": x.shape[1],
        "index_type": "faiss.Flat",
        "index_metric": "L2",
        "index_dim": x.shape[1],
    }
    model = KNNModel(_flat_index(x), data["labels"], header)

    def run() -> tuple[float, dict]:
        start = time.perf_counter()
        model.predict(queries, options={"verbose": "true"})
        seconds = time.perf_counter() - start
        return seconds, {"qps": len(queries) / seconds}

    return run


def _tule_pca(mode: str) -> Callable[[dict, int], Callable[[], tuple[float, dict]]]:
    def setup(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
        from tule.algorithms.kmeans_training import Workers, single_threaded_blas
        from tule.algorithms.pca import _READ_VALUES
        from tule.algorithms.pca_training import ScatterAccumulator, SketchAccumulator

        x = data["x"]
        rows = _READ_VALUES // x.shape[1]  # the read size the algorithm uses

        def run() -> tuple[float, dict]:
            with single_threaded_blas(), Workers(threads) as workers:
                start = time.perf_counter()
                if mode == "regular":
                    acc: Any = ScatterAccumulator(x.shape[1])
                else:
                    acc = SketchAccumulator.start(x.shape[1], 20, np.random.default_rng(0))
                for begin in range(0, len(x), rows):
                    acc.add(x[begin : begin + rows], workers)
                result = acc.components(COMPONENTS, True)
                seconds = time.perf_counter() - start
            return seconds, {"top_singular_value": float(result.singular_values[-1])}

        return run

    return setup


def _sklearn_pca(solver: str) -> Callable[[dict, int], Callable[[], tuple[float, dict]]]:
    def setup(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
        from sklearn.decomposition import PCA

        x = data["x"]

        def run() -> tuple[float, dict]:
            model = PCA(COMPONENTS, svd_solver=solver, random_state=0)
            start = time.perf_counter()
            model.fit(x)
            seconds = time.perf_counter() - start
            return seconds, {"top_singular_value": float(model.singular_values_[0])}

        return run

    return setup


def _e2e(
    algorithm: str, raw: dict[str, str]
) -> Callable[[dict, int], Callable[[], tuple[float, dict]]]:
    def setup(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
        from tule.algorithms import registry
        from tule.algorithms.base import ChannelData, ListReporter, Resources

        cls = registry.get(algorithm)
        folder = data["folder"] / "train"
        channel = ChannelData("train", "application/x-recordio-protobuf", files=[folder])
        x = data["x"]

        def run() -> tuple[float, dict]:
            params = cls.hyperparameters.parse({"feature_dim": str(x.shape[1]), **raw})
            start = time.perf_counter()
            model = cls().train(
                params, {"train": channel}, ListReporter(), Resources(num_cpus=threads)
            )
            seconds = time.perf_counter() - start
            extra: dict = {}
            if algorithm == "kmeans":
                extra["msd"] = float(
                    np.mean(model.predict(x[:100_000])["distance_to_cluster"] ** 2)
                )
            return seconds, extra

        return run

    return setup


def _sklearn_minibatch(data: dict, threads: int) -> Callable[[], tuple[float, dict]]:
    from sklearn.cluster import MiniBatchKMeans

    x = data["x"]

    def run() -> tuple[float, dict]:
        model = MiniBatchKMeans(CLUSTERS, batch_size=5000, max_iter=1, n_init=1, random_state=0)
        start = time.perf_counter()
        model.fit(x)
        seconds = time.perf_counter() - start
        squared = model.transform(x[:100_000]).min(axis=1) ** 2
        return seconds, {"msd": float(squared.mean())}

    return run


MEASUREMENTS: dict[str, Callable[[dict, int], Callable[[], tuple[float, dict]]]] = {
    "kmeans.lloyd.tule": _tule_lloyd,
    "kmeans.lloyd.sklearn": _sklearn_lloyd,
    "kmeans.lloyd.faiss": _faiss_lloyd,
    "kmeans.kmeans++.tule": _tule_kmeanspp,
    "kmeans.kmeans++.sklearn": _sklearn_kmeanspp,
    "kmeans.e2e.tule": _e2e("kmeans", {"k": str(CLUSTERS)}),
    "kmeans.e2e.sklearn-minibatch": _sklearn_minibatch,
    "knn.query.tule": _tule_queries,
    "knn.query.faiss": _faiss_queries,
    "knn.e2e.tule": _e2e(
        "knn", {"k": str(KNN_K), "predictor_type": "classifier", "sample_size": "100000000"}
    ),
    "pca.regular.tule": _tule_pca("regular"),
    "pca.regular.sklearn": _sklearn_pca("auto"),
    "pca.randomized.tule": _tule_pca("randomized"),
    "pca.randomized.sklearn": _sklearn_pca("randomized"),
    "pca.e2e.tule": _e2e("pca", {"num_components": str(COMPONENTS), "mini_batch_size": "500"}),
}


def _child(name: str, folder: str, threads: int, runs: int, queue: Any) -> None:
    try:
        root = Path(folder)
        data = {
            "folder": root,
            "x": np.load(root / "x.npy"),
            "labels": np.load(root / "labels.npy"),
            "queries": np.load(root / "queries.npy"),
            "init": np.load(root / "init.npy"),
        }
        run = MEASUREMENTS[name](data, threads)
        before = _start_peak()
        results = [run() for _ in range(runs)]
        seconds = statistics.median(r[0] for r in results)
        queue.put({"seconds": seconds, "extra": results[-1][1], "peak_mb": _peak_mb() - before})
    except Exception as exc:  # report, do not hang the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def measure(name: str, folder: Path, threads: int, runs: int) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(name, str(folder), threads, runs, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    # Measurement name prefixes: "kmeans", "knn.query", "pca.regular.tule", ...
    parser.add_argument("--only", default="kmeans,knn,pca")
    parser.add_argument("--no-e2e", action="store_true")
    args = parser.parse_args(argv)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    prefixes = tuple(p.strip() for p in args.only.split(",") if p.strip())
    names = [
        n for n in MEASUREMENTS if n.startswith(prefixes) and not (args.no_e2e and ".e2e." in n)
    ]
    print(
        f"data: {args.rows} x {args.dim} float32, {CLUSTERS} centres; {args.queries} queries; "
        f"threads {args.threads}; median of {args.runs}; load average {os.getloadavg()[0]:.1f}"
    )
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_data(folder, args.rows, args.dim, args.queries)
        for name in names:
            result = measure(name, folder, args.threads, args.runs)
            results[name] = result
            if "error" in result:
                print(f"{name:32s} ERROR {result['error']}")
                continue
            extra = ", ".join(f"{k}={v:.4g}" for k, v in result["extra"].items())
            timing = f"{result['seconds']:9.4f} s  peak +{result['peak_mb']:7.1f} MiB"
            print(f"{name:32s} {timing}  {extra}")
    _ratios(results)
    return 0


def _ratios(results: dict[str, dict]) -> None:
    def seconds(name: str) -> float | None:
        result = results.get(name)
        return None if result is None or "error" in result else result["seconds"]

    print("\nratios (target in brackets):")
    pairs = [
        (
            "K-Means Lloyd speed vs scikit-learn",
            "kmeans.lloyd.sklearn",
            "kmeans.lloyd.tule",
            ">= 0.8x",
        ),
        ("K-Means Lloyd speed vs faiss", "kmeans.lloyd.faiss", "kmeans.lloyd.tule", ">= 0.8x"),
        (
            "k-means++ speed vs scikit-learn",
            "kmeans.kmeans++.sklearn",
            "kmeans.kmeans++.tule",
            ">= 1x",
        ),
        ("k-NN QPS vs faiss", "knn.query.faiss", "knn.query.tule", ">= 0.8x"),
        (
            "PCA speed vs scikit-learn",
            "pca.regular.sklearn",
            "pca.regular.tule",
            ">= 0.8x (time <= 1.25x)",
        ),
        (
            "PCA randomized speed vs scikit-learn",
            "pca.randomized.sklearn",
            "pca.randomized.tule",
            "info",
        ),
    ]
    for label, baseline, ours, target in pairs:
        base, mine = seconds(baseline), seconds(ours)
        if base is None or mine is None:
            continue
        print(f"  {label:40s} {base / mine:6.2f}x  [{target}]")


if __name__ == "__main__":
    sys.exit(main())
