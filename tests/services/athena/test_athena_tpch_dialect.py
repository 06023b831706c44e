"""TPC-H's SQL as Athena users write it (Trino's forms), translated for DuckDB with Trino's types.

Unit tests run the translation of one expression in DuckDB; the rest send TPC-H-shaped queries
through boto3 over small Parquet tables catalogued in Glue, with answers worked out by hand.
Last, the engine's shared scan views, which keep a repeated query from re-reading its tables'
schemas, and the held poll that tells a tight-polling client of a query's end at once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from athena_helpers import LAKE, create_parquet_table, parquet_bytes, query, rows, run, start

from tule.engines import duckdb_shared
from tule.engines.duckdb_engine import DuckDbEngine
from tule.engines.duckdb_sources import Column, DataFile, FileGroup, TableFormat, TableSource
from tule.services.athena import dialect, executions
from tule.services.athena.results import parse_csv
from tule.testing import TuleServer


def evaluate(expression: str) -> tuple[Any, str]:
    """The value and DuckDB type of one Trino expression, through tule's translation."""
    sql = dialect.to_duckdb(dialect.parse(f"SELECT {expression} AS v"))
    con = duckdb.connect()
    value = con.execute(sql).fetchone()[0]
    kind = con.execute(f"SELECT typeof(v) FROM ({sql})").fetchone()[0]
    return value, kind


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("DATE '1998-12-01' - INTERVAL '90' DAY", dt.date(1998, 9, 2)),
        ("DATE '1994-01-01' + INTERVAL '1' YEAR", dt.date(1995, 1, 1)),
        ("DATE '1993-10-01' + INTERVAL '3' MONTH", dt.date(1994, 1, 1)),
        ("DATE '1995-09-01' + INTERVAL '1' month", dt.date(1995, 10, 1)),
        ("INTERVAL '7' DAY + DATE '1996-01-01'", dt.date(1996, 1, 8)),
        ("DATE '1998-12-01' - INTERVAL '90' DAY - INTERVAL '1' DAY", dt.date(1998, 9, 1)),
        ("(DATE '1998-12-01' - INTERVAL '1' YEAR)", dt.date(1997, 12, 1)),
        ("date('1996-02-28') + INTERVAL '2' DAY", dt.date(1996, 3, 1)),
        ("CAST('1996-01-31' AS date) + INTERVAL '1' MONTH", dt.date(1996, 2, 29)),
        ("date_add('day', -90, DATE '1998-12-01')", dt.date(1998, 9, 2)),
        ("date_add('month', 3, DATE '1993-10-01')", dt.date(1994, 1, 1)),
        ("date_add('year', 1, DATE '1994-01-01' + INTERVAL '1' DAY)", dt.date(1995, 1, 2)),
    ],
)
def test_date_plus_a_day_or_larger_interval_stays_a_date(expression: str, expected: Any) -> None:
    value, kind = evaluate(expression)
    assert (value, kind) == (expected, "DATE")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("TIMESTAMP '1998-09-02 10:00:00' + INTERVAL '1' DAY", dt.datetime(1998, 9, 3, 10)),
        ("TIMESTAMP '1998-09-02 10:00:00' - INTERVAL '2' HOUR", dt.datetime(1998, 9, 2, 8)),
    ],
)
def test_timestamp_plus_an_interval_stays_a_timestamp(expression: str, expected: Any) -> None:
    value, kind = evaluate(expression)
    assert value == expected
    assert kind.startswith("TIMESTAMP")


def test_a_date_range_filter_compares_dates_not_timestamps() -> None:
    # TPC-H Q1's predicate: a DATE column against date arithmetic must stay a DATE comparison
    # (a timestamp one casts every row and cannot be pushed into the Parquet scan).
    tree = dialect.parse(
        "SELECT 1 FROM t WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY"
    )
    sql = dialect.to_duckdb(tree)
    assert "<= CAST(CAST('1998-12-01' AS DATE) - INTERVAL '90' DAY AS DATE)" in sql


def test_partition_pruning_predicates_get_the_same_date_translation() -> None:
    node = dialect.parse("SELECT DATE '2024-03-01' - INTERVAL '1' MONTH").expressions[0]
    sql = dialect.expression_to_duckdb(node)
    assert duckdb.connect().execute(f"SELECT {sql}").fetchall() == [(dt.date(2024, 2, 1),)]


# -- through boto3, over Parquet tables -------------------------------------------------------

MONEY = pa.decimal128(15, 2)


@pytest.fixture(scope="module")
def tpch(s3: Any, glue: Any) -> None:
    """Small lineitem, orders and customer tables with TPC-H's column names and types."""
    lineitem = pa.table(
        {
            "l_orderkey": pa.array([1, 1, 2, 3, 3], pa.int64()),
            "l_quantity": pa.array([Decimal(q) for q in ("17", "36", "8", "28", "24")], MONEY),
            "l_extendedprice": pa.array(
                [Decimal(p) for p in ("100.00", "200.00", "50.00", "300.00", "400.00")], MONEY
            ),
            "l_discount": pa.array(
                [Decimal(d) for d in ("0.10", "0.00", "0.05", "0.10", "0.00")], MONEY
            ),
            "l_returnflag": ["N", "N", "R", "A", "N"],
            "l_shipdate": pa.array(
                [
                    dt.date(1995, 9, 5),
                    dt.date(1998, 9, 3),
                    dt.date(1995, 9, 30),
                    dt.date(1996, 1, 2),
                    dt.date(1998, 9, 2),
                ],
                pa.date32(),
            ),
        }
    )
    orders = pa.table(
        {
            "o_orderkey": pa.array([1, 2, 3], pa.int64()),
            "o_custkey": pa.array([10, 10, 20], pa.int64()),
            "o_orderdate": pa.array(
                [dt.date(1993, 7, 10), dt.date(1993, 9, 30), dt.date(1993, 10, 1)], pa.date32()
            ),
            "o_comment": ["plain", "special requests here", "plain"],
        }
    )
    customer = pa.table(
        {
            "c_custkey": pa.array([10, 20, 30, 40], pa.int64()),
            "c_phone": ["13-555-0101", "31-555-0102", "13-555-0103", "99-555-0104"],
            "c_acctbal": pa.array(
                [Decimal(b) for b in ("100.00", "50.00", "900.00", "700.00")], MONEY
            ),
        }
    )
    types = {
        pa.int64(): "bigint",
        MONEY: "decimal(15,2)",
        pa.string(): "string",
        pa.date32(): "date",
    }
    for name, table in (("lineitem", lineitem), ("orders", orders), ("customer", customer)):
        key = f"tpch/{name}/part-0.parquet"
        s3.put_object(Bucket=LAKE, Key=key, Body=parquet_bytes(table))
        columns = [(f.name, types[f.type]) for f in table.schema]
        create_parquet_table(glue, f"tpch_{name}", f"s3://{LAKE}/tpch/{name}/", columns)


@pytest.mark.usefixtures("tpch")
def test_q1_pricing_summary_with_interval_arithmetic(athena: Any) -> None:
    result = query(
        athena,
        """
        SELECT l_returnflag, sum(l_quantity) AS sum_qty, count(*) AS count_order
        FROM tpch_lineitem
        WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY
        GROUP BY l_returnflag
        ORDER BY l_returnflag
        """,
    )
    # 1998-09-03 is after the cut-off (1998-09-02), so that line is left out.
    assert result == [
        ["l_returnflag", "sum_qty", "count_order"],
        ["A", "28.00", "1"],
        ["N", "41.00", "2"],
        ["R", "8.00", "1"],
    ]


@pytest.mark.usefixtures("tpch")
def test_q14_month_window_with_interval_month(athena: Any) -> None:
    result = query(
        athena,
        """
        SELECT sum(l_extendedprice * (1 - l_discount)) AS revenue
        FROM tpch_lineitem
        WHERE l_shipdate >= DATE '1995-09-01'
          AND l_shipdate < DATE '1995-09-01' + INTERVAL '1' MONTH
        """,
    )
    assert result == [["revenue"], ["137.5000"]]


@pytest.mark.usefixtures("tpch")
def test_q4_exists_with_date_add(athena: Any) -> None:
    result = query(
        athena,
        """
        SELECT count(*) AS order_count
        FROM tpch_orders
        WHERE o_orderdate >= DATE '1993-07-01'
          AND o_orderdate < date_add('month', 3, DATE '1993-07-01')
          AND EXISTS (SELECT * FROM tpch_lineitem WHERE l_orderkey = o_orderkey)
        """,
    )
    assert result == [["order_count"], ["2"]]


@pytest.mark.usefixtures("tpch")
def test_q7_extract_year_groups(athena: Any) -> None:
    result = query(
        athena,
        """
        SELECT extract(year FROM l_shipdate) AS l_year, count(*) AS n
        FROM tpch_lineitem
        GROUP BY extract(year FROM l_shipdate)
        ORDER BY l_year
        """,
    )
    assert result == [["l_year", "n"], ["1995", "2"], ["1996", "1"], ["1998", "2"]]


@pytest.mark.usefixtures("tpch")
def test_q22_substring_country_codes_and_not_exists(athena: Any) -> None:
    result = query(
        athena,
        """
        SELECT cntrycode, count(*) AS numcust, sum(c_acctbal) AS totacctbal
        FROM (
            SELECT substring(c_phone, 1, 2) AS cntrycode, c_acctbal
            FROM tpch_customer
            WHERE substring(c_phone, 1, 2) IN ('13', '31')
              AND c_acctbal > (
                  SELECT avg(c_acctbal) FROM tpch_customer
                  WHERE c_acctbal > 0.00 AND substring(c_phone, 1, 2) IN ('13', '31'))
              AND NOT EXISTS (SELECT * FROM tpch_orders WHERE o_custkey = c_custkey)
        ) AS custsale
        GROUP BY cntrycode
        ORDER BY cntrycode
        """,
    )
    # avg over 13/31 customers = (100 + 50 + 900) / 3 = 350; only customer 30 is above it
    # and has no orders.
    assert result == [["cntrycode", "numcust", "totacctbal"], ["13", "1", "900.00"]]


@pytest.mark.usefixtures("tpch")
def test_q13_derived_column_list_and_outer_join(athena: Any) -> None:
    result = query(
        athena,
        """
        SELECT c_count, count(*) AS custdist
        FROM (
            SELECT c_custkey, count(o_orderkey)
            FROM tpch_customer
            LEFT OUTER JOIN tpch_orders
              ON c_custkey = o_custkey AND o_comment NOT LIKE '%special%requests%'
            GROUP BY c_custkey
        ) AS c_orders (c_custkey, c_count)
        GROUP BY c_count
        ORDER BY custdist DESC, c_count DESC
        """,
    )
    # Customer 10's special-requests order is left out of its count; 30 and 40 have none.
    assert result == [["c_count", "custdist"], ["1", "2"], ["0", "2"]]


@pytest.mark.usefixtures("tpch")
def test_q15_cte_read_twice(athena: Any) -> None:
    result = query(
        athena,
        """
        WITH revenue AS (
            SELECT l_orderkey AS supplier_no, sum(l_extendedprice) AS total_revenue
            FROM tpch_lineitem
            GROUP BY l_orderkey
        )
        SELECT supplier_no, total_revenue
        FROM revenue
        WHERE total_revenue = (SELECT max(total_revenue) FROM revenue)
        """,
    )
    assert result == [["supplier_no", "total_revenue"], ["3", "700.00"]]


@pytest.mark.usefixtures("tpch")
def test_a_table_named_twice_answers_and_counts_bytes_per_reference(athena: Any) -> None:
    # TPC-H's `nation n1, nation n2`: one registration serves both aliases, and the bytes
    # scanned still count each reference, as Athena reads the table for each.
    single = run(athena, "SELECT count(*) FROM tpch_customer")
    result = query(
        athena,
        "SELECT count(*) AS n FROM tpch_customer c1, tpch_customer c2 "
        "WHERE c1.c_custkey = c2.c_custkey AND c1.c_acctbal > 500",
    )
    twice = run(athena, "SELECT count(*) FROM tpch_customer a, tpch_customer b")
    assert result == [["n"], ["2"]]
    scanned = single["Statistics"]["DataScannedInBytes"]
    assert twice["Statistics"]["DataScannedInBytes"] == 2 * scanned


@pytest.mark.usefixtures("tpch")
def test_date_arithmetic_result_column_is_a_date(athena: Any) -> None:
    execution = run(athena, "SELECT DATE '1998-12-01' - INTERVAL '90' DAY AS cutoff")
    query_id = execution["QueryExecutionId"]
    page = athena.get_query_results(QueryExecutionId=query_id)
    info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert info[0]["Type"] == "date"
    assert rows(athena, query_id) == [["cutoff"], ["1998-09-02"]]


# -- the engine's shared scan views (what makes a repeated TPC-H query cheap) -----------------


def parquet_source(path: Path) -> TableSource:
    return TableSource(
        (Column("k", "bigint"),),
        (),
        TableFormat("parquet"),
        (FileGroup((DataFile(str(path), path.stat().st_size),)),),
    )


def test_sessions_share_one_view_per_unchanged_file_set(tmp_path: Path) -> None:
    data = tmp_path / "t.parquet"
    duckdb.connect().execute(f"COPY (SELECT range AS k FROM range(3)) TO '{data}'")
    engine = DuckDbEngine(tmp_path / "engine")
    first, second = engine.session(), engine.session()
    name = first.scan_view(parquet_source(data), "private_1")
    assert second.scan_view(parquet_source(data), "private_2") == name
    assert second.fetch(f'SELECT sum(k) FROM "{name}"') == [(3,)]
    # A file rewritten in place (new size and time) is described anew: its column is now an
    # INTEGER, so the view must cast it to the catalogued bigint, and the new rows are read.
    duckdb.connect().execute(f"COPY (SELECT range::INTEGER AS k FROM range(10)) TO '{data}'")
    renamed = second.scan_view(parquet_source(data), "private_3")
    assert renamed != name
    assert second.fetch(f'SELECT sum(k), typeof(any_value(k)) FROM "{renamed}"') == [(45, "BIGINT")]
    for session in (first, second):
        session.close()
    engine.close()


def test_shared_views_drop_the_least_recently_used_beyond_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(duckdb_shared, "MAX_VIEWS", 2)
    views = duckdb_shared.SharedViews()
    created: list[str] = []
    dropped: list[str] = []
    a = views.view("SELECT 1", created.append, dropped.append)
    b = views.view("SELECT 2", created.append, dropped.append)
    assert views.view("SELECT 1", created.append, dropped.append) == a  # now the most recent
    views.view("SELECT 3", created.append, dropped.append)
    assert len(created) == 3
    assert dropped == [b]


def counted_describes(session: Any) -> list[str]:
    seen: list[str] = []
    describe = session.describe

    def counting(sql: str) -> list[tuple[str, str]]:
        seen.append(sql)
        return describe(sql)

    session.describe = counting
    return seen


def test_a_repeated_query_over_shared_views_is_described_once(tmp_path: Path) -> None:
    data = tmp_path / "t.parquet"
    duckdb.connect().execute(f"COPY (SELECT range AS k FROM range(3)) TO '{data}'")
    engine = DuckDbEngine(tmp_path / "engine")
    first, second = engine.session(), engine.session()
    name = first.scan_view(parquet_source(data), "private_1")
    sql = f'SELECT k, k * 0.5 AS half FROM "{name}" ORDER BY k'
    seen_first, seen_second = counted_describes(first), counted_describes(second)
    one = first.write_csv(sql, tmp_path / "one.csv")
    two = second.write_csv(sql, tmp_path / "two.csv")
    assert (len(seen_first), len(seen_second)) == (1, 0)
    assert two == one
    assert (tmp_path / "two.csv").read_text() == (tmp_path / "one.csv").read_text()
    assert (tmp_path / "two.csv").read_text().splitlines()[1] == '"0","0.0"'
    # Another text is described.
    second.write_csv(f'SELECT count(*) AS n FROM "{name}"', tmp_path / "three.csv")
    assert len(seen_second) == 1
    for session in (first, second):
        session.close()
    engine.close()


def test_a_session_with_private_views_describes_every_query(tmp_path: Path) -> None:
    # Private names repeat from query to query (`__athena_t1`), so their texts are not shared.
    data = tmp_path / "t.parquet"
    duckdb.connect().execute(f"COPY (SELECT range AS k FROM range(3)) TO '{data}'")
    engine = DuckDbEngine(tmp_path / "engine")
    first, second = engine.session(), engine.session()
    first.register_table("private_1", parquet_source(data))
    texts = tmp_path / "s.parquet"
    duckdb.connect().execute(f"COPY (SELECT 'x' || range AS k FROM range(2)) TO '{texts}'")
    as_strings = parquet_source(texts)
    second.register_table(
        "private_1", TableSource((Column("k", "string"),), (), as_strings.format, as_strings.groups)
    )
    seen = counted_describes(second)
    sql = 'SELECT k FROM "private_1"'
    assert first.write_csv(sql, tmp_path / "one.csv").duck_types == ["BIGINT"]
    assert second.write_csv(sql, tmp_path / "two.csv").duck_types == ["VARCHAR"]
    assert len(seen) == 1
    assert (tmp_path / "two.csv").read_text() == '"k"\n"x0"\n"x1"\n'
    for session in (first, second):
        session.close()
    engine.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Without any `""` the C reader runs: every empty field is NULL.
        ('"a","b"\n"1",,"x,y"\n', [["a", "b"], ["1", None, "x,y"]]),
        ('"a"\n"multi\nline"\n,\n', [["a"], ["multi\nline"], [None, None]]),
        ('"a"\n\n"b"\n', [["a"], [None], ["b"]]),
        # With one, the exact reader: `""` is an empty string, `""` inside quotes a quote.
        ('"a","b"\n"",\n"q""uote",""\n', [["a", "b"], ["", None], ['q"uote', ""]]),
        ("", []),
    ],
)
def test_result_csv_rows_keep_nulls_apart_from_empty_strings(
    text: str, expected: list[list[str | None]]
) -> None:
    assert parse_csv(text) == expected


# -- polling: start -> poll -> results, as the benchmark drives it ----------------------------

ENDLESS = "SELECT sum(hash(i)) FROM range(100000000000) AS t(i)"


def state_of(athena: Any, query_id: str) -> str:
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    return str(execution["Status"]["State"])


def test_a_poll_on_a_running_query_is_held_at_most_briefly(athena: Any) -> None:
    query_id = start(athena, ENDLESS, database=None)
    while state_of(athena, query_id) == "QUEUED":
        pass
    begun = time.monotonic()
    assert state_of(athena, query_id) == "RUNNING"
    held = time.monotonic() - begun
    athena.stop_query_execution(QueryExecutionId=query_id)
    assert executions.HOLD_S * 0.8 <= held < 2.0


def test_a_held_poll_answers_as_soon_as_the_query_ends(
    athena: Any, server: TuleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    query_id = start(athena, ENDLESS, database=None)
    while state_of(athena, query_id) == "QUEUED":
        pass
    monkeypatch.setattr(executions, "HOLD_S", 10.0)
    # Stopped in process, so the stop does not wait for a request thread of its own.
    domain = server.app.domains["athena"]
    stopper = threading.Timer(
        0.3, domain.stop_query_execution, args=("000000000000", server.region, query_id)
    )
    begun = time.monotonic()
    stopper.start()
    state = state_of(athena, query_id)  # held: the query runs until stopped
    elapsed = time.monotonic() - begun
    stopper.join()
    assert state == "CANCELLED"
    assert elapsed < 5.0


def test_a_poll_on_a_queued_query_is_held_through_running_to_the_end(
    athena: Any, server: TuleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Answering the move to RUNNING would only cost the client another round trip.
    work = server.app.domains["athena"].executions
    started_late = work._work

    def late(*args: Any) -> None:
        time.sleep(0.3)  # the query stays QUEUED meanwhile
        started_late(*args)

    monkeypatch.setattr(work, "_work", late)
    monkeypatch.setattr(executions, "HOLD_S", 10.0)
    query_id = start(athena, "SELECT 1", database=None)
    assert state_of(athena, query_id) == "SUCCEEDED"
