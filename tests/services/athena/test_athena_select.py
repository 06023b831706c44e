"""SELECT through boto3: numbers, result pages, column metadata and the result file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from athena_helpers import LAKE, RESULTS, create_parquet_table, parquet_bytes, query, rows, run


@pytest.fixture(scope="module")
def sales(s3: Any, glue: Any) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 5000
    frame = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east", "west"], n),
            "units": rng.integers(1, 100, n),
            "price": rng.random(n) * 50,
        }
    )
    half = n // 2
    for i, part in enumerate((frame.iloc[:half], frame.iloc[half:])):
        table = pa.Table.from_pandas(part, preserve_index=False)
        s3.put_object(Bucket=LAKE, Key=f"sales/part-{i}.parquet", Body=parquet_bytes(table))
    create_parquet_table(
        glue,
        "sales",
        f"s3://{LAKE}/sales/",
        [("region", "string"), ("units", "bigint"), ("price", "double")],
    )
    return frame


def test_group_by_aggregates_equal_pandas_on_the_same_data(
    athena: Any, sales: pd.DataFrame
) -> None:
    got = query(
        athena,
        "SELECT region, count(*) AS n, sum(units) AS units, avg(price) AS price "
        "FROM sales GROUP BY region ORDER BY region",
    )
    assert got[0] == ["region", "n", "units", "price"]
    expected = sales.groupby("region").agg(
        n=("units", "size"), units=("units", "sum"), price=("price", "mean")
    )
    for region, n, units, price in got[1:]:
        assert int(n) == expected.loc[region, "n"]
        assert int(units) == expected.loc[region, "units"]
        assert float(price) == pytest.approx(expected.loc[region, "price"], rel=1e-12)
    assert len(got) == 1 + len(expected)


def test_result_over_1000_rows_pages_with_the_header_only_on_the_first_page(
    athena: Any, sales: pd.DataFrame
) -> None:
    execution = run(athena, "SELECT units, price FROM sales")
    query_id = execution["QueryExecutionId"]
    pages = list(athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id))
    assert len(pages) == 6  # 5001 rows (header included), 1000 a page
    first = [d.get("VarCharValue") for d in pages[0]["ResultSet"]["Rows"][0]["Data"]]
    assert first == ["units", "price"]
    later_firsts = [
        [d.get("VarCharValue") for d in p["ResultSet"]["Rows"][0]["Data"]] for p in pages[1:]
    ]
    assert ["units", "price"] not in later_firsts
    total = sum(
        int(p["ResultSet"]["Rows"][i]["Data"][0]["VarCharValue"])
        for p in pages
        for i in range(len(p["ResultSet"]["Rows"]))
        if not (p is pages[0] and i == 0)
    )
    assert total == int(sales["units"].sum())
    assert sum(len(p["ResultSet"]["Rows"]) for p in pages) == len(sales) + 1


def test_max_results_bounds_a_page_and_next_token_continues(
    athena: Any, sales: pd.DataFrame
) -> None:
    query_id = run(athena, "SELECT units FROM sales ORDER BY units LIMIT 25")["QueryExecutionId"]
    first = athena.get_query_results(QueryExecutionId=query_id, MaxResults=10)
    assert len(first["ResultSet"]["Rows"]) == 10
    second = athena.get_query_results(
        QueryExecutionId=query_id, MaxResults=10, NextToken=first["NextToken"]
    )
    assert len(second["ResultSet"]["Rows"]) == 10
    third = athena.get_query_results(
        QueryExecutionId=query_id, MaxResults=10, NextToken=second["NextToken"]
    )
    assert len(third["ResultSet"]["Rows"]) == 6
    assert "NextToken" not in third


def test_column_info_uses_athena_type_names_and_observed_values(athena: Any) -> None:
    query_id = run(
        athena,
        "SELECT 1 AS i, CAST(2 AS bigint) AS b, 1.5e0 AS d, 'x' AS s, true AS f, "
        "DATE '2024-01-02' AS dt, TIMESTAMP '2024-01-02 03:04:05.678' AS ts, "
        "CAST(1.25 AS decimal(10,2)) AS m, ARRAY[1, 2] AS a",
        database=None,
    )["QueryExecutionId"]
    result = athena.get_query_results(QueryExecutionId=query_id)
    info = {c["Name"]: c for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]}
    assert {n: c["Type"] for n, c in info.items()} == {
        "i": "integer",
        "b": "bigint",
        "d": "double",
        "s": "varchar",
        "f": "boolean",
        "dt": "date",
        "ts": "timestamp",
        "m": "decimal",
        "a": "array",
    }
    assert info["s"]["Precision"] == 2147483647 and info["s"]["CaseSensitive"] is True
    assert info["i"]["Precision"] == 10 and info["b"]["Precision"] == 19
    assert (info["m"]["Precision"], info["m"]["Scale"]) == (10, 2)
    assert all(c["CatalogName"] == "hive" and c["Nullable"] == "UNKNOWN" for c in info.values())
    values = [d.get("VarCharValue") for d in result["ResultSet"]["Rows"][1]["Data"]]
    assert values == [
        "1",
        "2",
        "1.5",
        "x",
        "true",
        "2024-01-02",
        "2024-01-02 03:04:05.678",
        "1.25",
        "[1, 2]",
    ]


def test_null_is_a_datum_without_value_and_empty_string_is_kept(athena: Any) -> None:
    query_id = run(athena, "SELECT NULL AS n, '' AS e, 'a' AS s", database=None)["QueryExecutionId"]
    data = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"][1]["Data"]
    assert data == [{}, {"VarCharValue": ""}, {"VarCharValue": "a"}]


def test_result_csv_in_s3_quotes_every_field_and_leaves_null_empty(athena: Any, s3: Any) -> None:
    execution = run(athena, "SELECT 'a\"b' AS q, NULL AS n, 3 AS i", database=None)
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"{RESULTS}{execution['QueryExecutionId']}.csv"
    key = location.split("/", 3)[3]
    body = s3.get_object(Bucket="athena-results", Key=key)["Body"].read().decode()
    assert body == '"q","n","i"\n"a""b",,"3"\n'
    s3.head_object(Bucket="athena-results", Key=key + ".metadata")


def test_unnamed_columns_are_named_like_trino(athena: Any) -> None:
    got = query(athena, "SELECT 1 + 1, upper('a') AS u, 3", database=None)
    assert got[0] == ["_col0", "u", "_col2"]


def test_statistics_report_times_and_scanned_bytes(
    athena: Any, sales: pd.DataFrame, s3: Any
) -> None:
    execution = run(athena, "SELECT count(*) FROM sales")
    stats = execution["Statistics"]
    sizes = sum(o["Size"] for o in s3.list_objects_v2(Bucket=LAKE, Prefix="sales/")["Contents"])
    assert stats["DataScannedInBytes"] == sizes
    assert stats["TotalExecutionTimeInMillis"] >= stats["EngineExecutionTimeInMillis"] >= 0
    assert execution["StatementType"] == "DML"
    assert rows(athena, execution["QueryExecutionId"])[1] == [str(len(sales))]


def test_null_and_the_text_null_come_back_apart_in_result_pages(athena: Any) -> None:
    got = query(athena, "SELECT 'null' AS a, CAST(NULL AS varchar) AS b, '' AS c", None)
    assert got == [["a", "b", "c"], ["null", None, ""]]
