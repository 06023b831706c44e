"""Parquet files of one schema are scanned as one; files whose schemas differ are unified by
column name, so a column a file lacks is NULL and no value is cast to another file's type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from athena_helpers import LAKE, parquet_bytes, query, run

from tule.engines.duckdb_engine import DuckDbEngine, EngineSession
from tule.engines.duckdb_sources import Column, DataFile, FileGroup, TableFormat, TableSource

COLUMNS = (Column("id", "double"), Column("v", "string"), Column("extra", "string"))


def source(paths: list[Path], columns: tuple[Column, ...] = COLUMNS) -> TableSource:
    files = tuple(DataFile(str(p), p.stat().st_size) for p in paths)
    return TableSource(columns, (), TableFormat("parquet"), (FileGroup(files),))


def write(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def view_sql(session: EngineSession, name: str) -> str:
    rows = session.fetch("SELECT sql FROM duckdb_views() WHERE view_name = ?", [name])
    return str(rows[0][0])


SAME = {
    "one file": [pa.table({"id": [1.5], "v": ["a"]})],
    "two files": [pa.table({"id": [1.5], "v": ["a"]}), pa.table({"id": [2.5], "v": ["b"]})],
}
DIFFERENT = {
    "column order": [pa.table({"id": [1.5], "v": ["a"]}), pa.table({"v": ["b"], "id": [2.5]})],
    "a type": [
        pa.table({"id": pa.array([1], pa.int64()), "v": ["a"]}),
        pa.table({"id": [2.5], "v": ["b"]}),
    ],
    "a column more": [
        pa.table({"id": [1.5], "v": ["a"]}),
        pa.table({"id": [2.5], "v": ["b"], "extra": ["x"]}),
    ],
    "a nested type": [
        pa.table({"id": [1.5], "v": ["a"], "s": [{"k": 1}]}),
        pa.table({"id": [2.5], "v": ["b"], "s": [{"k": "one"}]}),
    ],
}


@pytest.mark.parametrize(
    ("tables", "same"),
    [(t, True) for t in SAME.values()] + [(t, False) for t in DIFFERENT.values()],
    ids=[*SAME, *DIFFERENT],
)
@pytest.mark.parametrize("shared", [True, False], ids=["shared view", "private view"])
def test_files_are_unified_by_name_only_when_their_schemas_differ(
    tmp_path: Path, tables: list[pa.Table], same: bool, shared: bool
) -> None:
    paths = [write(tmp_path / f"f{i}.parquet", t) for i, t in enumerate(tables)]
    engine = DuckDbEngine(tmp_path / "engine")
    session = engine.session()
    if shared:
        name = session.scan_view(source(paths), "private")
    else:
        name = "private"
        session.register_table(name, source(paths))
    assert ("union_by_name" not in view_sql(session, name)) is same
    got = session.fetch(f'SELECT id, v FROM "{name}" ORDER BY id')
    assert got == [(1.0 if t["id"].type == pa.int64() else 1.5, "a") for t in tables[:1]] + [
        (2.5, "b") for _ in tables[1:]
    ]
    session.close()
    engine.close()


def test_writers_naming_the_root_differently_still_share_a_schema(tmp_path: Path) -> None:
    arrow_file = write(tmp_path / "a.parquet", pa.table({"id": [1.5], "v": ["a"]}))
    duck_file = tmp_path / "b.parquet"
    duckdb.connect().execute(f"COPY (SELECT 2.5::DOUBLE AS id, 'b' AS v) TO '{duck_file}'")
    roots = {
        duckdb.connect().execute(f"SELECT name FROM parquet_schema('{p}') LIMIT 1").fetchone()[0]
        for p in (arrow_file, duck_file)
    }
    assert len(roots) == 2  # the files differ in their root's name alone
    engine = DuckDbEngine(tmp_path / "engine")
    session = engine.session()
    name = session.scan_view(source([arrow_file, duck_file]), "private")
    assert "union_by_name" not in view_sql(session, name)
    assert session.fetch(f'SELECT sum(id) FROM "{name}"') == [(4.0,)]
    session.close()
    engine.close()


def test_athena_reads_files_of_differing_schemas_by_name(athena: Any, s3: Any) -> None:
    files = {
        "f1": pa.table({"id": pa.array([1], pa.int64()), "v": ["a"]}),
        "f2": pa.table({"v": ["b"], "id": pa.array([2], pa.int64())}),
        "f3": pa.table({"id": [5.5], "v": ["c"], "extra": ["x"]}),
    }
    for key, table in files.items():
        s3.put_object(Bucket=LAKE, Key=f"evolved/{key}.parquet", Body=parquet_bytes(table))
    ddl = (
        "CREATE EXTERNAL TABLE evolved (id double, v string, extra string) "
        f"STORED AS PARQUET LOCATION 's3://{LAKE}/evolved/'"
    )
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    got = query(athena, "SELECT id, v, extra FROM evolved ORDER BY id")
    assert got[1:] == [["1.0", "a", None], ["2.0", "b", None], ["5.5", "c", "x"]]


def test_athena_reads_files_of_one_schema(athena: Any, s3: Any) -> None:
    for i in range(3):
        table = pa.table({"id": [float(i), i + 0.5], "v": [f"r{i}", None]})
        s3.put_object(Bucket=LAKE, Key=f"uniform/part-{i}.parquet", Body=parquet_bytes(table))
    ddl = (
        "CREATE EXTERNAL TABLE uniform (id double, v string) "
        f"STORED AS PARQUET LOCATION 's3://{LAKE}/uniform/'"
    )
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    got = query(athena, "SELECT count(*), sum(id), count(v) FROM uniform")
    assert got[1:] == [["6", "7.5", "3"]]
