"""Arrays, maps and rows in results, written as Athena writes them (Java's collection text):
`[1, 2]`, `{k=1}`, `{a=1, b=x}`, strings inside unquoted, a NULL inside `null`, nested
timestamps, doubles and varbinary as at the top level; in GetQueryResults pages and in the
result file alike."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest
from athena_helpers import LAKE, parquet_bytes, query, run

from tule.engines.duckdb_render import rendered
from tule.engines.duckdb_types import DuckType, parse_type

CASES = [
    ("ARRAY[1, 2, 3]", "[1, 2, 3]", "array"),
    ("ARRAY['a,b', 'x''y', '', NULL]", "[a,b, x'y, , null]", "array"),
    ("CAST(ARRAY[] AS ARRAY(integer))", "[]", "array"),
    ("ARRAY[CAST(NULL AS integer), NULL]", "[null, null]", "array"),
    ("MAP(ARRAY['k', 'n'], ARRAY[1, NULL])", "{k=1, n=null}", "map"),
    ("CAST(ROW(1, 'x') AS ROW(a integer, b varchar))", "{a=1, b=x}", "row"),
    ('CAST(ROW(1) AS ROW("a b" integer))', "{a b=1}", "row"),
    ("ROW(1, 'x')", "{field0=1, field1=x}", "row"),
    (
        "CAST(ROW(NULL, ARRAY[2.5e0]) AS ROW(a integer, d array(double)))",
        "{a=null, d=[2.5]}",
        "row",
    ),
    ("ARRAY[CAST(ROW(1, 'x') AS ROW(a integer, b varchar))]", "[{a=1, b=x}]", "array"),
    ("ARRAY[TIMESTAMP '2020-01-02 03:04:05.678']", "[2020-01-02 03:04:05.678]", "array"),
    ("ARRAY[1e10, 0.5e0]", "[1.0E10, 0.5]", "array"),
    ("ARRAY[from_hex('cafe')]", "[cafe]", "array"),
    ("MAP(ARRAY['m'], ARRAY[MAP(ARRAY[1], ARRAY[ARRAY[true]])])", "{m={1=[true]}}", "map"),
]


@pytest.mark.parametrize(("expression", "text", "type_name"), CASES, ids=[c[1] for c in CASES])
def test_nested_values_read_as_athena_writes_them(
    athena: Any, s3: Any, expression: str, text: str, type_name: str
) -> None:
    execution = run(athena, f"SELECT {expression} AS v, CAST(NULL AS ARRAY(integer)) AS n")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    query_id = execution["QueryExecutionId"]
    page = athena.get_query_results(QueryExecutionId=query_id)
    row = [d.get("VarCharValue") for d in page["ResultSet"]["Rows"][1]["Data"]]
    assert row == [text, None]  # a NULL column stays NULL, not `null`
    columns = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [c["Type"] for c in columns] == [type_name, "array"]
    location = execution["ResultConfiguration"]["OutputLocation"]
    bucket, _, key = location.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    quoted = text.replace('"', '""')
    assert body == f'"v","n"\n"{quoted}",\n'


def test_nested_values_of_a_table_column(athena: Any, s3: Any) -> None:

    table = pa.table(
        {
            "tags": [["a", None], None, []],
            "info": [{"city": "Rome", "zip": 100}, {"city": None, "zip": 7}, None],
        }
    )
    s3.put_object(Bucket=LAKE, Key="nested/part.parquet", Body=parquet_bytes(table))
    ddl = (
        "CREATE EXTERNAL TABLE nested_vals (tags array<string>, info struct<city:string,zip:int>) "
        f"STORED AS PARQUET LOCATION 's3://{LAKE}/nested/'"
    )
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    got = query(athena, "SELECT tags, info FROM nested_vals")
    assert got[1:] == [
        ["[a, null]", "{city=Rome, zip=100}"],
        [None, "{city=null, zip=7}"],
        ["[]", None],
    ]


TYPES = [
    ("INTEGER", DuckType("INTEGER")),
    ("DECIMAL(18,3)[]", DuckType("LIST", ((None, DuckType("DECIMAL(18,3)")),))),
    ("INTEGER[2]", DuckType("LIST", ((None, DuckType("INTEGER")),))),
    (
        'STRUCT(date DATE, "a b" INTEGER, "x,(y" VARCHAR, "q""" BIGINT)',
        DuckType(
            "STRUCT",
            (
                ("date", DuckType("DATE")),
                ("a b", DuckType("INTEGER")),
                ("x,(y", DuckType("VARCHAR")),
                ('q"', DuckType("BIGINT")),
            ),
        ),
    ),
    (
        "MAP(TUPLE(INTEGER, VARCHAR), STRUCT(t TIMESTAMP WITH TIME ZONE))[]",
        DuckType(
            "LIST",
            (
                (
                    None,
                    DuckType(
                        "MAP",
                        (
                            (
                                None,
                                DuckType(
                                    "STRUCT",
                                    ((None, DuckType("INTEGER")), (None, DuckType("VARCHAR"))),
                                ),
                            ),
                            (
                                None,
                                DuckType("STRUCT", (("t", DuckType("TIMESTAMP WITH TIME ZONE")),)),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    ),
]


@pytest.mark.parametrize(("text", "parsed"), TYPES, ids=[t for t, _ in TYPES])
def test_duckdb_type_strings_parse(text: str, parsed: DuckType) -> None:
    assert parse_type(text) == parsed


def test_a_type_described_by_duckdb_renders_in_duckdb() -> None:
    con = duckdb.connect()
    value = "{'date': DATE '2020-01-01', 'a b': [1.5, NULL], 'q\"': MAP {'k': NULL}}"
    duck_type = con.execute(f"SELECT typeof({value})").fetchone()[0]
    got = con.execute(f"SELECT {rendered(f'({value})', duck_type)}").fetchone()[0]
    assert got == '{date=2020-01-01, a b=[1.5, null], q"={k=null}}'
