"""Fixtures for the S3 tests.

Most tests share one server (the plugin's `tule_session`) and get a bucket of their own, so
the suite does not pay a server start per test; tests about the whole server (bucket listings,
restarts, the data directory) use the per-test `tule` fixture instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tule.clock import ManualClock
from tule.testing import TuleServer

_names = itertools.count()


@pytest.fixture(scope="session")
def server(tule_session: TuleServer) -> TuleServer:
    return tule_session


@pytest.fixture(scope="session")
def s3(server: TuleServer) -> Any:
    return server.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, empty bucket on the shared server."""
    name = f"test-bucket-{next(_names)}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_750_000_000.0)  # 2025-06-15T15:06:40Z


@pytest.fixture
def timed(tmp_path: Path, clock: ManualClock) -> Iterator[TuleServer]:
    """A server of its own whose time moves only when the test says so."""
    with TuleServer(tmp_path / "timed", clock=clock) as server:
        yield server
