"""Fixtures for the Firehose tests.

Each test module shares one server whose clock only moves when a test says so (so buffering
intervals pass by `clock.advance`, never by sleeping); size-triggered flushes still happen on
the server's own flusher thread, which tests wait for with a short real-time poll.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from firehose_helpers import START, unique

from tule.clock import ManualClock
from tule.testing import TuleServer


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[TuleServer]:
    with TuleServer(
        tmp_path_factory.mktemp("firehose"), clock=clock, fsync=False, tick_interval_s=0.05
    ) as shared:
        yield shared


@pytest.fixture(scope="module")
def firehose(server: TuleServer) -> Any:
    return server.client("firehose")


@pytest.fixture(scope="module")
def s3(server: TuleServer) -> Any:
    return server.client("s3")


@pytest.fixture(scope="module")
def domain(server: TuleServer) -> Any:
    """The Firehose domain object, for `flush_due()` after moving the clock."""
    return server.app.domains["firehose"]


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("fh")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def name() -> str:
    return unique("stream")
