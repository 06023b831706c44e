"""A repeated SELECT text is parsed and translated once, and still sees every change."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from athena_helpers import LAKE, create_parquet_table, failure, parquet_bytes, query, run
from sqlglot import exp

from tule.services.athena import runner
from tule.services.athena.select_cache import (
    MAX_RESOLUTIONS,
    MAX_TRANSLATIONS,
    Resolution,
    SelectCache,
)


class Calls:
    """Counts the runner's parses and translations."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parses = 0
        self.translations = 0
        parse, to_duckdb = runner.dialect.parse, runner.dialect.to_duckdb

        def counted_parse(sql: str) -> exp.Expression:
            self.parses += 1
            return parse(sql)

        def counted_to_duckdb(tree: exp.Expression, *, copy: bool = True) -> str:
            self.translations += 1
            return to_duckdb(tree, copy=copy)

        monkeypatch.setattr(runner.dialect, "parse", counted_parse)
        monkeypatch.setattr(runner.dialect, "to_duckdb", counted_to_duckdb)


def _put(s3: Any, key: str, values: list[int]) -> None:
    s3.put_object(Bucket=LAKE, Key=key, Body=parquet_bytes(pa.table({"v": values})))


def test_a_repeated_select_is_parsed_and_translated_once(
    athena: Any, s3: Any, glue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(s3, "cache_once/a.parquet", [1, 2, 3])
    create_parquet_table(glue, "cache_once", f"s3://{LAKE}/cache_once/", [("v", "bigint")])
    calls = Calls(monkeypatch)
    sql = "SELECT sum(v) AS s, count(*) AS n FROM cache_once"
    answers = [query(athena, sql) for _ in range(3)]
    assert answers == [[["s", "n"], ["6", "3"]]] * 3
    assert (calls.parses, calls.translations) == (1, 1)


def test_new_files_under_the_table_are_read_by_the_repeated_text(
    athena: Any, s3: Any, glue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(s3, "cache_files/a.parquet", [1, 2])
    create_parquet_table(glue, "cache_files", f"s3://{LAKE}/cache_files/", [("v", "bigint")])
    calls = Calls(monkeypatch)
    sql = "SELECT sum(v) FROM cache_files"
    assert query(athena, sql)[1] == ["3"]
    _put(s3, "cache_files/b.parquet", [10])
    assert query(athena, sql)[1] == ["13"]
    _put(s3, "cache_files/a.parquet", [100])  # overwritten in place
    assert query(athena, sql)[1] == ["110"]
    s3.delete_object(Bucket=LAKE, Key="cache_files/b.parquet")
    assert query(athena, sql)[1] == ["100"]
    # One parse; a fresh translation each time the files changed.
    assert (calls.parses, calls.translations) == (1, 4)


def test_a_changed_table_definition_is_seen_by_the_repeated_text(
    athena: Any, s3: Any, glue: Any
) -> None:
    s3.put_object(
        Bucket=LAKE,
        Key="cache_def/a.parquet",
        Body=parquet_bytes(pa.table({"v": [1, 2], "w": ["x", "y"]})),
    )
    create_parquet_table(glue, "cache_def", f"s3://{LAKE}/cache_def/", [("v", "bigint")])
    sql = "SELECT * FROM cache_def ORDER BY v"
    assert query(athena, sql) == [["v"], ["1"], ["2"]]
    table = glue.get_table(DatabaseName="db", Name="cache_def")["Table"]
    descriptor = table["StorageDescriptor"]
    descriptor["Columns"].append({"Name": "w", "Type": "string"})
    glue.update_table(
        DatabaseName="db",
        TableInput={
            "Name": "cache_def",
            "TableType": table["TableType"],
            "StorageDescriptor": descriptor,
            "Parameters": table.get("Parameters", {}),
        },
    )
    assert query(athena, sql) == [["v", "w"], ["1", "x"], ["2", "y"]]


def test_the_same_text_in_two_databases_reads_each_ones_table(
    athena: Any, s3: Any, glue: Any
) -> None:
    glue.create_database(DatabaseInput={"Name": "cache_other"})
    _put(s3, "cache_db1/a.parquet", [1])
    _put(s3, "cache_db2/a.parquet", [2])
    create_parquet_table(glue, "cache_t", f"s3://{LAKE}/cache_db1/", [("v", "bigint")])
    create_parquet_table(
        glue, "cache_t", f"s3://{LAKE}/cache_db2/", [("v", "bigint")], database="cache_other"
    )
    sql = "SELECT v FROM cache_t"
    for _ in range(2):
        assert query(athena, sql, database="db")[1] == ["1"]
        assert query(athena, sql, database="cache_other")[1] == ["2"]


def test_a_dropped_table_fails_the_repeated_text_where_the_name_stands(
    athena: Any, s3: Any, glue: Any
) -> None:
    _put(s3, "cache_drop/a.parquet", [1])
    create_parquet_table(glue, "cache_drop", f"s3://{LAKE}/cache_drop/", [("v", "bigint")])
    sql = "SELECT v\nFROM   cache_drop"
    assert query(athena, sql)[1] == ["1"]
    glue.delete_table(DatabaseName="db", Name="cache_drop")
    assert failure(athena, sql) == (
        "TABLE_NOT_FOUND: line 2:8: Table 'awsdatacatalog.db.cache_drop' does not exist"
    )


def test_parameterised_texts_are_bound_afresh_each_time(
    athena: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    for value in ("2", "5", "2"):
        execution = run(athena, "SELECT ? * 10 AS x", database=None, ExecutionParameters=[value])
        assert execution["Status"]["State"] == "SUCCEEDED"
        result = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
        assert result["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"] == str(int(value) * 10)
    assert (calls.parses, calls.translations) == (3, 3)


def test_a_kept_tree_is_never_changed_by_binding_or_translation(
    athena: Any, s3: Any, glue: Any, server: Any
) -> None:
    _put(s3, "cache_pure/a.parquet", [4])
    create_parquet_table(glue, "cache_pure", f"s3://{LAKE}/cache_pure/", [("v", "bigint")])
    sql = "SELECT v + 1 FROM cache_pure AS t WHERE t.v > 0"
    for _ in range(2):
        assert query(athena, sql)[1] == ["5"]
    cache = server.app.domains["athena"].executions.runner.selects
    kept = cache.tree(sql)
    assert kept is not None
    assert kept.sql(dialect="athena") == runner.dialect.parse(sql).sql(dialect="athena")


def _found(*views: str) -> Resolution:
    return Resolution(views, 0, (), ())


def test_the_cache_keeps_the_most_recent_texts_translations_and_resolutions() -> None:
    cache = SelectCache(max_texts=2)
    trees = {n: exp.select(n) for n in ("a", "b", "c")}
    for name, tree in trees.items():
        cache.remember(f"SELECT {name}", tree, f"duck {name}", ("w",), _found("v1"))
    assert cache.tree("SELECT a") is None
    assert cache.tree("SELECT b") is trees["b"]
    assert cache.translation("SELECT c", ("v1",)) == "duck c"
    assert cache.resolution("SELECT c", ("w",)) == _found("v1")
    for i in range(MAX_TRANSLATIONS + 1):
        cache.remember("SELECT c", trees["c"], f"duck c{i}", ("w", i), _found(f"v{i + 2}"))
    assert cache.translation("SELECT c", ("v1",)) is None
    assert cache.translation("SELECT c", (f"v{MAX_TRANSLATIONS + 2}",)) == (
        f"duck c{MAX_TRANSLATIONS}"
    )
    assert cache.resolution("SELECT c", ("w",)) is None  # only the newest MAX_RESOLUTIONS
    kept = [cache.resolution("SELECT c", ("w", i)) for i in range(MAX_TRANSLATIONS + 1)]
    assert sum(r is not None for r in kept) == MAX_RESOLUTIONS


class Bindings:
    """Counts the runner's bindings of catalog tables."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = runner.resolve_tables

        def counted(*args: Any) -> list[str]:
            self.count += 1
            return real(*args)

        monkeypatch.setattr(runner, "resolve_tables", counted)


def test_a_repeated_select_binds_again_only_after_a_write(
    athena: Any, s3: Any, glue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(s3, "cache_bind/a.parquet", [5])
    create_parquet_table(glue, "cache_bind", f"s3://{LAKE}/cache_bind/", [("v", "bigint")])
    bindings = Bindings(monkeypatch)
    sql = "SELECT v * 2 FROM cache_bind"
    for _ in range(3):  # each also writes its result, to another bucket
        assert query(athena, sql)[1] == ["10"]
    assert bindings.count == 1
    s3.create_bucket(Bucket="cache-other")
    s3.put_object(Bucket="cache-other", Key="a.txt", Body=b"x")  # another bucket: no matter
    assert query(athena, sql)[1] == ["10"]
    assert bindings.count == 1
    s3.put_object(Bucket=LAKE, Key="elsewhere/unrelated.txt", Body=b"x")  # the table's bucket
    assert query(athena, sql)[1] == ["10"]
    assert bindings.count == 2
    glue.tag_resource(ResourceArn=_table_arn(glue, "cache_bind"), TagsToAdd={"k": "v"})
    assert query(athena, sql)[1] == ["10"]
    assert query(athena, sql)[1] == ["10"]
    assert bindings.count == 3


def _table_arn(glue: Any, name: str) -> str:
    account = "000000000000"
    region = glue.meta.region_name
    return f"arn:aws:glue:{region}:{account}:table/db/{name}"


@pytest.mark.parametrize("lost", ["views", "copies"])
def test_a_kept_binding_whose_views_or_copies_went_is_bound_again(
    athena: Any, s3: Any, glue: Any, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    from tule.engines.duckdb_shared import SharedViews
    from tule.services.athena.copies import ObjectCopies

    # A small object: S3 keeps it inline, so the query reads a copy of it.
    _put(s3, f"cache_lost_{lost}/a.parquet", [7])
    create_parquet_table(
        glue, f"cache_lost_{lost}", f"s3://{LAKE}/cache_lost_{lost}/", [("v", "bigint")]
    )
    sql = f"SELECT v FROM cache_lost_{lost}"
    assert query(athena, sql)[1] == ["7"]
    bindings = Bindings(monkeypatch)
    owner = SharedViews if lost == "views" else ObjectCopies
    monkeypatch.setattr(owner, "keep", lambda self, names: False)
    assert query(athena, sql)[1] == ["7"]
    assert bindings.count == 1


def test_execute_runs_the_prepared_statement_as_it_now_stands(
    athena: Any, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    athena.create_prepared_statement(
        StatementName="cache_stmt", WorkGroup="primary", QueryStatement="SELECT 1 AS x"
    )
    assert query(athena, "EXECUTE cache_stmt", None) == [["x"], ["1"]]
    athena.update_prepared_statement(
        StatementName="cache_stmt", WorkGroup="primary", QueryStatement="SELECT 2 AS x"
    )
    assert query(athena, "EXECUTE cache_stmt", None) == [["x"], ["2"]]
    cache = server.app.domains["athena"].executions.runner.selects
    assert cache.tree("EXECUTE cache_stmt") is None  # kept only under a SELECT's own text


def test_shared_views_keep_answers_for_views_still_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tule.engines import duckdb_shared

    monkeypatch.setattr(duckdb_shared, "MAX_VIEWS", 2)
    shared, dropped = duckdb_shared.SharedViews(), []
    first = shared.view("SELECT 1", lambda name: None, dropped.append)
    second = shared.view("SELECT 2", lambda name: None, dropped.append)
    assert shared.keep([first, second])
    assert shared.keep([first])  # now the most recent: the next view evicts `second`
    third = shared.view("SELECT 3", lambda name: None, dropped.append)
    assert dropped == [second]
    assert shared.keep([first, third]) and not shared.keep([second])
    assert not shared.keep(["__tule_scan_unknown"])
