"""The script-mode inference server, started as a real process and called over HTTP."""

from __future__ import annotations

import io
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tule.runtime.executor import Executor, LocalExecutor
from tule.runtime.forkserver import ForkServerExecutor
from tule.runtime.model_server import ModelServer, ServerSpec, ServerStartError

RNG = np.random.default_rng(3)
FEATURES = RNG.normal(size=(60, 4))
LABELS = (FEATURES[:, 0] + FEATURES[:, 1] > 0).astype(int)


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, timestamp: float, line: str) -> None:
        self.lines.append(line)


def server_for(
    tmp_path: Path,
    framework: str,
    script: str | None = None,
    env: dict[str, str] | None = None,
    executor: Executor | None = None,
) -> ModelServer:
    model_dir = tmp_path / "model"
    model_dir.mkdir(exist_ok=True)
    if script is not None:
        (model_dir / "code").mkdir(exist_ok=True)
        (model_dir / "code" / "inference.py").write_text(textwrap.dedent(script))
    spec = ServerSpec(
        argv=[
            sys.executable,
            "-m",
            "tule.runtime.inference_toolkit",
            "--model-dir",
            str(model_dir),
            "--framework",
            framework,
        ],
        env={**os.environ, **(env or {})},
        cwd=tmp_path,
        on_line=Lines(),
        startup_timeout_s=120,
    )
    return ModelServer(spec, executor or LocalExecutor())


@pytest.fixture
def sklearn_model(tmp_path: Path) -> object:
    import joblib
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(FEATURES, LABELS)
    (tmp_path / "model").mkdir()
    joblib.dump(model, tmp_path / "model" / "model.joblib")
    return model


@pytest.fixture
def started() -> Iterator[list[ModelServer]]:
    servers: list[ModelServer] = []
    yield servers
    for server in servers:
        server.stop(grace_s=2)


def start(servers: list[ModelServer], server: ModelServer) -> ModelServer:
    servers.append(server)
    server.start()
    return server


FULL_CHAIN = """
    import json, os
    import joblib
    import numpy as np

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def input_fn(body, content_type):
        assert isinstance(body, str), type(body)
        assert content_type == "application/json", content_type
        return np.array(json.loads(body)["rows"])

    def predict_fn(data, model):
        if (data == -999).any():
            raise ValueError("row holds the -999 marker")
        return model.predict_proba(data)

    def output_fn(prediction, accept):
        return json.dumps({"probabilities": prediction.tolist(), "accept": accept})
"""


def test_sklearn_full_chain_predicts_like_the_model(
    tmp_path: Path, sklearn_model: object, started: list[ModelServer]
) -> None:
    server = start(started, server_for(tmp_path, "sklearn", FULL_CHAIN))
    rows = FEATURES[:7]
    body = json.dumps({"rows": rows.tolist()}).encode()
    reply = server.invoke(body, {"Content-Type": "application/json", "Accept": "application/json"})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    answer = json.loads(reply.body)
    np.testing.assert_allclose(answer["probabilities"], sklearn_model.predict_proba(rows))
    # No Accept: the default accept.
    reply = server.invoke(body, {"Content-Type": "application/json"})
    assert json.loads(reply.body)["accept"] == "application/json"

    failing = json.dumps({"rows": [[-999, 0, 0, 0]]}).encode()
    reply = server.invoke(failing, {"Content-Type": "application/json"})
    assert reply.status == 500
    text = reply.body.decode()
    assert text.startswith("row holds the -999 marker")
    assert "Traceback" in text and "predict_fn" in text
    assert server.invoke(body, {"Content-Type": "application/json"}).status == 200
    assert server.request("GET", "/execution-parameters").status == 404
    assert server.restarts == 0


TRANSFORM_ONLY = """
    import os
    import joblib
    import numpy as np

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def transform_fn(model, body, content_type, accept):
        rows = np.genfromtxt(body.splitlines(), delimiter=",", ndmin=2)
        return "\\n".join(str(v) for v in model.predict(rows))
"""


def test_transform_fn_alone_answers_in_the_accept_type(
    tmp_path: Path, sklearn_model: object, started: list[ModelServer]
) -> None:
    server = start(
        started,
        server_for(
            tmp_path,
            "sklearn",
            TRANSFORM_ONLY,
            env={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"},
        ),
    )
    rows = FEATURES[:5]
    csv = "\n".join(",".join(str(v) for v in row) for row in rows).encode()
    reply = server.invoke(csv, {"Content-Type": "text/csv", "Accept": "text/plain"})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.body.decode().split("\n") == [str(v) for v in sklearn_model.predict(rows)]
    reply = server.invoke(csv, {"Content-Type": "text/csv", "Accept": "*/*"})
    assert reply.headers["content-type"].startswith("text/csv")


WITH_CONTEXT = """
    import json, os
    import joblib

    def model_fn(model_dir, context):
        assert context.system_properties["model_dir"] == model_dir
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def input_fn(body, content_type, context):
        return json.loads(body)

    def predict_fn(data, model, context):
        return model.predict(data).tolist()

    def output_fn(prediction, accept, context):
        attributes = context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes")
        context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", f"seen={attributes}")
        return json.dumps({"labels": prediction}), "application/vnd.labels+json"

    def execution_parameters_fn():
        return {"MaxConcurrentTransforms": 2, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 1}
"""


def test_handlers_with_context_and_tuple_content_type(
    tmp_path: Path, sklearn_model: object, started: list[ModelServer]
) -> None:
    server = start(started, server_for(tmp_path, "sklearn", WITH_CONTEXT))
    rows = FEATURES[:4]
    reply = server.invoke(
        json.dumps(rows.tolist()).encode(),
        {"Content-Type": "application/json", "X-Amzn-SageMaker-Custom-Attributes": "trace=1"},
    )
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/vnd.labels+json"
    assert reply.headers["x-amzn-sagemaker-custom-attributes"] == "seen=trace=1"
    assert json.loads(reply.body)["labels"] == sklearn_model.predict(rows).tolist()
    parameters = server.request("GET", "/execution-parameters")
    assert parameters.status == 200
    assert json.loads(parameters.body)["BatchStrategy"] == "SINGLE_RECORD"


def test_sklearn_without_model_fn_fails_startup_readably(
    tmp_path: Path, sklearn_model: object
) -> None:
    script = "def predict_fn(data, model):\n    return model.predict(data)\n"
    server = server_for(tmp_path, "sklearn", script)
    with pytest.raises(ServerStartError) as failure:
        server.start()
    message = str(failure.value)
    assert "exited with code 1" in message
    assert "Please provide a model_fn implementation" in message


def test_transform_fn_with_input_fn_is_refused_at_startup(
    tmp_path: Path, sklearn_model: object
) -> None:
    script = """
        def model_fn(model_dir):
            return None
        def input_fn(body, content_type):
            return body
        def transform_fn(model, body, content_type, accept):
            return body
    """
    with pytest.raises(ServerStartError, match="Cannot use transform_fn together with input_fn"):
        server_for(tmp_path, "sklearn", script).start()


def test_request_over_the_server_timeout_restarts_the_worker(
    tmp_path: Path, sklearn_model: object, started: list[ModelServer]
) -> None:
    script = """
        import time

        def model_fn(model_dir):
            return "model"

        def transform_fn(model, body, content_type, accept):
            time.sleep(float(body))
            return "slept " + body
    """
    server = start(
        started,
        server_for(tmp_path, "sklearn", script, env={"SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}),
    )
    reply = server.invoke(b"5", {"Content-Type": "text/plain"})
    assert reply.status == 500
    assert b"SAGEMAKER_MODEL_SERVER_TIMEOUT=1" in reply.body
    # The worker is replaced, and the next request reaches the new one.
    deadline = time.monotonic() + 30
    while server.restarts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    reply = server.invoke(b"0", {"Content-Type": "text/plain"})
    assert (reply.status, reply.body) == (200, b"slept 0")
    assert server.restarts == 1


def test_xgboost_defaults_with_json_csv_and_npy(tmp_path: Path, started: list[ModelServer]) -> None:
    import xgboost as xgb

    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(FEATURES, LABELS), 8
    )
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "xgboost-model").write_bytes(booster.save_raw(raw_format="ubj"))
    server = start(started, server_for(tmp_path, "xgboost"))
    rows = FEATURES[:6]
    expected = booster.predict(xgb.DMatrix(rows))

    reply = server.invoke(json.dumps(rows.tolist()).encode(), {"Content-Type": "application/json"})
    assert reply.status == 200, reply.body
    np.testing.assert_allclose(json.loads(reply.body), expected, rtol=1e-6)

    csv = "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()
    reply = server.invoke(csv, {"Content-Type": "text/csv", "Accept": "text/csv"})
    assert reply.headers["content-type"].startswith("text/csv")
    np.testing.assert_allclose(np.loadtxt(io.StringIO(reply.body.decode())), expected, rtol=1e-6)

    buffer = io.BytesIO()
    np.save(buffer, rows)
    reply = server.invoke(
        buffer.getvalue(), {"Content-Type": "application/x-npy", "Accept": "application/x-npy"}
    )
    assert reply.headers["content-type"] == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(reply.body)), expected, rtol=1e-6)

    # One row as a flat vector is one sample.
    reply = server.invoke(
        json.dumps(rows[0].tolist()).encode(), {"Content-Type": "application/json"}
    )
    np.testing.assert_allclose(json.loads(reply.body), expected[:1], rtol=1e-6)

    reply = server.invoke(b"<rows/>", {"Content-Type": "application/xml"})
    assert reply.status == 415 and b"application/xml" in reply.body
    reply = server.invoke(csv, {"Content-Type": "text/csv", "Accept": "image/png"})
    assert reply.status == 406 and b"image/png" in reply.body


# TorchScript is deprecated in favour of torch.export, but it is what the PyTorch images load.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_pytorch_torchscript_defaults(tmp_path: Path, started: list[ModelServer]) -> None:
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    (tmp_path / "model").mkdir()
    torch.jit.save(torch.jit.script(module), str(tmp_path / "model" / "model.pt"))
    rows = FEATURES[:5].astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(rows)).numpy()

    server = start(started, server_for(tmp_path, "pytorch"))
    reply = server.invoke(json.dumps(rows.tolist()).encode(), {"Content-Type": "application/json"})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    np.testing.assert_allclose(json.loads(reply.body), expected, rtol=1e-5, atol=1e-6)

    buffer = io.BytesIO()
    np.save(buffer, rows)
    reply = server.invoke(
        buffer.getvalue(),
        {"Content-Type": "application/x-npy", "Accept": "application/x-npy, application/json"},
    )
    assert reply.headers["content-type"] == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(reply.body)), expected, rtol=1e-5, atol=1e-6)


def test_runs_as_a_fork_server_job(
    tmp_path: Path, sklearn_model: object, started: list[ModelServer]
) -> None:
    preload = (
        "numpy",
        "sklearn",
        "joblib",
        "starlette",
        "uvicorn",
        "tule.runtime.inference_toolkit",
    )
    executor = ForkServerExecutor(preload=preload)
    try:
        assert executor.wait_ready(120), "the fork server did not start"
        server = start(started, server_for(tmp_path, "sklearn", FULL_CHAIN, executor=executor))
        pid = server.pid
        assert pid is not None
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        assert parent == executor.server_pid  # forked, not started through the fallback
        rows = FEATURES[:3]
        reply = server.invoke(
            json.dumps({"rows": rows.tolist()}).encode(), {"Content-Type": "application/json"}
        )
        assert reply.status == 200, reply.body
        np.testing.assert_allclose(
            json.loads(reply.body)["probabilities"], sklearn_model.predict_proba(rows)
        )
        server.stop(grace_s=5)
    finally:
        executor.close()
