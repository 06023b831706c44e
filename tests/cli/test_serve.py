"""`tule serve`: health endpoint, loopback-only without auth, clean shutdown on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3

from tule.testing.server import free_port

TULE = [sys.executable, "-m", "tule.cli.main"]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
        try:
            with urllib.request.urlopen(url + "/_tule/health", timeout=1) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not become healthy")


def test_serve_answers_health_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [*TULE, "serve", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        health = _wait_healthy(url, proc)
        assert health["version"]
        assert "s3" in health["services"] and "sagemaker" in health["services"]
        sts = boto3.client(
            "sts",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="k",
            aws_secret_access_key="s",
        )
        assert sts.get_caller_identity()["Account"] == "000000000000"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert "Finished server process" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert data.is_dir()


def test_serve_refuses_non_loopback_without_auth(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *TULE,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without --auth" in result.stderr


def test_serve_with_auth_needs_keys(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "TULE_ACCESS_KEYS"
    }
    result = subprocess.run(
        [*TULE, "serve", "--auth", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 2
    assert "--auth needs access keys" in result.stderr


def test_data_dir_comes_from_environment(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "from-env"
    proc = subprocess.Popen(
        [*TULE, "serve", "--port", str(port)],
        env={**os.environ, "TULE_DATA_DIR": str(data)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        assert data.is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
