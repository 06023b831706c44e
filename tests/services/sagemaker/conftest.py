"""Fixtures for the SageMaker tests: one server per module and a bucket per test (the helpers
the tests import are in `sagemaker_helpers`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sagemaker_helpers import unique

from tule.testing import TuleServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("tule-sm"), fsync=False) as s:
        yield s


@pytest.fixture(scope="module")
def sm(server: TuleServer) -> Any:
    return server.client("sagemaker")


@pytest.fixture(scope="module")
def s3(server: TuleServer) -> Any:
    return server.client("s3")


@pytest.fixture(scope="module")
def logs(server: TuleServer) -> Any:
    return server.client("logs")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("sm-test")
    s3.create_bucket(Bucket=name)
    return name
