"""Athena benchmark: the 22 TPC-H queries at scale factor 1 through boto3, against DuckDB.

Target (issue Lake; specs/performance.md section 7): each query through tule's Athena within
1.5x of DuckDB running the same text over the same Parquet files in the same run; 22 queries
<= 7 s. Each query is timed two ways, StartQueryExecution -> poll GetQueryExecution -> then
either every page of GetQueryResults ("pages", 1,000 rows a call) or one GetObject of the result
CSV in the OutputLocation ("file", what clients made for large results do), parsed by pyarrow's
CSV reader as PyAthena's arrow cursor parses it (a parser in Python would time the client, not
tule: it took 16 ms of Q16's 18,000 rows where pyarrow takes about 2).

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

    python benchmarks/athena_tpch.py [--sf 1] [--runs 7] [--poll-ms 0] [--queries 1,6,...]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
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

import botocore.parsers
import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
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
    """Start -> poll -> the results, as an Athena client does: every GetQueryResults page
    (`fetch="pages"`), or the result file from the OutputLocation (`fetch="file"`), which is
    how clients built for large results read them (awswrangler's `read_sql_query` without
    CTAS, PyAthena's pandas and arrow cursors): one GetObject and a CSV parse in C++."""

    def __init__(self, athena: Any, poll_s: float, s3: Any = None, fetch: str = "pages") -> None:
        self.athena = athena
        self.poll_s = poll_s
        self.s3 = s3
        self.fetch = fetch

    def __call__(self, sql: str) -> tuple[list[str], Any]:
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
        if self.fetch == "file":
            location = execution["QueryExecution"]["ResultConfiguration"]["OutputLocation"]
            bucket, _, key = location.removeprefix("s3://").partition("/")
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            # The rows stay in the Arrow table, as that client hands them over; the answer
            # check turns them into lists, untimed (`rows_of`).
            table = read_result_csv(body)
            return table.column_names, table
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


def read_result_csv(body: bytes) -> pa.Table:
    """A result file parsed as PyAthena's arrow cursor parses it (pyarrow's CSV reader, C++;
    awswrangler's pandas path is C too): every column as text, an empty unquoted field NULL,
    a quoted empty field the empty string."""
    header = next(csv.reader(io.StringIO(body[: body.find(b"\n")].decode())))
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    return pacsv.read_csv(pa.BufferReader(body), convert_options=convert)


def rows_of(table: pa.Table) -> list[list[str | None]]:
    columns = [column.to_pylist() for column in table.columns]
    return [list(row) for row in zip(*columns, strict=True)]


class PageBodies:
    """The raw GetQueryResults bodies a client receives, kept while `capturing`, to time what
    botocore's parser alone spends on them: a floor no server can lower."""

    def __init__(self, athena: Any) -> None:
        self.capturing = False
        self.bodies: list[bytes] = []
        self.shape = athena.meta.service_model.operation_model("GetQueryResults").output_shape
        athena.meta.events.register("after-call.athena.GetQueryResults", self._keep)

    def _keep(self, http_response: Any, **_: Any) -> None:
        if self.capturing:
            self.bodies.append(http_response.content)

    def parse_seconds(self, runs: int = 3) -> float:
        parser = botocore.parsers.create_parser("json")
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            for body in self.bodies:
                parser.parse({"body": body, "headers": {}, "status_code": 200}, self.shape)
            times.append(time.perf_counter() - start)
        return statistics.median(times)


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
    # Medians of 3 swing by +-0.15 for the shortest queries on a 2-core VM (Q11's DuckDB time
    # alone moves 23-37 ms between runs); 7 settle within a few hundredths.
    parser.add_argument("--runs", type=int, default=7)
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

    results: dict[int, tuple[float, ...]] = {}
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
        by_pages = AthenaRunner(athena, args.poll_ms / 1000)
        by_file = AthenaRunner(athena, args.poll_ms / 1000, s3, fetch="file")
        pages = PageBodies(athena)
        floors: dict[int, float] = {}
        for n in chosen:
            sql = texts[n - 1]
            try:
                pages.capturing, pages.bodies = True, []
                answers = (by_pages(sql)[1], rows_of(by_file(sql)[1]))
                pages.capturing = False
                floors[n] = pages.parse_seconds()
            except RuntimeError as err:
                failures[n] = f"Athena failed: {err}"
                continue
            expected = run_duck(sql)
            problem = next(filter(None, (answer_mismatch(a, expected) for a in answers)), None)
            if problem is not None:
                failures[n] = problem
                continue
            # Interleaved, so every side sees the same background load (the box is shared).
            timings = [
                (timed(by_pages, sql), timed(by_file, sql), timed(run_duck, sql))
                for _ in range(args.runs)
            ]
            results[n] = tuple(statistics.median(t[k] for t in timings) for k in range(3))

    print(
        f"TPC-H SF{args.sf:g} ({size_mb:.0f} MB Parquet, loaded into S3 + Glue in {loaded:.1f} s), "
        f"medians of {args.runs}, poll every {args.poll_ms:g} ms; results read as every "
        "GetQueryResults page (pages) or as the result file from S3 (file):"
    )
    print(
        f"  {'query':>5} {'pages ms':>9} {'file ms':>8} {'DuckDB ms':>10} "
        f"{'pages':>6} {'file':>6}  (ratios; target <= {TARGET_RATIO}x)  "
        "botocore's own parse of the pages, ms"
    )
    for n in chosen:
        if n in failures:
            print(f"  Q{n:<4} FAILED: {failures[n]}")
            continue
        pages_s, file_s, duck_s = results[n]
        print(
            f"  Q{n:<4} {pages_s * 1000:9.1f} {file_s * 1000:8.1f} {duck_s * 1000:10.1f} "
            f"{pages_s / duck_s:6.2f} {file_s / duck_s:6.2f}  {floors[n] * 1000:6.1f}"
        )
    duck_total = sum(r[2] for r in results.values())
    for k, mode in ((0, "pages"), (1, "file")):
        total = sum(r[k] for r in results.values())
        met = sum(1 for r in results.values() if r[k] / r[2] <= TARGET_RATIO)
        print(
            f"  {mode:>5}: total {total:6.2f} s vs DuckDB {duck_total:.2f} s = "
            f"{total / duck_total:.2f}x; {met}/{len(chosen)} queries within {TARGET_RATIO}x"
            + (
                f"; 22 queries <= {TARGET_TOTAL_S:g} s: "
                + ("met" if not failures and total <= TARGET_TOTAL_S else "NOT met")
                if len(chosen) == len(texts)
                else ""
            )
        )
    print(f"  answers matched DuckDB's for {len(results)}/{len(chosen)} queries, both ways")


if __name__ == "__main__":
    main()
