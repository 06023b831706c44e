"""Athena benchmark: the 22 TPC-H queries at scale factor 1 through boto3, against DuckDB.

Target (issue Lake; specs/performance.md section 7): each query through tule's Athena
(StartQueryExecution -> poll GetQueryExecution -> every page of GetQueryResults) within 1.5x of
DuckDB running the same text over the same Parquet files in the same run; 22 queries <= 7 s.

Data: DuckDB's `tpch` extension generates it (`dbgen`), but the only wheel reachable here,
`duckdb-extension-tpch==1.5.5`, loads into duckdb 1.5.5 alone, and the project ships 2.x. So a
throwaway side environment (`.venv-tpch/`) with those two pins runs `tpch_generate.py`, which
writes the 8 tables as Parquet and the 22 query texts to `.tpch/sf<N>/`; later runs reuse it.

Then, in the project's environment: a `tule serve` process (fsync on, as shipped) gets the
files in S3 (single PUTs, so each object is one plain file DuckDB reads in place) and 8 Glue
tables (Parquet SerDe, columns typed from the files). Each query runs once on both sides as a
warm-up, and the answers are compared (row count, then every value: text exact, numbers within
a relative 1e-9); then medians of `--runs` timed runs, the two sides interleaved. The query
texts are DuckDB's TPC-H texts, sent to Athena unchanged (Trino accepts them: ANSI
`CAST(... AS date)`, `extract`, `substring(... FROM ... FOR ...)`, a CTE, a derived-column
list).

    python benchmarks/athena_tpch.py [--sf 1] [--runs 3] [--poll-ms 0] [--queries 1,6,...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from boto3.s3.transfer import TransferConfig

from common import client, tule_server

ROOT = Path(__file__).resolve().parent.parent
SIDE_VENV = ROOT / ".venv-tpch"
SIDE_PINS = ("duckdb==1.5.5", "duckdb-extension-tpch==1.5.5")
HIVE_PARQUET = "org.apache.hadoop.hive.ql.io.parquet"
TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")
TARGET_RATIO = 1.5
TARGET_TOTAL_S = 7.0


def side_python() -> Path:
    """The side environment's interpreter, created with the two pins on first use."""
    python = SIDE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SIDE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *SIDE_PINS], check=True)
    return python


def tpch_data(sf: float) -> Path:
    """The folder holding the tables and queries for `sf`, generated when missing."""
    folder = ROOT / ".tpch" / f"sf{sf:g}"
    if not (folder / "done.json").exists():
        generator = Path(__file__).with_name("tpch_generate.py")
        subprocess.run(
            [str(side_python()), str(generator), str(folder), "--sf", str(sf)], check=True
        )
    return folder


def hive_type(duck_type: str) -> str:
    """The Glue (Hive) type of a Parquet column as DuckDB describes it."""
    upper = duck_type.upper()
    if upper.startswith("DECIMAL"):
        return duck_type.lower().replace(" ", "")
    return {
        "BIGINT": "bigint",
        "INTEGER": "int",
        "VARCHAR": "string",
        "DATE": "date",
        "DOUBLE": "double",
    }[upper]


def table_input(name: str, path: Path) -> dict[str, Any]:
    described = duckdb.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": [{"Name": r[0], "Type": hive_type(r[1])} for r in described],
            "Location": f"s3://tpch-lake/{name}/",
            "InputFormat": f"{HIVE_PARQUET}.MapredParquetInputFormat",
            "OutputFormat": f"{HIVE_PARQUET}.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": f"{HIVE_PARQUET}.serde.ParquetHiveSerDe"},
        },
        "Parameters": {"classification": "parquet"},
    }


class AthenaRunner:
    """Start -> poll -> every result page, as an Athena client does."""

    def __init__(self, athena: Any, poll_s: float) -> None:
        self.athena = athena
        self.poll_s = poll_s

    def __call__(self, sql: str) -> tuple[list[str], list[list[str | None]]]:
        query_id = self.athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": "tpch"},
            ResultConfiguration={"OutputLocation": "s3://tpch-results/"},
        )["QueryExecutionId"]
        while True:
            execution = self.athena.get_query_execution(QueryExecutionId=query_id)
            status = execution["QueryExecution"]["Status"]
            if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(self.poll_s)
        if status["State"] != "SUCCEEDED":
            raise RuntimeError(status.get("StateChangeReason") or status)
        rows: list[list[str | None]] = []
        token = None
        while True:
            kwargs = {"QueryExecutionId": query_id, "MaxResults": 1000}
            if token:
                kwargs["NextToken"] = token
            page = self.athena.get_query_results(**kwargs)
            rows += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
            token = page.get("NextToken")
            if not token:
                break
        header = [str(c) for c in rows[0]]
        return header, rows[1:]


def same_value(text: str | None, value: Any) -> bool:
    """Whether Athena's rendering of a value is DuckDB's value."""
    if value is None or text is None:
        return value is None and text is None
    if isinstance(value, bool):
        return text == str(value).lower()
    if isinstance(value, int | float | Decimal):
        got, want = float(text), float(value)
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(value, dt.date):
        return text == value.isoformat()
    return text == str(value)


def answer_mismatch(athena_rows: list[list[str | None]], duck_rows: list[tuple]) -> str | None:
    if len(athena_rows) != len(duck_rows):
        return f"{len(athena_rows)} rows from Athena, {len(duck_rows)} from DuckDB"
    for i, (got, want) in enumerate(zip(athena_rows, duck_rows, strict=True)):
        if len(got) != len(want) or not all(
            same_value(g, w) for g, w in zip(got, want, strict=True)
        ):
            return f"row {i}: Athena {got} != DuckDB {list(want)}"
    return None


def timed(fn: Any, arg: str) -> float:
    start = time.perf_counter()
    fn(arg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    # Tight polling, as `athena.py` does: the server answers an unfinished execution once its
    # state changes (or after a short hold), so polls neither spin nor lag the query's end.
    parser.add_argument("--poll-ms", type=float, default=0.0)
    parser.add_argument("--queries", default="", help="comma-separated numbers (default: all)")
    args = parser.parse_args()
    folder = tpch_data(args.sf)
    texts: list[str] = json.loads((folder / "queries.json").read_text())
    chosen = [int(n) for n in args.queries.split(",") if n] or list(range(1, len(texts) + 1))
    size_mb = sum((folder / f"{t}.parquet").stat().st_size for t in TABLES) / 1e6

    duck = duckdb.connect()
    for t in TABLES:
        duck.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{folder / t}.parquet')")

    def run_duck(sql: str) -> list[tuple]:
        return duck.execute(sql).fetchall()

    results: dict[int, tuple[float, float]] = {}
    failures: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp, tule_server(Path(tmp) / "data") as server:
        s3, glue, athena = (client(s, server.url) for s in ("s3", "glue", "athena"))
        s3.create_bucket(Bucket="tpch-lake")
        s3.create_bucket(Bucket="tpch-results")
        glue.create_database(DatabaseInput={"Name": "tpch"})
        start = time.perf_counter()
        for t in TABLES:
            s3.upload_file(
                str(folder / f"{t}.parquet"),
                "tpch-lake",
                f"{t}/{t}.parquet",
                Config=TransferConfig(multipart_threshold=1 << 40),
            )
            glue.create_table(
                DatabaseName="tpch", TableInput=table_input(t, folder / f"{t}.parquet")
            )
        loaded = time.perf_counter() - start
        run_athena = AthenaRunner(athena, args.poll_ms / 1000)
        for n in chosen:
            sql = texts[n - 1]
            try:
                _, got = run_athena(sql)
            except RuntimeError as err:
                failures[n] = f"Athena failed: {err}"
                continue
            problem = answer_mismatch(got, run_duck(sql))
            if problem is not None:
                failures[n] = problem
                continue
            # Interleaved, so both sides see the same background load (the box is shared).
            pairs = [(timed(run_athena, sql), timed(run_duck, sql)) for _ in range(args.runs)]
            results[n] = (
                statistics.median(t for t, _ in pairs),
                statistics.median(d for _, d in pairs),
            )

    print(
        f"TPC-H SF{args.sf:g} ({size_mb:.0f} MB Parquet, loaded into S3 + Glue in {loaded:.1f} s), "
        f"medians of {args.runs}, poll every {args.poll_ms:g} ms:"
    )
    print(
        f"  {'query':>5} {'tule ms':>9} {'DuckDB ms':>10} {'ratio':>6}  target <= {TARGET_RATIO}x"
    )
    for n in chosen:
        if n in failures:
            print(f"  Q{n:<4} FAILED: {failures[n]}")
            continue
        tule_s, duck_s = results[n]
        ratio = tule_s / duck_s
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"  Q{n:<4} {tule_s * 1000:9.1f} {duck_s * 1000:10.1f} {ratio:6.2f}  {verdict}")
    tule_total = sum(t for t, _ in results.values())
    duck_total = sum(d for _, d in results.values())
    met = sum(1 for t, d in results.values() if t / d <= TARGET_RATIO)
    print(
        f"  total {tule_total:9.2f} s {duck_total:9.2f} s ratio {tule_total / duck_total:.2f}x; "
        f"{met}/{len(chosen)} queries within {TARGET_RATIO}x; "
        f"answers matched for {len(results)}/{len(chosen)}"
    )
    if len(chosen) == len(texts):
        verdict = "met" if not failures and tule_total <= TARGET_TOTAL_S else "NOT met"
        print(f"  22 queries through tule <= {TARGET_TOTAL_S:g} s: {verdict}")


if __name__ == "__main__":
    main()
