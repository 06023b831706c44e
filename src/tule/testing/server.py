"""A tule server running in this process on a free loopback port (uvicorn in a thread)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import uvicorn
from botocore.config import Config

from tule.aws.gateway import Gateway, create_app
from tule.clock import Clock
from tule.config import Settings

TEST_ACCESS_KEY = "test"
TEST_SECRET_KEY = "test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TuleServer:
    """Start with `start()` (or as a context manager); hands out boto3 clients for it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Clock | None = None,
        region: str = "us-east-1",
        **settings: Any,
    ) -> None:
        self.port = free_port()
        self.region = region
        self.settings = Settings(
            host="127.0.0.1", port=self.port, data_dir=Path(data_dir), **settings
        )
        self.app: Gateway = create_app(self.settings, clock)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="tule-server")

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TuleServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("tule server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        # uvicorn waits for open responses before shutting down: end event streams first.
        self.app.end_streams()
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def __enter__(self) -> TuleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for `service` pointed at this server."""
        kwargs.setdefault("region_name", self.region)
        kwargs.setdefault("aws_access_key_id", TEST_ACCESS_KEY)
        kwargs.setdefault("aws_secret_access_key", TEST_SECRET_KEY)
        kwargs.setdefault("config", Config(retries={"max_attempts": 1}))
        return boto3.client(service, endpoint_url=self.endpoint_url, **kwargs)

    def resource(self, service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("region_name", self.region)
        kwargs.setdefault("aws_access_key_id", TEST_ACCESS_KEY)
        kwargs.setdefault("aws_secret_access_key", TEST_SECRET_KEY)
        return boto3.resource(service, endpoint_url=self.endpoint_url, **kwargs)
