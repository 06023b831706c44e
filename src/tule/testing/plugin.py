"""The tule pytest plugin: fixtures that give a test a real tule server and boto3 clients.

    def test_upload(tule):
        s3 = tule.client("s3")
        s3.create_bucket(Bucket="b")

`tule` is a fresh server per test (own data dir); `tule_session` is shared by a whole session.
It is what moto's decorator gives, except that everything behind the clients is real.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tule.testing.server import TuleServer


@pytest.fixture
def tule(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    """A tule server for one test, with its own temporary data directory."""
    with TuleServer(tmp_path_factory.mktemp("tule")) as server:
        yield server


@pytest.fixture(scope="session")
def tule_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    """One tule server shared by every test of the session (faster; state is shared)."""
    with TuleServer(tmp_path_factory.mktemp("tule-session")) as server:
        yield server
