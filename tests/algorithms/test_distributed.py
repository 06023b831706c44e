"""Multi-host training: one worker process per host, joined through XGBoost's collective,
trains the model that one host trains on all the data; only `algo-1` writes it.

Each job lays out one SageMaker workspace per host (`resourceconfig.json` naming both hosts),
gives each host half the rows (`train` ShardedByS3Key), starts a `Tracker` and runs
`python -m tule.algorithms.container train` per host with the tracker's environment; a test
compares the leader's model with `run_training` on every row in one workspace. The jobs run in
the background (the `jobs` fixture) so their start-up overlaps.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from tule.algorithms import distributed
from tule.algorithms.base import AlgorithmError, Resources
from tule.algorithms.container.train import load_resources, run_training
from tule.algorithms.distributed import COLLECTIVE_ENV, Tracker, communicator_args, joined
from tule.algorithms.formats import Dataset
from tule.algorithms.kmeans import KMeansModel
from tule.algorithms.knn_index import merge_samples
from tule.algorithms.knn_model import KNNModel
from tule.algorithms.pca import PCAModel
from tule.algorithms.xgboost_model import XGBoostModel
from tule.testing.algorithms import job_workspace

HOSTS = ["algo-1", "algo-2"]
PROTOBUF = "application/x-recordio-protobuf"
WORKER_TIMEOUT_S = 120


def _halves(channels: Mapping[str, Dataset]) -> list[dict[str, Dataset]]:
    """Each channel split in two by rows, as ShardedByS3Key would over two files."""
    shards: list[dict[str, Dataset]] = [{}, {}]
    for name, data in channels.items():
        cut = data.num_rows // 2
        for i, rows in enumerate((slice(0, cut), slice(cut, None))):
            labels = None if data.labels is None else np.asarray(data.labels)[rows]
            shards[i][name] = Dataset(np.asarray(data.features)[rows], labels)
    return shards


Runs = list[tuple[Path, subprocess.CompletedProcess]]


class _Job:
    """A two-host training job running in the background: a tracker and one
    `python -m tule.algorithms.container train` process per host, output to `stdout.log`."""

    def __init__(
        self,
        root: Path,
        algorithm: str,
        hyperparameters: Mapping[str, str],
        shards: list[dict[str, Dataset]],
        content_type: str,
    ) -> None:
        self.workspaces = [
            job_workspace(root / host, hyperparameters, shard, content_type, host, HOSTS)
            for host, shard in zip(HOSTS, shards, strict=True)
        ]
        self.tracker = Tracker(len(self.workspaces))
        self.tracker.start()
        env = {**os.environ, **self.tracker.worker_env(), "SM_NUM_CPUS": "1"}
        command = [sys.executable, "-m", "tule.algorithms.container", "train"]
        self.processes: list[subprocess.Popen] = []
        # Started last host first: ranks must follow the host list, not who connects first.
        for ws in reversed(self.workspaces):
            with open(ws / "stdout.log", "w") as log:
                self.processes.insert(
                    0,
                    subprocess.Popen(
                        [*command, "--algorithm", algorithm, "--workspace", str(ws)],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                )
        self._runs: Runs | None = None

    def wait(self) -> Runs:
        if self._runs is None:
            try:
                codes = [p.wait(timeout=WORKER_TIMEOUT_S) for p in self.processes]
            finally:
                self.stop()
            self._runs = [
                (ws, subprocess.CompletedProcess(p.args, code, (ws / "stdout.log").read_text()))
                for ws, p, code in zip(self.workspaces, self.processes, codes, strict=True)
            ]
        return self._runs

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.tracker.close()


def _train_on_one_host(
    tmp: Path,
    algorithm: str,
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, Dataset],
    content_type: str,
) -> tuple[Path, list[str]]:
    ws = job_workspace(tmp / "single", hyperparameters, channels, content_type)
    lines: list[str] = []
    code = run_training(ws, algorithm, stream=io.StringIO(), sink=lines.append)
    assert code == 0, "\n".join(lines)
    return ws, lines


def _succeeded(runs: list[tuple[Path, subprocess.CompletedProcess]]) -> None:
    for ws, result in runs:
        assert result.returncode == 0, f"{ws.name}:\n{result.stdout}"


def _only_the_leader_saved(runs: list[tuple[Path, subprocess.CompletedProcess]]) -> Path:
    (leader, _), (follower, _) = runs
    assert any((leader / "model").iterdir())
    assert not any((follower / "model").iterdir())
    return leader / "model"


@pytest.fixture(scope="module")
def jobs(request, tmp_path_factory):
    """The module's two-host jobs; `jobs(name)` waits for one and gives its (workspace,
    result) per host.

    Each worker is a fresh interpreter that spends most of its time importing XGBoost, so all
    jobs start together at the first request and share the cores. Under pytest-xdist, where
    every xdist worker would start them all, each job starts when a test asks for it."""
    root = tmp_path_factory.mktemp("hosts")
    specs = {
        "xgboost": ("xgboost", XGBOOST_HP, _halves(_xgboost_channels()), "text/csv"),
        "kmeans": ("kmeans", KMEANS_HP, _replicated_test(_kmeans_channels()), PROTOBUF),
        "kmeans-bad-shard": ("kmeans", KMEANS_HP, _bad_shard(), PROTOBUF),
        "knn": ("knn", KNN_HP, _replicated_test(_knn_channels()), PROTOBUF),
        "knn-unreducible": (
            "knn",
            KNN_UNREDUCIBLE_HP,
            _halves({"train": _labelled_blobs(200, 0)}),
            PROTOBUF,
        ),
        **{
            f"pca-{mode}": ("pca", hp, _halves({"train": Dataset(_plane(1000, 0))}), PROTOBUF)
            for mode, hp in PCA_HP.items()
        },
    }
    started: dict[str, _Job] = {}
    eager = not hasattr(request.config, "workerinput")  # set on pytest-xdist workers

    def wait(name: str) -> Runs:
        for each in specs if eager else [name]:
            if each not in started:
                started[each] = _Job(root / each, *specs[each])
        return started[name].wait()

    try:
        yield wait
    finally:
        for job in started.values():
            job.stop()


# ------------------------------------------------------------------------------- XGBoost


def _classification(rows: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 3] > 0).astype(np.float32)
    return Dataset(x, y)


XGBOOST_HP = {
    "num_round": "10",
    "objective": "binary:logistic",
    "eval_metric": "logloss,accuracy",
    "max_depth": "4",
}


def _xgboost_channels() -> dict[str, Dataset]:
    return {"train": _classification(2000, 0), "validation": _classification(600, 1)}


def test_xgboost_on_two_hosts_trains_the_one_host_model_with_global_metrics(tmp_path, jobs) -> None:
    channels = _xgboost_channels()
    runs = jobs("xgboost")
    _succeeded(runs)
    single, _ = _train_on_one_host(tmp_path, "xgboost", XGBOOST_HP, channels, "text/csv")

    distributed_model = XGBoostModel.load(_only_the_leader_saved(runs))
    one_host = XGBoostModel.load(single / "model")
    x = np.asarray(channels["validation"].features)
    y = np.asarray(channels["validation"].labels)
    p_dist = distributed_model.predict(x)["score"]
    p_one = one_host.predict(x)["score"]
    # Distributed hist merges the hosts' quantile sketches, so split points may differ a bit.
    assert np.max(np.abs(p_dist - p_one)) < 0.1
    assert abs(((p_dist > 0.5) == y).mean() - ((p_one > 0.5) == y).mean()) <= 0.01

    # The leader prints every round's scores, computed over both hosts' validation rows (the
    # scikit-learn accuracy included); the other host prints none.
    leader_log, follower_log = runs[0][1].stdout, runs[1][1].stdout
    rounds = [line for line in leader_log.splitlines() if line.startswith("[9]#011")]
    assert len(rounds) == 1 and "[9]#011" not in follower_log
    scores = dict(part.split(":") for part in rounds[0].split("#011")[1:])
    eps = 1e-7
    p = np.clip(p_dist.astype(np.float64), eps, 1 - eps)
    logloss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert float(scores["validation-logloss"]) == pytest.approx(logloss, abs=1e-4)
    accuracy = ((p_dist > 0.5) == y).mean()
    assert float(scores["validation-accuracy"]) == pytest.approx(accuracy, abs=1e-6)


# ------------------------------------------------------------------------------- K-Means


def _blobs(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = np.array(
        [[0, 0, 0, 0, 0], [10, 0, 0, 10, 0], [0, 10, 0, 0, 10], [10, 10, 10, 0, 0]],
        dtype=np.float32,
    )
    which = rng.integers(0, len(means), rows)
    return (means[which] + rng.standard_normal((rows, 5))).astype(np.float32), means


def _matched_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The largest distance between centres of a and b paired up to permutation."""
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].max())


def _train_msd(log: str) -> float:
    line = next(x for x in log.splitlines() if "train msd <loss>=" in x and "epoch=" not in x)
    return float(line.rsplit("=", 1)[1])


KMEANS_HP = {"feature_dim": "5", "k": "4", "mini_batch_size": "200", "epochs": "2"}


def _kmeans_channels() -> dict[str, Dataset]:
    return {"train": Dataset(_blobs(1600, 0)[0]), "test": Dataset(_blobs(200, 1)[0])}


def _replicated_test(channels: Mapping[str, Dataset]) -> list[dict[str, Dataset]]:
    """`train` sharded between the hosts, `test` FullyReplicated (SageMaker's advice)."""
    shards = _halves({"train": channels["train"]})
    for shard in shards:
        shard["test"] = channels["test"]
    return shards


def test_kmeans_on_two_hosts_finds_the_one_host_centres(tmp_path, jobs) -> None:
    channels = _kmeans_channels()
    means = _blobs(1, 0)[1]
    runs = jobs("kmeans")
    _succeeded(runs)
    single, single_log = _train_on_one_host(tmp_path, "kmeans", KMEANS_HP, channels, PROTOBUF)

    centres = KMeansModel.load(_only_the_leader_saved(runs)).centroids
    one_host = KMeansModel.load(single / "model").centroids
    assert _matched_distance(centres, one_host) < 0.1
    assert _matched_distance(centres, means) < 0.3

    # Both hosts log the same global train msd, close to the one-host value, and the same
    # test score (each scores the replicated test channel with the shared model).
    logs = [result.stdout for _, result in runs]
    assert _train_msd(logs[0]) == _train_msd(logs[1])
    assert _train_msd(logs[0]) == pytest.approx(_train_msd("\n".join(single_log)), rel=0.05)
    tests = [[line for line in log.splitlines() if "test msd <loss>=" in line] for log in logs]
    assert tests[0][0].split("=")[-1] == tests[1][0].split("=")[-1]
    assert "host=algo-2, test msd" in tests[1][0]
    assert "shrinking" in logs[0] and "shrinking" not in logs[1]


def _bad_shard() -> list[dict[str, Dataset]]:
    shards = _halves({"train": Dataset(_blobs(400, 0)[0])})
    bad = np.asarray(shards[1]["train"].features)[:, :3]  # algo-2's shard has 3 features
    shards[1]["train"] = Dataset(bad)
    return shards


def test_a_failing_host_stops_the_others_instead_of_hanging(jobs) -> None:
    # The job's processes are waited on with a timeout, so a hang fails the test.
    (leader, leader_result), (follower, follower_result) = jobs("kmeans-bad-shard")
    assert follower_result.returncode == 1
    assert "feature_dim" in (follower / "output" / "failure").read_text()
    assert leader_result.returncode != 0
    reason = (leader / "output" / "failure").read_text()
    assert reason.startswith("AlgorithmError: Distributed training lost contact")


# feature_dim auto: only the data says that its 5 features cannot be reduced to 8, and only
# the leader, which builds the index, finds out.
KNN_UNREDUCIBLE_HP = {
    "feature_dim": "auto",
    "k": "3",
    "predictor_type": "classifier",
    "sample_size": "100",
    "dimension_reduction_type": "sign",
    "dimension_reduction_target": "8",
}


def _labelled_blobs(rows: int, seed: int) -> Dataset:
    x = _blobs(rows, seed)[0]
    return Dataset(x, (x[:, 0] > 5).astype(np.float32) + 2 * (x[:, 1] > 5))


def test_an_error_the_leader_finds_fails_every_host_with_the_same_reason(jobs) -> None:
    runs = jobs("knn-unreducible")
    reasons = [(ws / "output" / "failure").read_text() for ws, _ in runs]
    assert [result.returncode for _, result in runs] == [1, 1]
    assert reasons[0] == reasons[1]
    assert "dimension_reduction_target (8)" in reasons[0]


# ------------------------------------------------------------------------------- PCA


def _plane(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(np.random.default_rng(7).standard_normal((8, 3)))[0].T
    latent = rng.standard_normal((rows, 3)) * np.array([6.0, 3.0, 1.5])
    return (latent @ basis + 5.0 + 0.1 * rng.standard_normal((rows, 8))).astype(np.float32)


PCA_HP = {
    "regular": {"feature_dim": "8", "mini_batch_size": "100", "num_components": "3"},
    "randomized": {
        "feature_dim": "8",
        "mini_batch_size": "100",
        "num_components": "3",
        "algorithm_mode": "randomized",
        "epochs": "2",  # a second pass: its test matrix comes from the merged sketch
    },
}


@pytest.mark.parametrize("mode", list(PCA_HP))
def test_pca_on_two_hosts_equals_the_one_host_components(tmp_path, jobs, mode) -> None:
    channels = {"train": Dataset(_plane(1000, 0))}
    runs = jobs(f"pca-{mode}")
    _succeeded(runs)
    single, _ = _train_on_one_host(tmp_path, "pca", PCA_HP[mode], channels, PROTOBUF)

    model = PCAModel.load(_only_the_leader_saved(runs))
    one_host = PCAModel.load(single / "model")
    signs = np.sign(np.sum(model.v * one_host.v, axis=0))
    np.testing.assert_allclose(model.v * signs, one_host.v, atol=1e-4)
    np.testing.assert_allclose(model.s, one_host.s, rtol=1e-5)
    assert model.mean is not None and one_host.mean is not None
    np.testing.assert_allclose(model.mean, one_host.mean, atol=1e-5)


# ------------------------------------------------------------------------------- k-NN


# sample_size covers every row, so the index holds the same vectors as one host's.
KNN_HP = {"feature_dim": "5", "k": "5", "predictor_type": "classifier", "sample_size": "1000"}


def _knn_channels() -> dict[str, Dataset]:
    return {"train": _labelled_blobs(800, 0), "test": _labelled_blobs(200, 1)}


def test_knn_on_two_hosts_indexes_every_hosts_sample(tmp_path, jobs) -> None:
    channels = _knn_channels()
    runs = jobs("knn")
    _succeeded(runs)
    single, _ = _train_on_one_host(tmp_path, "knn", KNN_HP, channels, PROTOBUF)

    model = KNNModel.load(_only_the_leader_saved(runs))
    one_host = KNNModel.load(single / "model")
    assert len(model.labels) == 800
    probe = _blobs(300, 2)[0]
    np.testing.assert_array_equal(
        model.predict(probe)["predicted_label"], one_host.predict(probe)["predicted_label"]
    )
    logs = [result.stdout for _, result in runs]
    assert all("Sampled 800 of 800 training records" in log for log in logs)
    scores = [[ln for ln in log.splitlines() if "test accuracy <score>=" in ln] for log in logs]
    assert scores[0][0].split("=")[-1] == scores[1][0].split("=")[-1]


def test_merged_samples_are_uniform_over_all_hosts_rows() -> None:
    rng = np.random.default_rng(0)
    seen = [1000, 3000]
    # Each host's own uniform sample of 100 rows, tagged with its host number.
    samples = [(np.full((100, 1), host, np.float32), np.zeros(100, np.float32)) for host in (0, 1)]
    draws = [merge_samples(samples, seen, 100, rng)[0] for _ in range(400)]
    assert all(len(d) == 100 for d in draws)
    share = np.mean([np.mean(d == 0) for d in draws])
    assert share == pytest.approx(0.25, abs=0.01)  # host 0 holds a quarter of the rows
    small = (np.zeros((40, 1), np.float32), np.zeros(40, np.float32))
    few, _ = merge_samples([small], [40], 100, rng)  # fewer rows than sample_size
    assert len(few) == 40


# ------------------------------------------------------------------------------- the API


def test_one_host_joins_nothing_and_the_collective_is_the_identity() -> None:
    with joined(Resources()) as collective:
        assert (collective.rank, collective.world_size, collective.is_leader) == (0, 1, True)
        assert not collective.distributed
        np.testing.assert_array_equal(collective.allreduce_sum(np.arange(3)), np.arange(3))
        assert collective.broadcast({"a": 1}) == {"a": 1}
        assert collective.on_leader(lambda: 7) == 7
        (only,) = collective.allgather(np.ones((2, 3)))
        assert only.shape == (2, 3)


def test_several_hosts_without_a_tracker_is_an_algorithm_error() -> None:
    resources = Resources(current_host="algo-2", hosts=("algo-1", "algo-2"))
    no_tracker = pytest.raises(AlgorithmError, match="needs the job's collective tracker")
    with no_tracker, joined(resources):
        pass
    stranger = Resources(current_host="algo-9", hosts=("algo-1", "algo-2"), collective={})
    with pytest.raises(AlgorithmError, match="not among the job's hosts"), joined(stranger):
        pass


def test_load_resources_reads_the_hosts_and_the_collective_environment(
    tmp_path, monkeypatch
) -> None:
    ws = job_workspace(tmp_path, {}, {}, "text/csv", "algo-2", HOSTS)
    monkeypatch.delenv(COLLECTIVE_ENV, raising=False)
    assert communicator_args() is None and load_resources(ws).collective is None
    args = {"dmlc_tracker_uri": "127.0.0.1", "dmlc_tracker_port": 9091}
    monkeypatch.setenv(COLLECTIVE_ENV, json.dumps(args))
    resources = load_resources(ws)
    assert resources.current_host == "algo-2" and resources.hosts == tuple(HOSTS)
    assert resources.collective == args
    hash(resources)  # still usable as a dict key / in sets
    monkeypatch.setenv(COLLECTIVE_ENV, "not json")
    with pytest.raises(AlgorithmError, match=COLLECTIVE_ENV):
        communicator_args()


def test_tracker_environment_and_close_without_workers_is_quick() -> None:
    tracker = Tracker(2)
    with pytest.raises(RuntimeError):
        tracker.worker_env()
    tracker.start()
    args = json.loads(tracker.worker_env()[COLLECTIVE_ENV])
    assert args["dmlc_tracker_uri"] == distributed.LOOPBACK and args["dmlc_tracker_port"] > 0
    started = time.monotonic()
    tracker.close(close_wait_s=1)  # nobody ever connected
    tracker.close()  # twice is harmless
    assert time.monotonic() - started < 10
