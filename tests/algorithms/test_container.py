"""The container contract: train in a /opt/ml-shaped workspace, then serve the model."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from test_layer_toy import Centroids

from tule.algorithms import registry
from tule.algorithms.container.__main__ import main
from tule.algorithms.container.serve import create_app
from tule.algorithms.container.train import run_training
from tule.testing.algorithms import asgi_call

ROWS = b"0,0,0,0\n0,1,0,1\n1,9,9,9\n1,10,9,10\n"


def _workspace(root: Path, hyperparameters: dict, channels: dict | None, **data: bytes) -> Path:
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    if channels is not None:
        config = root / "input" / "config" / "inputdataconfig.json"
        config.write_text(json.dumps(channels))
    for name, body in data.items():
        folder = root / "input" / "data" / name
        folder.mkdir(parents=True)
        (folder / "part-0").write_bytes(body)
    return root


def _train(workspace: Path, algorithm=Centroids) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run_training(workspace, algorithm, stream=io.StringIO(), sink=lines.append)
    return code, lines


def test_training_writes_the_model_and_prints_the_configuration_lines(tmp_path) -> None:
    ws = _workspace(
        tmp_path, {"feature_dim": "3"}, {"train": {"ContentType": "text/csv"}}, train=ROWS
    )
    code, lines = _train(ws)
    assert code == 0 and (ws / "model" / "model_algo-1.npz").exists()
    assert "Reading default configuration from" in lines[0]
    assert "Merging with provided configuration from" in lines[1]
    assert str(ws / "input" / "config" / "hyperparameters.json") in lines[1]
    assert "Final configuration: " in lines[2] and "'feature_dim': '3'" in lines[2]
    assert "'mini_batch_size': '64'" in lines[2] and "'verbose': 'false'" in lines[2]
    assert any(line.startswith("#quality_metric: host=algo-1, train msd") for line in lines)
    assert not (ws / "output" / "failure").exists()


def test_bad_hyperparameter_fails_with_the_reason_in_output_failure(tmp_path) -> None:
    ws = _workspace(
        tmp_path,
        {"feature_dim": "3", "mini_batch_siz": "5"},
        {"train": {"ContentType": "text/csv"}},
        train=ROWS,
    )
    code, _ = _train(ws)
    reason = (ws / "output" / "failure").read_text()
    assert code == 1
    assert reason.startswith("ClientError: ")
    assert "Additional properties are not allowed ('mini_batch_siz' was unexpected)" in reason


def test_feature_dim_mismatch_and_missing_channel_are_client_errors(tmp_path) -> None:
    ws = _workspace(
        tmp_path / "a", {"feature_dim": "4"}, {"train": {"ContentType": "text/csv"}}, train=ROWS
    )
    assert _train(ws)[0] == 1
    assert "feature_dim=4" in (ws / "output" / "failure").read_text()
    ws = _workspace(
        tmp_path / "b", {"feature_dim": "3"}, {"test": {"ContentType": "text/csv"}}, test=ROWS
    )
    assert _train(ws)[0] == 1
    assert "'train' is a required property" in (ws / "output" / "failure").read_text()


def test_a_crash_is_an_algorithm_error_with_exit_code_2(tmp_path) -> None:
    class Crashing(Centroids):
        def train(self, *args, **kwargs):
            raise ZeroDivisionError("boom")

    ws = _workspace(tmp_path, {"feature_dim": "3"}, None, train=ROWS)
    code, lines = _train(ws, Crashing)
    assert code == 2
    assert (ws / "output" / "failure").read_text() == "AlgorithmError: ZeroDivisionError: boom"
    assert any("Traceback" in line for line in lines)


def test_without_inputdataconfig_folders_are_file_channels_with_default_types(tmp_path) -> None:
    from tule.algorithms.formats import recordio_protobuf as rp

    buf = io.BytesIO()
    rp.write_dense(buf, np.array([[0, 0, 0], [9, 9, 9]], np.float32), np.array([0, 1], np.float32))
    ws = _workspace(tmp_path, {"feature_dim": "3"}, None, train=buf.getvalue())
    assert _train(ws)[0] == 0


def test_gzip_compressed_channel(tmp_path) -> None:
    channels = {"train": {"ContentType": "text/csv", "CompressionType": "Gzip"}}
    ws = _workspace(tmp_path, {"feature_dim": "3"}, channels, train=gzip.compress(ROWS))
    assert _train(ws)[0] == 0


def test_pipe_mode_reads_one_fifo_per_epoch(tmp_path) -> None:
    """Centroids reads the train channel twice, so it needs train_0 and train_1."""
    channels = {"train": {"ContentType": "text/csv", "TrainingInputMode": "Pipe"}}
    ws = _workspace(tmp_path, {"feature_dim": "3"}, channels)
    data = ws / "input" / "data"
    data.mkdir(parents=True)
    writers = []
    for epoch in range(2):
        fifo = data / f"train_{epoch}"
        os.mkfifo(fifo)

        def write(path: Path = fifo) -> None:
            with open(path, "wb") as f:
                f.write(ROWS)

        writers.append(threading.Thread(target=write, daemon=True))
        writers[-1].start()
    code, lines = _train(ws)
    for writer in writers:
        writer.join(timeout=10)
    assert code == 0, lines[-3:]


def _served(tmp_path: Path):
    ws = _workspace(
        tmp_path, {"feature_dim": "3"}, {"train": {"ContentType": "text/csv"}}, train=ROWS
    )
    assert _train(ws)[0] == 0
    return create_app(ws / "model", Centroids)


def test_serve_ping_invocations_and_execution_parameters(tmp_path) -> None:
    app = _served(tmp_path)
    assert asgi_call(app, "GET", "/ping")[0] == 200
    status, headers, body = asgi_call(app, "GET", "/execution-parameters")
    assert status == 200 and json.loads(body) == {
        "MaxConcurrentTransforms": os.cpu_count() or 1,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }
    status, headers, body = asgi_call(
        app, "POST", "/invocations", b"9,9,9\n", {"content-type": "text/csv"}
    )
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["predictions"][0]["predicted_label"] == 1.0


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"", {"content-type": "text/csv"}, 204),
        (b"1,2,3\n", {"content-type": "image/png"}, 415),
        (b"1,2,3\n", {"content-type": "text/csv", "accept": "image/png"}, 406),
        (b"1,2\n", {"content-type": "text/csv"}, 400),
    ],
)
def test_serve_error_statuses(tmp_path, body, headers, status) -> None:
    assert asgi_call(_served(tmp_path), "POST", "/invocations", body, headers)[0] == status


def test_default_accept_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
    status, headers, body = asgi_call(
        _served(tmp_path), "POST", "/invocations", b"0,0,0\n", {"content-type": "text/csv"}
    )
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert body.startswith(b"0.0,")


def test_command_line_requires_an_algorithm(monkeypatch) -> None:
    monkeypatch.delenv("SAGEMAKER_ALGORITHM", raising=False)
    with pytest.raises(SystemExit):
        main(["train", "--workspace", "/nonexistent"])


@pytest.mark.skipif("xgboost" not in registry.available(), reason="XGBoost not importable")
def test_command_line_trains_a_registered_algorithm_from_its_image(tmp_path) -> None:
    ws = _workspace(
        tmp_path, {"num_round": "2"}, {"train": {"ContentType": "text/csv"}}, train=ROWS
    )
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tule.algorithms.container",
            "train",
            "--algorithm",
            image,
            "--workspace",
            str(ws),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Final configuration" in result.stdout
    assert (ws / "model" / "xgboost-model").exists()
