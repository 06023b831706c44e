"""Query result reuse: a SELECT that enables it gets the newest earlier result of the same text
in the same workgroup, database and result configuration, no older than MaxAgeInMinutes and
still in S3; it points at that file and scans nothing."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from athena_helpers import LAKE, RESULTS, create_parquet_table, parquet_bytes, rows, run

from tule.clock import ManualClock
from tule.testing import TuleServer

REUSE = {"ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 60}}


def put_part(s3: Any, folder: str, name: str, values: list[int]) -> None:
    table = pa.table({"v": pa.array(values, pa.int64())})
    s3.put_object(Bucket=LAKE, Key=f"{folder}/{name}.parquet", Body=parquet_bytes(table))


_tables = itertools.count()


@pytest.fixture
def table(s3: Any, glue: Any) -> str:
    name = f"reuse_{next(_tables)}"
    put_part(s3, name, "a", [1, 2, 3])
    create_parquet_table(glue, name, f"s3://{LAKE}/{name}/", [("v", "bigint")])
    return name


def reused(execution: dict[str, Any]) -> bool:
    return bool(execution["Statistics"]["ResultReuseInformation"]["ReusedPreviousResult"])


def test_a_repeated_select_reuses_the_earlier_result(athena: Any, s3: Any, table: str) -> None:
    sql = f"SELECT sum(v) AS s FROM {table}"
    first = run(athena, sql)
    assert not reused(first)
    assert first["ResultReuseConfiguration"] == {
        "ResultReuseByAgeConfiguration": {"Enabled": False}
    }
    second = run(athena, sql, ResultReuseConfiguration=REUSE)
    assert second["Status"]["State"] == "SUCCEEDED"
    assert reused(second)
    assert second["ResultReuseConfiguration"] == REUSE
    assert second["QueryExecutionId"] != first["QueryExecutionId"]
    location = first["ResultConfiguration"]["OutputLocation"]
    assert second["ResultConfiguration"]["OutputLocation"] == location
    assert (
        second["Statistics"]["DataScannedInBytes"] == 0 < first["Statistics"]["DataScannedInBytes"]
    )
    assert rows(athena, second["QueryExecutionId"]) == [["s"], ["6"]]

    # The source is not checked (as Athena documents): new data is seen only without reuse.
    put_part(s3, table, "b", [10])
    assert rows(athena, run(athena, sql, ResultReuseConfiguration=REUSE)["QueryExecutionId"]) == [
        ["s"],
        ["6"],
    ]
    fresh = run(athena, sql)
    assert not reused(fresh)
    assert rows(athena, fresh["QueryExecutionId"]) == [["s"], ["16"]]
    # ... and the newest result is the one reused from then on.
    again = run(athena, sql, ResultReuseConfiguration=REUSE)
    assert reused(again)
    assert (
        again["ResultConfiguration"]["OutputLocation"]
        == (fresh["ResultConfiguration"]["OutputLocation"])
    )


@pytest.mark.parametrize(
    "change",
    ["text", "database", "output location", "workgroup", "result file deleted", "failed before"],
)
def test_results_are_not_reused_across_differences(
    athena: Any, s3: Any, glue: Any, table: str, change: str
) -> None:
    sql = f"SELECT count(*) AS n FROM {table}"
    kwargs: dict[str, Any] = {}
    if change == "failed before":
        sql = f"SELECT count(*) AS n FROM {table} WHERE CAST('x' AS integer) = 1"
    first = run(athena, sql)
    if change == "text":
        sql = sql.replace("count(*) AS n", "count(*)  AS n")
    elif change == "database":
        glue.create_database(DatabaseInput={"Name": f"other_{table}"})
        sql = sql.replace(f"FROM {table}", f"FROM db.{table}")
        kwargs["database"] = f"other_{table}"
    elif change == "output location":
        kwargs["ResultConfiguration"] = {"OutputLocation": RESULTS + "elsewhere/"}
    elif change == "workgroup":
        athena.create_work_group(
            Name=f"wg_{table}",
            Configuration={"ResultConfiguration": {"OutputLocation": RESULTS}},
        )
        kwargs["WorkGroup"] = f"wg_{table}"
    elif change == "result file deleted":
        bucket, _, key = first["ResultConfiguration"]["OutputLocation"][5:].partition("/")
        s3.delete_object(Bucket=bucket, Key=key)
    second = run(athena, sql, ResultReuseConfiguration=REUSE, **kwargs)
    assert not reused(second)
    assert second["ResultConfiguration"]["OutputLocation"].endswith(
        second["QueryExecutionId"] + ".csv"
    )


def test_utility_statements_always_run(athena: Any, table: str) -> None:
    for _ in range(2):
        shown = run(athena, "SHOW TABLES", ResultReuseConfiguration=REUSE)
        assert shown["Status"]["State"] == "SUCCEEDED"
        assert not reused(shown)


def test_results_older_than_the_max_age_are_not_reused(tmp_path: Path) -> None:
    clock = ManualClock(start=1_750_000_000.0)
    with TuleServer(tmp_path / "tule", clock=clock, fsync=False) as server:
        server.client("s3").create_bucket(Bucket="athena-results")
        athena = server.client("athena")
        sql = "SELECT 42 AS answer"
        first = run(athena, sql, database=None)
        clock.advance(30 * 60)
        within = run(athena, sql, database=None, ResultReuseConfiguration=REUSE)
        assert reused(within)
        clock.advance(31 * 60)  # the first result is now 61 minutes old
        too_old = run(athena, sql, database=None, ResultReuseConfiguration=REUSE)
        assert not reused(too_old)
        longer = {"ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 10080}}
        kept = run(athena, sql, database=None, ResultReuseConfiguration=longer)
        assert reused(kept)
        assert (
            kept["ResultConfiguration"]["OutputLocation"]
            == (too_old["ResultConfiguration"]["OutputLocation"])
        )
        assert first["Status"]["State"] == "SUCCEEDED"
