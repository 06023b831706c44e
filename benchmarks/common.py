"""Shared benchmark plumbing: servers in subprocesses, timing, medians."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server process on loopback, stopped (SIGTERM) when the block ends."""

    def __init__(self, argv: list[str], port: int, ready_path: str = "/") -> None:
        self.argv, self.port, self.ready_path = argv, port, ready_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + self.ready_path, timeout=1)
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.argv[0]} did not start")

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def tule_server(data_dir: Path, fsync: bool = True) -> Server:
    port = free_port()
    exe = shutil.which("tule", path=os.path.dirname(sys.executable)) or "tule"
    argv = [
        exe,
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--fsync",
        "on" if fsync else "off",
        "--log-level",
        "warning",
    ]
    return Server(argv, port, "/_tule/health")


def moto_server() -> Server:
    port = free_port()
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    return Server([exe, "-p", str(port)], port, "/moto-api/")


def client(service: str, url: str, threads: int = 1):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=max(10, threads), retries={"max_attempts": 1}),
    )


def median_of(runs: int, fn: Callable[[], float]) -> float:
    """The median of `runs` measurements (these machines are noisy)."""
    return statistics.median(fn() for _ in range(runs))
