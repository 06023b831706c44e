"""Fixtures for the Athena tests.

Each test module shares one server with S3, Glue and Athena (fsync off: these tests check
behaviour, not power-loss durability), the result bucket, the lake bucket and a Glue database
`db`. Tests make tables with names of their own, so they do not need a clean slate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from athena_helpers import LAKE

from tule.testing import TuleServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("athena"), fsync=False) as shared:
        s3 = shared.client("s3")
        s3.create_bucket(Bucket="athena-results")
        s3.create_bucket(Bucket=LAKE)
        shared.client("glue").create_database(DatabaseInput={"Name": "db"})
        yield shared


@pytest.fixture(scope="module")
def athena(server: TuleServer) -> Any:
    return server.client("athena")


@pytest.fixture(scope="module")
def glue(server: TuleServer) -> Any:
    return server.client("glue")


@pytest.fixture(scope="module")
def s3(server: TuleServer) -> Any:
    return server.client("s3")
