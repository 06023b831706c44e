"""ModelServer against real server processes: start, pooled invocations, restart, failures, stop."""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tule.runtime.executor import LocalExecutor
from tule.runtime.model_server import (
    InvocationTimeout,
    ModelServer,
    ServerSpec,
    ServerStartError,
    ServerUnavailable,
)

# A container in miniature: serves /ping and echoes /invocations (body, and the request headers
# it saw as X-Seen-* response headers). MODE changes how it misbehaves.
ECHO_SERVER = textwrap.dedent(
    """
    import os, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    MODE = os.environ.get("MODE", "")
    if MODE == "exit":
        print("cannot load the model: boom", flush=True)
        sys.exit(3)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/ping":
                self.answer(500 if MODE == "noping" else 200)
            elif self.path == "/pid":
                self.answer(200, str(os.getpid()).encode())
            else:
                self.answer(404)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            delay = float(self.headers.get("X-Sleep", "0"))
            if delay:
                time.sleep(delay)
            seen = [("X-Seen-" + k, v) for k, v in self.headers.items() if k.lower() != "host"]
            content_type = self.headers.get("Content-Type", "application/octet-stream")
            client = ("X-Client-Port", str(self.client_address[1]))
            self.answer(200, body, [("Content-Type", content_type), client, *seen])

    # A listen backlog like uvicorn's, not http.server's 5, for the concurrency test.
    ThreadingHTTPServer.request_queue_size = 2048
    port = int(os.environ["SAGEMAKER_BIND_TO_PORT"])
    print(f"listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, timestamp: float, line: str) -> None:
        with self._lock:
            self.lines.append(line)


def echo_spec(tmp_path: Path, lines: Lines, **overrides: object) -> ServerSpec:
    script = tmp_path / "echo_server.py"
    script.write_text(ECHO_SERVER)
    env = {k: v for k, v in os.environ.items() if k != "MODE"}
    mode = overrides.pop("mode", None)
    if mode:
        env["MODE"] = str(mode)
    options: dict = {"startup_timeout_s": 30.0, **overrides}
    return ServerSpec(
        argv=[sys.executable, str(script)], env=env, cwd=tmp_path, on_line=lines, **options
    )


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[tuple[ModelServer, Lines]]:
    lines = Lines()
    server = ModelServer(echo_spec(tmp_path, lines), LocalExecutor())
    server.start()
    yield server, lines
    server.stop(grace_s=2)


def test_invoke_round_trips_body_and_headers(echo: tuple[ModelServer, Lines]) -> None:
    server, lines = echo
    assert server.alive()
    reply = server.invoke(
        b"1,2,3\n4,5,6",
        {
            "Content-Type": "text/csv",
            "Accept": "application/json",
            "X-Amzn-SageMaker-Custom-Attributes": "a=b",
        },
    )
    assert reply.status == 200
    assert reply.body == b"1,2,3\n4,5,6"
    assert reply.headers["content-type"] == "text/csv"
    assert reply.headers["x-seen-accept"] == "application/json"
    assert reply.headers["x-seen-x-amzn-sagemaker-custom-attributes"] == "a=b"
    assert f"listening on {server.port}" in lines.lines
    assert server.request("GET", "/pid").body == str(server.pid).encode()


def test_requests_reuse_pooled_connections(echo: tuple[ModelServer, Lines]) -> None:
    server, _ = echo
    client_ports = {server.invoke(b"y", {}).headers["x-client-port"] for _ in range(20)}
    # Sequential requests all travel on one keep-alive connection (one client port).
    assert len(client_ports) == 1


def test_concurrent_invocations_all_succeed(echo: tuple[ModelServer, Lines]) -> None:
    server, _ = echo

    def call(i: int) -> bytes:
        return server.invoke(f"request {i}".encode(), {"Content-Type": "text/plain"}).body

    with ThreadPoolExecutor(32) as pool:
        bodies = list(pool.map(call, range(400)))
    assert bodies == [f"request {i}".encode() for i in range(400)]


def test_killed_process_is_restarted_and_serves_again(echo: tuple[ModelServer, Lines]) -> None:
    server, lines = echo
    old_pid, old_port = server.pid, server.port
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    # Once the death is noticed, a request waits for the restarted process. (One racing the
    # kill itself may reach the dying process and fail: it is not replayed.)
    deadline = time.monotonic() + 10
    while server.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not server.alive()
    reply = server.invoke(b"after restart", {"Content-Type": "text/plain"})
    assert reply.status == 200 and reply.body == b"after restart"
    assert server.restarts == 1
    assert server.pid != old_pid
    assert server.alive()
    assert any("model server exited with code -9; restarting" in line for line in lines.lines)
    assert server.port != old_port or server.request("GET", "/pid").body != str(old_pid).encode()


def test_request_in_flight_when_process_dies_is_not_replayed(
    echo: tuple[ModelServer, Lines],
) -> None:
    server, _ = echo
    pid = server.pid
    assert pid is not None
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(ServerUnavailable, match="exited with code -9"):
        server.invoke(b"slow", {"X-Sleep": "5"}, timeout=10)
    assert server.invoke(b"next", {}).body == b"next"
    assert server.restarts == 1


def test_server_without_restart_stays_down(tmp_path: Path) -> None:
    server = ModelServer(echo_spec(tmp_path, Lines()), LocalExecutor(), restart=False)
    server.start()
    try:
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ServerUnavailable):
            server.invoke(b"x", {})
        assert not server.alive()
        assert server.restarts == 0
    finally:
        server.stop(grace_s=1)


def test_server_failing_ping_fails_start_within_timeout(tmp_path: Path) -> None:
    lines = Lines()
    server = ModelServer(
        echo_spec(tmp_path, lines, mode="noping", startup_timeout_s=1.5), LocalExecutor()
    )
    started = time.monotonic()
    with pytest.raises(ServerStartError, match=r"did not pass the ping health check within 1.5 s"):
        server.start()
    assert time.monotonic() - started < 10
    pid = server.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ServerUnavailable):
        server.invoke(b"x", {})


def test_process_exiting_at_once_names_exit_code_and_output(tmp_path: Path) -> None:
    server = ModelServer(echo_spec(tmp_path, Lines(), mode="exit"), LocalExecutor())
    with pytest.raises(ServerStartError) as failure:
        server.start()
    message = str(failure.value)
    assert "exited with code 3" in message
    assert "cannot load the model: boom" in message


def test_missing_program_fails_start(tmp_path: Path) -> None:
    spec = ServerSpec(
        argv=[str(tmp_path / "no-such-server")],
        env=dict(os.environ),
        cwd=tmp_path,
        on_line=Lines(),
    )
    with pytest.raises(ServerStartError, match="cannot start"):
        ModelServer(spec, LocalExecutor()).start()


def test_slow_invocation_raises_timeout_and_server_keeps_serving(
    echo: tuple[ModelServer, Lines],
) -> None:
    server, _ = echo
    started = time.monotonic()
    with pytest.raises(InvocationTimeout):
        server.invoke(b"slow", {"X-Sleep": "3"}, timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert server.invoke(b"fast", {}).body == b"fast"


def test_stop_ends_process_and_later_requests_fail(tmp_path: Path) -> None:
    server = ModelServer(echo_spec(tmp_path, Lines()), LocalExecutor())
    server.start()
    pid = server.pid
    assert pid is not None
    server.stop(grace_s=5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ServerUnavailable):
        server.invoke(b"x", {})
    assert not server.alive()
    assert server.restarts == 0
    server.stop()  # idempotent


def test_builtin_xgboost_server_predicts_like_the_booster(tmp_path: Path) -> None:
    import xgboost as xgb

    rng = np.random.default_rng(7)
    features = rng.normal(size=(64, 4))
    labels = features @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=64)
    booster = xgb.train(
        {"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(features, labels), 10
    )
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(booster.save_raw(raw_format="ubj"))
    rows = features[:5]
    expected = booster.predict(xgb.DMatrix(rows))

    spec = ServerSpec(
        argv=[
            sys.executable,
            "-m",
            "tule.algorithms.container",
            "serve",
            "--algorithm",
            "xgboost",
            "--model-dir",
            str(model_dir),
        ],
        env=dict(os.environ),
        cwd=tmp_path,
        on_line=Lines(),
        startup_timeout_s=120,
    )
    server = ModelServer(spec, LocalExecutor())
    server.start()
    try:
        csv = "\n".join(",".join(repr(float(v)) for v in row) for row in rows)
        reply = server.invoke(csv.encode(), {"Content-Type": "text/csv", "Accept": "text/csv"})
        assert reply.status == 200, reply.body
        got = [float(v) for v in reply.body.decode().replace("\n", ",").split(",") if v]
        np.testing.assert_allclose(got, expected, rtol=1e-5)
        reply = server.invoke(
            csv.encode(), {"Content-Type": "text/csv", "Accept": "application/json"}
        )
        scores = [p["score"] for p in json.loads(reply.body)["predictions"]]
        np.testing.assert_allclose(scores, expected, rtol=1e-5)
        params = server.request("GET", "/execution-parameters")
        assert params.status == 200 and json.loads(params.body)["BatchStrategy"] == "MULTI_RECORD"
    finally:
        server.stop(grace_s=5)
