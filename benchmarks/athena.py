"""Athena benchmark: SQL over Parquet through boto3 against tule, and DuckDB on the same file.

Measured in one run, medians of 3 (after one warm-up each):

- a GROUP BY (20 groups; count, avg, sum) over a 10M-row Parquet table catalogued in Glue,
  start -> poll GetQueryExecution -> GetQueryResults through boto3, against DuckDB running
  the same query on the same file directly. Target (issue Lake): tule <= 1.3x DuckDB + 150 ms.
- a trivial query's round trip (`SELECT 1`: start, tight polling, results). Target <= 50 ms.

The 22 TPC-H queries are `athena_tpch.py` (its data is generated in a side environment).

The server runs in its own process (`tule serve`, fsync on, as shipped).

    python benchmarks/athena.py [--runs 3] [--rows 10000000] [--trivial 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
from boto3.s3.transfer import TransferConfig

from common import client, median_of, tule_server

HIVE_PARQUET = "org.apache.hadoop.hive.ql.io.parquet"
GROUP_BY = (
    "SELECT g, count(*) AS n, avg(v) AS mean, sum(q) AS total FROM {table} GROUP BY g ORDER BY g"
)


def make_parquet(path: Path, rows: int) -> None:
    duckdb.execute(
        f"COPY (SELECT i AS id, (i % 20)::INTEGER AS g, random() AS v, (i % 1000)::BIGINT AS q "
        f"FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)"
    )


def run_query(athena, sql: str) -> list:
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": "bench"},
        ResultConfiguration={"OutputLocation": "s3://bench-results/"},
    )["QueryExecutionId"]
    while True:
        state = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if state["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
    if state["State"] != "SUCCEEDED":
        raise RuntimeError(state)
    return athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--trivial", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "facts.parquet"
        make_parquet(local, args.rows)
        size_mb = local.stat().st_size / 1e6
        with tule_server(Path(tmp) / "data") as server:
            s3, glue, athena = (client(s, server.url) for s in ("s3", "glue", "athena"))
            s3.create_bucket(Bucket="bench-lake")
            s3.create_bucket(Bucket="bench-results")
            s3.upload_file(
                str(local),
                "bench-lake",
                "facts/facts.parquet",
                Config=TransferConfig(multipart_threshold=1 << 40),
            )
            glue.create_database(DatabaseInput={"Name": "bench"})
            glue.create_table(
                DatabaseName="bench",
                TableInput={
                    "Name": "facts",
                    "TableType": "EXTERNAL_TABLE",
                    "StorageDescriptor": {
                        "Columns": [
                            {"Name": "id", "Type": "bigint"},
                            {"Name": "g", "Type": "int"},
                            {"Name": "v", "Type": "double"},
                            {"Name": "q", "Type": "bigint"},
                        ],
                        "Location": "s3://bench-lake/facts/",
                        "InputFormat": f"{HIVE_PARQUET}.MapredParquetInputFormat",
                        "SerdeInfo": {
                            "SerializationLibrary": f"{HIVE_PARQUET}.serde.ParquetHiveSerDe"
                        },
                    },
                },
            )
            tule_sql = GROUP_BY.format(table="facts")
            duck_sql = GROUP_BY.format(table=f"read_parquet('{local}')")
            con = duckdb.connect()
            rows = run_query(athena, tule_sql)
            assert len(rows) == 21, rows
            con.execute(duck_sql).fetchall()
            tule_s = median_of(args.runs, lambda: timed(lambda: run_query(athena, tule_sql)))
            duck_s = median_of(args.runs, lambda: timed(lambda: con.execute(duck_sql).fetchall()))
            run_query(athena, "SELECT 1")
            trivial = [timed(lambda: run_query(athena, "SELECT 1")) for _ in range(args.trivial)]
    trivial_ms = statistics.median(trivial) * 1000
    budget = 1.3 * duck_s + 0.150
    print(f"GROUP BY over {args.rows:,} rows ({size_mb:.0f} MB Parquet), medians of {args.runs}:")
    print(f"  tule (boto3 start/poll/results): {tule_s * 1000:8.1f} ms")
    print(f"  DuckDB on the same file:         {duck_s * 1000:8.1f} ms")
    print(
        f"  ratio {tule_s / duck_s:.2f}x; target <= 1.3x + 150 ms = {budget * 1000:.0f} ms: "
        f"{'met' if tule_s <= budget else 'NOT met'}"
    )
    print(
        f"Trivial query round trip (SELECT 1), median of {args.trivial}: {trivial_ms:.1f} ms; "
        f"target <= 50 ms: {'met' if trivial_ms <= 50 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
