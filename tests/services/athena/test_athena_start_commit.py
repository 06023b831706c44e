"""A query starts while StartQueryExecution's commit is being made durable, but acts and ends
only once that commit has succeeded; a start whose commit fails leaves nothing behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from athena_helpers import start, wait
from botocore.exceptions import ClientError

from tule.metadata.base import Put
from tule.testing import TuleServer

MARKED = "SELECT 'start-commit' AS marker"


@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[TuleServer]:
    with TuleServer(tmp_path, fsync=False) as server:
        server.client("s3").create_bucket(Bucket="athena-results")
        yield server


def holds_query(ops: list[Any], sql: str) -> bool:
    return any(
        isinstance(getattr(op, "value", None), dict) and op.value.get("Query") == sql for op in ops
    )


class SlowStarts:
    """Wraps the executions' store: a start of `sql` takes `delay` s, or fails."""

    def __init__(
        self, executions: Any, delay: float = 0.0, fail: bool = False, sql: str = MARKED
    ) -> None:
        self.batch = executions.store.batch
        self.delay, self.fail, self.sql = delay, fail, sql
        self.ended: list[float] = []
        executions.store.batch = self

    def __call__(self, ops: list[Any]) -> Any:
        if holds_query(ops, self.sql) and any(
            isinstance(op, Put) and op.key.startswith("a/") for op in ops
        ):
            time.sleep(self.delay)
            if self.fail:
                raise OSError(28, "No space left on device")
            try:
                return self.batch(ops)
            finally:
                self.ended.append(time.monotonic())
        return self.batch(ops)


def stamped(obj: Any, name: str, stamps: list[float]) -> None:
    method = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stamps.append(time.monotonic())
        return method(*args, **kwargs)

    setattr(obj, name, wrapper)


def test_a_select_runs_during_its_start_commit_and_writes_after_it(
    own_server: TuleServer,
) -> None:
    executions = own_server.app.domains["athena"].executions
    slow = SlowStarts(executions, delay=0.4)
    ran: list[float] = []
    wrote: list[float] = []
    stamped(executions.runner, "_select", ran)
    stamped(executions.runner.results, "put_result", wrote)
    athena = own_server.client("athena")
    execution = wait(athena, start(athena, MARKED, database=None))
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert len(slow.ended) == 1 and ran and wrote
    assert ran[0] < slow.ended[0] <= wrote[0]


def test_a_start_whose_commit_fails_fails_and_leaves_nothing(own_server: TuleServer) -> None:
    executions = own_server.app.domains["athena"].executions
    SlowStarts(executions, fail=True)
    athena = own_server.client("athena")
    with pytest.raises(ClientError) as raised:
        start(athena, MARKED, database=None)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    deadline = time.monotonic() + 10
    while executions._live and time.monotonic() < deadline:
        time.sleep(0.01)
    assert executions._live == {}
    assert athena.list_query_executions()["QueryExecutionIds"] == []
    listed = own_server.client("s3").list_objects_v2(Bucket="athena-results")
    assert listed.get("KeyCount") == 0


def test_two_starts_with_one_token_during_its_commit_get_one_execution(
    own_server: TuleServer,
) -> None:
    SlowStarts(own_server.app.domains["athena"].executions, delay=0.4)
    athena = own_server.client("athena")
    ids: list[str] = []

    def start_with_token() -> None:
        ids.append(start(athena, MARKED, database=None, ClientRequestToken="t" * 32))

    first = threading.Thread(target=start_with_token)
    first.start()
    time.sleep(0.1)  # the first start is committing
    start_with_token()
    first.join()
    assert len(ids) == 2 and ids[0] == ids[1]
    assert athena.list_query_executions()["QueryExecutionIds"] == [ids[0]]
    assert wait(athena, ids[0])["Status"]["State"] == "SUCCEEDED"


def test_a_statement_that_acts_waits_for_its_start_commit(own_server: TuleServer) -> None:
    sql = "CREATE DATABASE never_recorded"
    SlowStarts(own_server.app.domains["athena"].executions, delay=0.3, fail=True, sql=sql)
    athena = own_server.client("athena")
    with pytest.raises(ClientError):
        start(athena, sql, database=None)
    time.sleep(0.3)  # the worker had the statement all along
    databases = own_server.client("glue").get_databases()["DatabaseList"]
    assert "never_recorded" not in [d["Name"] for d in databases]
