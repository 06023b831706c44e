"""Fixtures for the Glue Data Catalog tests.

Each test module shares one server (`catalog_server`, time frozen on a ManualClock the test
may advance); `glue` hands out a client for it with an empty catalog: every database of the
account is deleted first (through the API, which also exercises DeleteDatabase).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from glue_helpers import START

from tule.clock import ManualClock
from tule.testing import TuleServer


@pytest.fixture(scope="module")
def catalog_clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture(scope="module")
def catalog_server(
    tmp_path_factory: pytest.TempPathFactory, catalog_clock: ManualClock
) -> Iterator[TuleServer]:
    # fsync off: these tests check behaviour, not power-loss durability.
    with TuleServer(tmp_path_factory.mktemp("glue"), clock=catalog_clock, fsync=False) as server:
        yield server


@pytest.fixture(scope="module")
def _glue_client(catalog_server: TuleServer) -> Any:
    return catalog_server.client("glue")


@pytest.fixture
def glue(_glue_client: Any) -> Any:
    """A Glue client (us-east-1) on the module's server, with no databases."""
    for page in _glue_client.get_paginator("get_databases").paginate():
        for database in page["DatabaseList"]:
            _glue_client.delete_database(Name=database["Name"])
    return _glue_client
