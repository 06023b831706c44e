"""Linear Learner benchmark: tule's `linear-learner` vs scikit-learn's SGDClassifier, one run.

Data: N x 100 synthetic float32 rows (default N = 500,000) with a binary label drawn from a
noisy linear rule (Bayes accuracy about 0.9), plus 100,000 held-out rows from the same rule.
The training rows are written once as RecordIO-protobuf (what the SageMaker SDK's `record_set`
uploads and the container's default content type).

* tule: `LinearLearner.hyperparameters.parse(strings)` + `LinearLearner().train(...)` on a
  `train` channel holding the file: it parses the file, normalises, trains `num_models`
  models in parallel, selects the best and its threshold, logs the metrics. Reported twice:
  end to end, and without the file read (the time until the algorithm's first log line, which
  it writes once the data is in memory, is subtracted).
* scikit-learn: `SGDClassifier(random_state=0)` (hinge loss, alpha=1e-4, its own stopping
  rule) `.fit` on the in-memory arrays.

Both predict the held-out rows; the script prints each side's accuracy, the medians of
`--runs` wall-clock and process-CPU timings (CPU time is the steadier figure on a shared host),
and the ratio tule / scikit-learn (target <= 1.25x, issue "Built-in algorithms I"), once per
tule configuration in `--configs`; the runs are interleaved:

* `default`: the container's defaults (32 parallel models, 15 epochs, mini_batch_size 1000,
  early stopping on the training loss);
* `single`: `num_models=1`, `epochs=5` — one model, like SGDClassifier trains.

    python benchmarks/algorithms_linear_learner.py [--rows 500000] [--runs 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

FEATURES = 100
TEST_ROWS = 100_000
CONFIGS = {
    "default": {},
    "single": {"num_models": "1", "epochs": "5"},
}


def make_data(rows: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.random.default_rng(3).standard_normal(FEATURES) * (2.0 / np.sqrt(FEATURES))
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    logit = x @ truth.astype(np.float32) + rng.logistic(size=rows).astype(np.float32) * 0.5
    return x, (logit > 0).astype(np.float32)


class _Clock:
    """A reporter that remembers when the first line arrived."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.lines.append(line)


def run_tule(path: Path, extra: dict[str, str], threads: int, x_test, y_test):
    from tule.algorithms.base import ChannelData, Resources
    from tule.algorithms.linear_learner import LinearLearner

    strings = {"predictor_type": "binary_classifier", "feature_dim": str(FEATURES), **extra}
    start, cpu = time.perf_counter(), time.process_time()
    params = LinearLearner.hyperparameters.parse(strings)
    channel = ChannelData("train", "application/x-recordio-protobuf", [path])
    clock = _Clock()
    model = LinearLearner().train(params, {"train": channel}, clock, Resources(num_cpus=threads))
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    read = (clock.first or start) - start
    accuracy = float(np.mean(model.predict(x_test)["predicted_label"] == y_test))
    epochs = sum(1 for line in clock.lines if "#progress_metric" in line)
    return total, total - read, accuracy, epochs, cpu


def run_sklearn(x, y, x_test, y_test):
    from sklearn.linear_model import SGDClassifier

    start, cpu = time.perf_counter(), time.process_time()
    model = SGDClassifier(random_state=0).fit(x, y)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, float(np.mean(model.predict(x_test) == y_test)), int(model.n_iter_), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()

    from tule.algorithms.formats.recordio_protobuf import write_dense

    torch.set_num_threads(args.threads)
    x, y = make_data(args.rows)
    x_test, y_test = make_data(TEST_ROWS, seed=12)
    print(f"rows={args.rows} features={FEATURES} runs={args.runs} threads={args.threads}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.pbr"
        with open(path, "wb") as out:
            write_dense(out, x, y)
        names = args.configs.split(",")
        # Interleave the runs so that a change in the host's load hits every side alike.
        sk, tule = [], {name: [] for name in names}
        for _ in range(args.runs):
            sk.append(run_sklearn(x, y, x_test, y_test))
            for name in names:
                tule[name].append(run_tule(path, CONFIGS[name], args.threads, x_test, y_test))
        sk_time = statistics.median(s[0] for s in sk)
        sk_cpu = statistics.median(s[3] for s in sk)
        print(
            f"sklearn SGDClassifier: {sk_time:.3f}s (CPU {sk_cpu:.3f}s)  "
            f"accuracy={sk[0][1]:.4f}  epochs={sk[0][2]}"
        )
        for name in names:
            runs = tule[name]
            total = statistics.median(r[0] for r in runs)
            train_only = statistics.median(r[1] for r in runs)
            cpu = statistics.median(r[4] for r in runs)
            accuracy, epochs = runs[0][2], runs[0][3]
            print(
                f"tule linear-learner [{name}] {CONFIGS[name] or 'defaults'}: "
                f"end-to-end {total:.3f}s ({total / sk_time:.2f}x; "
                f"CPU {cpu:.3f}s, {cpu / sk_cpu:.2f}x), "
                f"without file read {train_only:.3f}s ({train_only / sk_time:.2f}x)  "
                f"accuracy={accuracy:.4f}  epochs={epochs}"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
