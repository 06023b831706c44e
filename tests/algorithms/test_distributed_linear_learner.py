"""Linear Learner on two hosts: data-parallel training on half the rows each learns what one
host learns from all of them, every host logs the same global scores, and only `algo-1` saves.

Each job lays out one SageMaker workspace per host (`resourceconfig.json` naming both hosts,
every channel split in two by rows as ShardedByS3Key would), starts a `Tracker` and runs
`python -m tule.algorithms.container train` per host with the tracker's environment; the tests
compare the leader's model with `run_training` on every row in one workspace. Both jobs start
together at the first request (the `jobs` fixture) so the workers' start-up overlaps.

The in-process tests run the hosts as threads joined by an in-memory collective: with full-batch
SGD a two-host run does the one-host run's arithmetic in another order, so the two agree to
float rounding (Adam's first steps turn rounding-level gradients into full steps, hence SGD).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from tule.algorithms.base import ChannelData, ListReporter, Resources
from tule.algorithms.container.train import run_training
from tule.algorithms.distributed import Collective, Tracker
from tule.algorithms.formats import Dataset
from tule.algorithms.linear_learner import LinearLearner
from tule.algorithms.linear_learner_job import TrainingJob
from tule.algorithms.linear_learner_model import LinearLearnerModel
from tule.testing.algorithms import job_workspace, write_dataset

HOSTS = ["algo-1", "algo-2"]
PROTOBUF = "application/x-recordio-protobuf"
WORKER_TIMEOUT_S = 120
FEATURES = 6


def _halves(channels: Mapping[str, Dataset]) -> list[dict[str, Dataset]]:
    """Each channel split in two by rows (uneven, so the hosts make different numbers of
    minibatches), as ShardedByS3Key would over two files."""
    shards: list[dict[str, Dataset]] = [{}, {}]
    for name, data in channels.items():
        cut = data.num_rows // 2 + 37
        for i, rows in enumerate((slice(0, cut), slice(cut, None))):
            labels = np.asarray(data.labels)[rows]
            shards[i][name] = Dataset(np.asarray(data.features)[rows], labels)
    return shards


class _Job:
    """A two-host job in the background: a tracker and one container process per host."""

    def __init__(self, root: Path, hyperparameters: Mapping[str, str], channels) -> None:
        self.workspaces = [
            job_workspace(root / host, hyperparameters, shard, PROTOBUF, host, HOSTS)
            for host, shard in zip(HOSTS, _halves(channels), strict=True)
        ]
        self.tracker = Tracker(len(HOSTS))
        self.tracker.start()
        env = {**os.environ, **self.tracker.worker_env(), "SM_NUM_CPUS": "1"}
        command = [sys.executable, "-m", "tule.algorithms.container", "train"]
        self.processes = []
        for ws in self.workspaces:
            with open(ws / "stdout.log", "w") as log:
                self.processes.append(
                    subprocess.Popen(
                        [*command, "--algorithm", "linear-learner", "--workspace", str(ws)],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        self.logs: list[str] | None = None

    def wait(self) -> list[str]:
        if self.logs is None:
            try:
                codes = [p.wait(timeout=WORKER_TIMEOUT_S) for p in self.processes]
            finally:
                self.stop()
            self.logs = [(ws / "stdout.log").read_text() for ws in self.workspaces]
            for ws, code, log in zip(self.workspaces, codes, self.logs, strict=True):
                assert code == 0, f"{ws.name}:\n{log}"
        return self.logs

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.tracker.close()


def _regression(rows: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, FEATURES)) * [1, 2, 5, 0.5, 1, 3] + 4).astype(np.float32)
    y = x @ np.array([1.5, -2.0, 0.3, 4.0, 0.0, 1.0]) + 10 + rng.standard_normal(rows)
    return Dataset(x, y.astype(np.float32))


def _classification(rows: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    margin = x @ np.array([2.0, -1.0, 0.5, 0.0, 1.0, -0.5]) - 0.8
    y = (margin + 0.7 * rng.standard_normal(rows) > 0).astype(np.float32)
    return Dataset(x, y)


CASES = {
    "regressor": (
        {"predictor_type": "regressor", "mini_batch_size": "50", "epochs": "8"},
        _regression,
    ),
    "binary_classifier": (
        {
            "predictor_type": "binary_classifier",
            "mini_batch_size": "50",
            "epochs": "8",
            "positive_example_weight_mult": "auto",
        },
        _classification,
    ),
}


def _channels(kind: str) -> dict[str, Dataset]:
    make = CASES[kind][1]
    return {"train": make(1200, 0), "validation": make(400, 1), "test": make(400, 2)}


@pytest.fixture(scope="module")
def jobs(request, tmp_path_factory):
    """`jobs(kind)`: the two hosts' logs of that predictor type's job (all jobs start at the
    first request, except under pytest-xdist, where each starts when a test asks for it)."""
    root = tmp_path_factory.mktemp("hosts")
    started: dict[str, _Job] = {}
    eager = not hasattr(request.config, "workerinput")

    def wait(kind: str) -> tuple[Path, list[str]]:
        for each in CASES if eager else [kind]:
            if each not in started:
                started[each] = _Job(root / each, CASES[each][0], _channels(each))
        return started[kind].workspaces[0], started[kind].wait()

    try:
        yield wait
    finally:
        for job in started.values():
            job.stop()


def _train_on_one_host(tmp: Path, kind: str) -> tuple[LinearLearnerModel, str]:
    ws = job_workspace(tmp / "single", CASES[kind][0], _channels(kind), PROTOBUF)
    lines: list[str] = []
    code = run_training(ws, "linear-learner", stream=io.StringIO(), sink=lines.append)
    assert code == 0, "\n".join(lines)
    return LinearLearnerModel.load(ws / "model"), "\n".join(lines)


def _final(log: str, channel: str, name: str) -> float:
    pattern = re.compile(rf"#quality_metric: host=\S+, {channel} {name} <\w+>=(\S+)")
    return float(pattern.findall(log)[-1])


def _same_decisions(logs: list[str]) -> None:
    """Both hosts logged the same epochs, criteria and final scores (all global)."""
    kept = ("#early_stopping_criteria_metric", "#quality_metric", "Best model found", "Epoch ")
    views = [
        [re.sub(r"host=algo-\d|\(algo-\d\)", "", line) for line in log.splitlines()] for log in logs
    ]
    leader, follower = ([ln for ln in view if ln.startswith(kept)] for view in views)
    assert leader and leader == follower


def _scaler(log: str) -> dict:
    line = next(ln for ln in log.splitlines() if ln.startswith("Scaling model computed"))
    return json.loads(line.split(": ", 1)[1])


def test_regressor_on_two_hosts_matches_one_host(tmp_path, jobs) -> None:
    leader, logs = jobs("regressor")
    model = LinearLearnerModel.load(leader / "model")
    assert not any((leader.parent / "algo-2" / "model").iterdir())
    one_host, single_log = _train_on_one_host(tmp_path, "regressor")

    # The scaler is learned from both hosts' rows: the one-host statistics.
    scalers = [_scaler(logs[0]), _scaler(logs[1]), _scaler(single_log)]
    assert scalers[0] == scalers[1]
    np.testing.assert_allclose(scalers[0]["mean_weight"], scalers[2]["mean_weight"], rtol=1e-5)
    np.testing.assert_allclose(scalers[0]["stdev_weight"], scalers[2]["stdev_weight"], rtol=1e-5)
    assert scalers[0]["mean_label"] == pytest.approx(scalers[2]["mean_label"], rel=1e-6)
    assert scalers[0]["stdev_label"] == pytest.approx(scalers[2]["stdev_label"], rel=1e-6)

    probe = _regression(2000, 3)
    x, y = np.asarray(probe.features), np.asarray(probe.labels)
    rmse = np.sqrt(np.mean((model.predict(x)["score"] - y) ** 2))
    single_rmse = np.sqrt(np.mean((one_host.predict(x)["score"] - y) ** 2))
    assert rmse == pytest.approx(single_rmse, rel=0.05)
    assert rmse < 1.2  # the noise's standard deviation is 1

    _same_decisions(logs)
    # The logged validation score is of the whole validation channel (both shards).
    validation = _channels("regressor")["validation"]
    predicted = model.predict(np.asarray(validation.features))["score"].astype(np.float64)
    expected = np.sqrt(np.mean((predicted - np.asarray(validation.labels)) ** 2))
    assert _final(logs[0], "validation", "rmse") == pytest.approx(expected, rel=1e-4)


def test_binary_classifier_on_two_hosts_matches_one_host(tmp_path, jobs) -> None:
    leader, logs = jobs("binary_classifier")
    model = LinearLearnerModel.load(leader / "model")
    assert not any((leader.parent / "algo-2" / "model").iterdir())
    one_host, _ = _train_on_one_host(tmp_path, "binary_classifier")

    probe = _classification(4000, 3)
    x, y = np.asarray(probe.features), np.asarray(probe.labels)
    accuracy = np.mean(model.predict(x)["predicted_label"] == y)
    single_accuracy = np.mean(one_host.predict(x)["predicted_label"] == y)
    assert abs(accuracy - single_accuracy) <= 0.01
    assert accuracy > 0.85
    # The threshold is tuned on both hosts' validation rows, near the one-host one.
    assert model.threshold == pytest.approx(one_host.threshold, abs=0.1)

    _same_decisions(logs)
    validation = _channels("binary_classifier")["validation"]
    labels = model.predict(np.asarray(validation.features))["predicted_label"]
    expected = np.mean(labels == np.asarray(validation.labels))
    logged = _final(logs[0], "validation", "binary_classification_accuracy")
    assert logged == pytest.approx(expected, abs=1e-9)


# ------------------------------------------------------------------------------- in-process


class _Group:
    """What the threads of `_ThreadCollective` share: one slot per rank and a barrier."""

    def __init__(self, size: int) -> None:
        self.slots: list[object] = [None] * size
        self.barrier = threading.Barrier(size, timeout=60)


class _ThreadCollective(Collective):
    """An in-memory collective for hosts run as threads of this process."""

    def __init__(self, group: _Group, rank: int) -> None:
        self.group, self.rank, self.world_size = group, rank, len(group.slots)

    def _exchange(self, value: object) -> list:
        self.group.slots[self.rank] = value
        self.group.barrier.wait()
        values = list(self.group.slots)
        self.group.barrier.wait()  # nobody overwrites a slot before everyone has read it
        return values

    def allreduce_sum(self, array):
        data = np.asarray(array)
        return np.sum(self._exchange(data), axis=0).astype(data.dtype)

    def allreduce_max(self, array):
        data = np.asarray(array)
        return np.max(self._exchange(data), axis=0).astype(data.dtype)

    def broadcast(self, value, root=0):
        return self._exchange(value)[root]

    def allgather(self, rows):
        return [np.asarray(part) for part in self._exchange(np.asarray(rows))]


def _train_in_threads(
    tmp: Path, hyperparameters: Mapping[str, str], shards: list[dict[str, Dataset]]
) -> list[tuple[LinearLearnerModel, list[str]]]:
    """`TrainingJob` per shard, each in a thread joined by a `_ThreadCollective`."""
    params = LinearLearner.hyperparameters.parse(dict(hyperparameters))
    group = _Group(len(shards))
    results: list = [None] * len(shards)

    def host(rank: int) -> None:
        channels = {}
        for name, data in shards[rank].items():
            folder = tmp / f"host{rank}" / name
            kind = write_dataset(data, folder, (PROTOBUF,))
            channels[name] = ChannelData(name, kind, files=[folder])
        reporter = ListReporter()
        resources = Resources(current_host=f"algo-{rank + 1}", hosts=tuple(HOSTS[: len(shards)]))
        job = TrainingJob(params, channels, reporter, resources, _ThreadCollective(group, rank))
        try:
            results[rank] = (job.execute(), reporter.lines)
        except BaseException:
            group.barrier.abort()  # the other host fails instead of waiting
            raise

    threads = [threading.Thread(target=host, args=(rank,)) for rank in range(len(shards))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results), "a host failed"
    return results


@pytest.mark.parametrize("kind", list(CASES))
def test_full_batch_training_on_two_hosts_is_the_one_host_training(tmp_path, kind) -> None:
    # With minibatches as large as the data, a step on two hosts sums the gradients of the
    # same rows a one-host step averages: the two runs differ only by float rounding.
    hyperparameters = {
        **CASES[kind][0],
        "mini_batch_size": "2000",
        "epochs": "4",
        "optimizer": "sgd",
    }
    channels = _channels(kind)
    (leader, leader_lines), (follower, _) = _train_in_threads(
        tmp_path / "two", hyperparameters, _halves(channels)
    )
    ((single, single_lines),) = _train_in_threads(tmp_path / "one", hyperparameters, [channels])
    np.testing.assert_array_equal(leader.weights, follower.weights)
    assert not leader.replica and follower.replica
    assert leader.info["selected_model"] == single.info["selected_model"]
    np.testing.assert_allclose(leader.weights, single.weights, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(leader.bias, single.bias, rtol=1e-4, atol=1e-5)
    assert leader.threshold == pytest.approx(single.threshold, abs=1e-4)
    assert _final("\n".join(leader_lines), "test", r"\S+_objective") == pytest.approx(
        _final("\n".join(single_lines), "test", r"\S+_objective"), rel=1e-4
    )
