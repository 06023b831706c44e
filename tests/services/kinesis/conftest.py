"""Fixtures for the Kinesis tests.

Each test module shares one server (`server`) whose clock moves only when a test says so
(`clock`), with throughput limits on, as AWS has them. Every test gets streams of its own
names (`names`), so tests never see each other's records.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tule.clock import ManualClock
from tule.testing import TuleServer

START = 1_700_000_000.0
_serial = itertools.count()


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[TuleServer]:
    # fsync off: these tests check behaviour, not power-loss durability, and share the disk.
    with TuleServer(tmp_path_factory.mktemp("kinesis"), clock=clock, fsync=False) as shared:
        yield shared


@pytest.fixture(scope="module")
def kinesis(server: TuleServer) -> Any:
    return server.client("kinesis")


@pytest.fixture
def names() -> Callable[[str], str]:
    """Stream names unique to this test."""
    serial = next(_serial)
    return lambda base="s": f"{base}-{serial}"


@pytest.fixture
def stream(kinesis: Any, names: Callable[[str], str], clock: ManualClock) -> str:
    """A fresh 4-shard stream, at the start of a new second of the clock."""
    clock.advance(1)
    name = names("four")
    kinesis.create_stream(StreamName=name, ShardCount=4)
    return name
