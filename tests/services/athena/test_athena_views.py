"""Athena views: CREATE [OR REPLACE] VIEW stores a Presto view in Glue, queries read it (views
over views, names resolved in the view's own database), DROP VIEW, SHOW VIEWS, SHOW CREATE
VIEW, DESCRIBE; views other tools put in Glue in the same form are read too."""

from __future__ import annotations

import base64
import json
from typing import Any

import pyarrow as pa
import pytest
from athena_helpers import LAKE, create_parquet_table, failure, parquet_bytes, query, run

from tule.engines.duckdb_types import trino_type


@pytest.fixture(scope="module")
def sales(s3: Any, glue: Any) -> str:
    table = pa.table(
        {
            "region": ["eu", "eu", "us", "us", "ap"],
            "amount": [10.0, 5.5, 7.0, 1.0, 3.0],
            "qty": pa.array([1, 2, 3, 4, 5], pa.int32()),
        }
    )
    s3.put_object(Bucket=LAKE, Key="views/sales/part.parquet", Body=parquet_bytes(table))
    create_parquet_table(
        glue,
        "v_sales",
        f"s3://{LAKE}/views/sales/",
        [("region", "string"), ("amount", "double"), ("qty", "int")],
    )
    return "v_sales"


def presto_view(sql: str, schema: str, columns: list[tuple[str, str]]) -> str:
    body = {
        "originalSql": sql,
        "catalog": "awsdatacatalog",
        "schema": schema,
        "columns": [{"name": n, "type": t} for n, t in columns],
    }
    return "/* Presto View: " + base64.b64encode(json.dumps(body).encode()).decode() + " */"


def glue_view(glue: Any, name: str, text: str, columns: list[tuple[str, str]]) -> None:
    """A view put in Glue by another tool (as Terraform's aws_glue_catalog_table does)."""
    glue.create_table(
        DatabaseName="db",
        TableInput={
            "Name": name,
            "TableType": "VIRTUAL_VIEW",
            "Parameters": {"presto_view": "true", "comment": "Presto View"},
            "ViewOriginalText": text,
            "ViewExpandedText": "/* Presto View */",
            "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t in columns]},
        },
    )


def test_a_view_is_created_in_glue_and_queried(athena: Any, glue: Any, sales: str) -> None:
    sql = (
        "CREATE VIEW by_region AS\n"
        f"SELECT region, sum(amount) AS total, array_agg(qty) AS qtys FROM {sales} GROUP BY region"
    )
    execution = run(athena, sql)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert (execution["StatementType"], execution["SubstatementType"]) == ("DDL", "CREATE_VIEW")
    got = query(athena, "SELECT region, total FROM by_region WHERE total > 4 ORDER BY region")
    assert got == [["region", "total"], ["eu", "15.5"], ["us", "8.0"]]

    table = glue.get_table(DatabaseName="db", Name="by_region")["Table"]
    assert table["TableType"] == "VIRTUAL_VIEW"
    assert table["Parameters"] == {"presto_view": "true", "comment": "Presto View"}
    assert table["ViewExpandedText"] == "/* Presto View */"
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [("region", "string"), ("total", "double"), ("qtys", "array<int>")]
    text = table["ViewOriginalText"]
    assert text.startswith("/* Presto View: ") and text.endswith(" */")
    definition = json.loads(base64.b64decode(text[len("/* Presto View: ") : -len(" */")]))
    assert definition == {
        "originalSql": sql.split(" AS\n", 1)[1],  # as written
        "catalog": "awsdatacatalog",
        "schema": "db",
        "columns": [
            {"name": "region", "type": "varchar"},
            {"name": "total", "type": "double"},
            {"name": "qtys", "type": "array(integer)"},
        ],
    }


def test_views_over_views_follow_replacements(athena: Any, sales: str) -> None:
    assert (
        run(athena, f"CREATE VIEW base_v AS SELECT qty FROM {sales} WHERE qty > 3")["Status"][
            "State"
        ]
        == "SUCCEEDED"
    )
    assert (
        run(athena, "CREATE VIEW top_v AS SELECT sum(qty) AS s FROM base_v")["Status"]["State"]
        == "SUCCEEDED"
    )
    text = "SELECT s FROM top_v"
    assert query(athena, text) == [["s"], ["9"]]
    assert query(athena, text) == [["s"], ["9"]]
    reason = failure(athena, f"CREATE VIEW base_v AS SELECT qty FROM {sales}")
    assert reason == "ALREADY_EXISTS: line 1:1: View already exists: 'awsdatacatalog.db.base_v'"
    replaced = run(athena, f"CREATE OR REPLACE VIEW base_v AS SELECT qty FROM {sales}")
    assert replaced["Status"]["State"] == "SUCCEEDED"
    assert query(athena, text) == [["s"], ["15"]]  # the same text reads the new definition
    assert run(athena, "DROP VIEW base_v")["Status"]["State"] == "SUCCEEDED"
    assert failure(athena, text).startswith("TABLE_NOT_FOUND: ")


def test_names_in_a_view_resolve_in_its_database(athena: Any, glue: Any, sales: str) -> None:
    glue.create_database(DatabaseInput={"Name": "other"})
    assert (
        run(athena, f"CREATE VIEW eu_only AS SELECT * FROM {sales} WHERE region = 'eu'")["Status"][
            "State"
        ]
        == "SUCCEEDED"
    )
    # Run from another database: `v_sales` inside the view is still db.v_sales.
    got = query(athena, "SELECT count(*) FROM db.eu_only", database="other")
    assert got == [["_col0"], ["2"]]
    direct = run(athena, f"SELECT * FROM {sales} WHERE region = 'eu'")
    through = run(athena, "SELECT * FROM eu_only")
    scanned = [e["Statistics"]["DataScannedInBytes"] for e in (direct, through)]
    assert scanned[0] > 0 and scanned[0] == scanned[1]


def test_a_view_another_tool_put_in_glue_is_read(athena: Any, glue: Any, sales: str) -> None:
    text = presto_view(
        f"SELECT region AS r, qty * 2 AS q2 FROM {sales}",
        "db",
        [("r", "varchar"), ("q2", "integer")],
    )
    glue_view(glue, "tool_view", text, [("r", "string"), ("q2", "int")])
    assert query(athena, "SELECT r, q2 FROM tool_view WHERE q2 > 8") == [["r", "q2"], ["ap", "10"]]
    assert query(athena, "SHOW CREATE VIEW tool_view") == [
        ['CREATE VIEW "db"."tool_view" AS'],
        [f"SELECT region AS r, qty * 2 AS q2 FROM {sales}"],
    ]


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        (
            "loop_view",
            presto_view("SELECT * FROM loop_view", "db", [("x", "integer")]),
            "VIEW_IS_RECURSIVE: line 1:1: View is recursive: 'awsdatacatalog.db.loop_view'",
        ),
        (
            "stale_view",
            presto_view("SELECT 1 AS a", "db", [("a", "integer"), ("b", "integer")]),
            "VIEW_IS_STALE: line 1:1: View 'awsdatacatalog.db.stale_view' is stale or in "
            "invalid state: it defines 2 columns, its query now yields 1",
        ),
        (
            "hive_view",
            "SELECT 1",
            "HIVE_VIEW_TRANSLATION_ERROR: line 1:1: Failed to translate Hive view "
            "'awsdatacatalog.db.hive_view': not a Presto view",
        ),
        (
            "broken_view",
            "/* Presto View: not-base64! */",
            "HIVE_INVALID_VIEW_DATA: line 1:1: Invalid view JSON: awsdatacatalog.db.broken_view",
        ),
    ],
)
def test_views_athena_cannot_read_fail_the_query(
    athena: Any, glue: Any, name: str, text: str, reason: str
) -> None:
    glue_view(glue, name, text, [("x", "int")])
    assert failure(athena, f"SELECT * FROM {name}") == reason


def test_view_statements_and_their_errors(athena: Any, sales: str) -> None:
    for sql in ("CREATE VIEW sv_one AS SELECT 1 AS a", "CREATE VIEW sv_two AS SELECT 2 AS b"):
        assert run(athena, sql)["Status"]["State"] == "SUCCEEDED"
    shown = run(athena, "SHOW VIEWS IN db LIKE 'sv_*'")
    assert (shown["StatementType"], shown["SubstatementType"]) == ("UTILITY", "SHOW_VIEWS")
    assert query(athena, "SHOW VIEWS LIKE 'sv_*'") == [["sv_one"], ["sv_two"]]
    assert query(athena, "DESCRIBE sv_two") == [["b\tint\t"]]
    assert failure(athena, f"CREATE OR REPLACE VIEW {sales} AS SELECT 1 AS a") == (
        f"ALREADY_EXISTS: line 1:1: Table already exists: 'awsdatacatalog.db.{sales}'"
    )
    assert failure(athena, f"DROP VIEW {sales}") == (
        f"TABLE_NOT_FOUND: line 1:1: View 'awsdatacatalog.db.{sales}' is a table, not a view"
    )
    assert failure(athena, "DROP VIEW nope") == (
        "TABLE_NOT_FOUND: line 1:1: View 'awsdatacatalog.db.nope' does not exist"
    )
    dropped = run(athena, "DROP VIEW IF EXISTS nope")
    assert (dropped["Status"]["State"], dropped["StatementType"]) == ("SUCCEEDED", "DDL")
    assert failure(athena, "CREATE VIEW bad_v AS SELECT * FROM no_such_table").startswith(
        "TABLE_NOT_FOUND: "
    )
    assert failure(athena, "CREATE VIEW bad_v AS SELECT nope FROM sv_one").startswith(
        "COLUMN_NOT_FOUND: "
    )
    assert "bad_v" not in [r[0] for r in query(athena, "SHOW VIEWS")]


@pytest.mark.parametrize(
    ("duck", "trino"),
    [
        ("INTEGER", "integer"),
        ("VARCHAR", "varchar"),
        ("DECIMAL(12,2)", "decimal(12,2)"),
        ("TIMESTAMP", "timestamp"),
        ('STRUCT(a INTEGER, "b c" VARCHAR[])', 'row(a integer, "b c" array(varchar))'),
        ("MAP(VARCHAR, DOUBLE)", "map(varchar, double)"),
        ("TUPLE(INTEGER, BOOLEAN)", "row(integer, boolean)"),
    ],
)
def test_view_columns_carry_trino_type_names(duck: str, trino: str) -> None:
    assert trino_type(duck) == trino
