"""Fixtures for the CloudWatch Logs tests.

Starting a server costs more than most tests, so each test module shares one (`server`) and
every test starts from an empty account: `fresh` deletes all log groups first (through the API,
which also exercises deletion), and `logs` then creates GROUP with STREAM in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logs_helpers import GROUP, REGIONS, STREAM

from tule.clock import ManualClock
from tule.testing import TuleServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    # fsync off: these tests check behaviour, not power-loss durability, and share the disk.
    with TuleServer(tmp_path_factory.mktemp("logs"), fsync=False) as shared:
        yield shared


@pytest.fixture(scope="module")
def _clients(server: TuleServer) -> dict[str, Any]:
    return {region: server.client("logs", region_name=region) for region in REGIONS}


@pytest.fixture
def fresh(_clients: dict[str, Any]) -> Any:
    """A logs client (us-east-1) on the module's server, with no log groups in any region."""
    for client in _clients.values():
        for page in client.get_paginator("describe_log_groups").paginate():
            for group in page["logGroups"]:
                client.delete_log_group(logGroupName=group["logGroupName"])
    return _clients[REGIONS[0]]


@pytest.fixture
def logs(fresh: Any) -> Any:
    """`fresh`, with GROUP and STREAM created."""
    fresh.create_log_group(logGroupName=GROUP)
    fresh.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    return fresh


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def clocked(tmp_path: Path, clock: ManualClock) -> Iterator[TuleServer]:
    """A server of its own whose time only moves when the test says so."""
    with TuleServer(tmp_path, clock=clock) as own:
        yield own
