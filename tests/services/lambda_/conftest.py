"""Fixtures for the Lambda tests: one server per test module (starting one and warming
workers costs more than most tests), and clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tule.testing import TuleServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    # fsync off: these tests check behaviour, not power-loss durability.
    with TuleServer(tmp_path_factory.mktemp("lambda"), fsync=False) as shared:
        yield shared


@pytest.fixture(scope="module")
def lam(server: TuleServer) -> Any:
    return server.client("lambda")


@pytest.fixture(scope="module")
def logs(server: TuleServer) -> Any:
    return server.client("logs")


@pytest.fixture(scope="module")
def s3(server: TuleServer) -> Any:
    return server.client("s3")
