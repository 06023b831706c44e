"""Helpers for the Athena tests: run a query to its end, read all its results, make tables."""

from __future__ import annotations

import io
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

RESULTS = "s3://athena-results/out/"
LAKE = "lake"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

PARQUET_FORMATS = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}


def wait(athena: Any, query_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in TERMINAL:
            return execution
        if time.monotonic() > deadline:
            raise AssertionError(f"query {query_id} still {execution['Status']['State']}")
        time.sleep(0.005)


def start(athena: Any, sql: str, database: str | None = "db", **kwargs: Any) -> str:
    kwargs.setdefault("ResultConfiguration", {"OutputLocation": RESULTS})
    if database is not None:
        kwargs.setdefault("QueryExecutionContext", {"Database": database})
    return str(athena.start_query_execution(QueryString=sql, **kwargs)["QueryExecutionId"])


def run(athena: Any, sql: str, database: str | None = "db", **kwargs: Any) -> dict[str, Any]:
    """Start the query and wait for its end; returns the QueryExecution."""
    return wait(athena, start(athena, sql, database, **kwargs))


def rows(athena: Any, query_id: str) -> list[list[str | None]]:
    """Every row of every page (a SELECT's header first), NULL as None."""
    out = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        for row in page["ResultSet"]["Rows"]:
            out.append([d.get("VarCharValue") for d in row["Data"]])
    return out


def query(athena: Any, sql: str, database: str | None = "db") -> list[list[str | None]]:
    """The rows of a query that must succeed (header first for SELECTs)."""
    execution = run(athena, sql, database)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return rows(athena, execution["QueryExecutionId"])


def failure(athena: Any, sql: str, database: str | None = "db") -> str:
    execution = run(athena, sql, database)
    assert execution["Status"]["State"] == "FAILED", execution["Status"]
    return str(execution["Status"]["StateChangeReason"])


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def create_parquet_table(
    glue: Any,
    name: str,
    location: str,
    columns: list[tuple[str, str]],
    partition_keys: list[tuple[str, str]] | None = None,
    database: str = "db",
) -> None:
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": n, "Type": t} for n, t in partition_keys or []],
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in columns],
                "Location": location,
                **PARQUET_FORMATS,
            },
            "Parameters": {"classification": "parquet"},
        },
    )
