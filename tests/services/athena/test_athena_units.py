"""Pure logic: type names, result-file parsing, statement recognition, partition pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tule.engines.duckdb_engine import DuckDbEngine
from tule.engines.duckdb_sources import Column
from tule.engines.duckdb_types import HiveTypeError, duckdb_type, hive_type_for, trino_column
from tule.services.athena import dialect
from tule.services.athena.binding import prune
from tule.services.athena.results import parse_csv
from tule.services.athena.statements import like_to_regex, recognise


@pytest.mark.parametrize(
    ("hive", "duck"),
    [
        ("string", "VARCHAR"),
        ("int", "INTEGER"),
        ("bigint", "BIGINT"),
        ("float", "FLOAT"),
        ("decimal(10,2)", "DECIMAL(10,2)"),
        ("array<string>", "VARCHAR[]"),
        ("map<string,int>", "MAP(VARCHAR, INTEGER)"),
        ("struct<a:int,b:array<string>>", 'STRUCT("a" INTEGER, "b" VARCHAR[])'),
        ("ARRAY<STRUCT<x: INT>>", 'STRUCT("x" INTEGER)[]'),
    ],
)
def test_hive_types_map_to_duckdb_types(hive: str, duck: str) -> None:
    assert duckdb_type(hive) == duck


def test_unknown_hive_type_is_rejected() -> None:
    with pytest.raises(HiveTypeError):
        duckdb_type("wibble")


def test_duckdb_types_map_back_to_hive_and_to_trino_names() -> None:
    assert hive_type_for("STRUCT(a INTEGER, b VARCHAR[])") == "struct<a:int,b:array<string>>"
    assert hive_type_for("MAP(VARCHAR, BIGINT)") == "map<string,bigint>"
    assert trino_column("c", "DECIMAL(12,3)").precision == 12
    assert trino_column("c", "INTEGER[]").type == "array"
    assert trino_column("c", "STRUCT(a INTEGER)").type == "row"
    assert trino_column("c", "FLOAT").type == "real"


def test_result_csv_parsing_tells_null_from_empty_and_keeps_newlines() -> None:
    text = '"a","b","c"\n"x""y",,""\n"multi\nline","2",\n'
    assert parse_csv(text) == [["a", "b", "c"], ['x"y', None, ""], ["multi\nline", "2", None]]


def test_utility_statements_are_recognised() -> None:
    add = recognise(
        "ALTER TABLE db.t ADD IF NOT EXISTS PARTITION (y='2024', m=1) LOCATION 's3://b/p/'"
    )
    assert add is not None and add.kind == "add_partition" and add.if_exists
    assert add.partitions == [({"y": "2024", "m": "1"}, "s3://b/p/")]
    assert recognise("msck repair table `db`.`t`;").kind == "msck_repair"  # type: ignore[union-attr]
    shown = recognise("SHOW TABLES IN db LIKE 'a*'")
    assert shown is not None and (shown.name, shown.pattern) == ("db", "a*")
    assert recognise("SELECT 1") is None
    assert like_to_regex("a*|b").fullmatch("b") and not like_to_regex("a*").fullmatch("ba")


def test_pruning_keeps_partitions_whose_typed_values_satisfy_the_predicates(tmp_path: Path) -> None:
    engine = DuckDbEngine(tmp_path)
    session = engine.session()
    keys = (Column("year", "int"), Column("region", "string"))
    parts = [{"Values": [y, r]} for y in ("2022", "2023", "2024") for r in ("eu", "us")]
    tree = dialect.parse("SELECT 1 FROM t WHERE year >= 2023 AND region LIKE 'e%'")
    predicates = [c for c in tree.args["where"].this.flatten()]
    kept = prune(session, keys, parts, predicates)
    assert [p["Values"] for p in kept] == [["2023", "eu"], ["2024", "eu"]]
    session.close()
    engine.close()


def test_parse_errors_carry_line_and_column() -> None:
    with pytest.raises(Exception) as err:
        dialect.parse("SELECT a FROM t WHERE")
    assert str(err.value).startswith("SYNTAX_ERROR: line 1:")
