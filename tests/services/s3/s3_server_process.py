"""A tule server in a child process (uvicorn on `create_app`), so a test can SIGKILL it.

Run as a script: `python s3_server_process.py <data_dir> <port>`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tule.testing.server import free_port


class ServerProcess:
    """One child server on a data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.data_dir), str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/_tule/health", timeout=1) as r:
                    if json.loads(r.read())["status"] == "running":
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or power cut of the process."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _serve(data_dir: str, port: int) -> None:
    import uvicorn

    from tule.aws.gateway import create_app
    from tule.config import Settings

    app = create_app(Settings(port=port, data_dir=Path(data_dir), fsync=True))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
