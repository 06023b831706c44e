"""SHOW and DESCRIBE: statements that read the Glue catalog and answer rows of text.

`SHOW TABLES [IN db] ['pattern']`, `SHOW DATABASES|SCHEMAS`, `SHOW PARTITIONS`, `SHOW COLUMNS`,
`SHOW TBLPROPERTIES`, `SHOW CREATE TABLE` and `DESCRIBE` answer what Athena answers: one value
per row (DESCRIBE's name, type and comment separated by tabs), in a `.txt` result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tule.errors import AwsError
from tule.services.athena.binding import Catalogs
from tule.services.athena.errors import QueryFailed, schema_not_found
from tule.services.athena.statements import Utility, like_to_regex, unquote_name
from tule.services.athena.view_definitions import is_view, read_definition

Shape = dict[str, Any]

TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
LAZY_SIMPLE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"


@dataclass
class TextResult:
    """A DDL/utility statement's result: column names and rows of strings."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def split_name(name: str, default_database: str | None) -> tuple[str, str]:
    parts = unquote_name(name)
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return (default_database or "default"), parts[0]


def require_database(catalogs: Catalogs, database: str) -> None:
    try:
        catalogs.glue.catalog.get_database(catalogs.account, catalogs.region, database)
    except AwsError as err:
        if err.code == "EntityNotFoundException":
            raise schema_not_found("awsdatacatalog", database, 1, 1) from None
        raise


def table_named(catalogs: Catalogs, name: str) -> tuple[str, Shape]:
    database, table = split_name(name, catalogs.default_database)
    return database, catalogs.get_table(database, table)


def find_table(catalogs: Catalogs, database: str, name: str) -> Shape | None:
    """The Glue table, or None when the database has none of that name."""
    try:
        found: Shape = catalogs.glue.catalog.get_table(
            catalogs.account, catalogs.region, database, name
        )
    except AwsError as err:
        if err.code == "EntityNotFoundException":
            return None
        raise
    return found


def view_named(catalogs: Catalogs, name: str, if_exists: bool) -> tuple[str, str, Shape | None]:
    """The database, name and Glue table of the view a statement names (None: there is none
    and the statement said IF EXISTS); a missing view or a table fails as Athena words it."""
    database, view = split_name(name, catalogs.default_database)
    table = find_table(catalogs, database, view)
    if table is not None and is_view(table):
        return database, view, table
    if table is None and if_exists:
        return database, view, None
    what = "does not exist" if table is None else "is a table, not a view"
    raise QueryFailed(
        "TABLE_NOT_FOUND", f"line 1:1: View 'awsdatacatalog.{database}.{view}' {what}"
    )


def _show_tables(statement: Utility, catalogs: Catalogs) -> TextResult:
    return TextResult(["tab_name"], [[n] for n in table_names(statement, catalogs)])


def table_names(
    statement: Utility, catalogs: Catalogs, keep: Callable[[Shape], bool] = lambda _: True
) -> list[str]:
    """The sorted names of the tables `keep` accepts in the statement's database (IN db, or
    the query's), matching its LIKE pattern if any."""
    database = unquote_name(statement.name)[-1] if statement.name else None
    database = database or catalogs.default_database or "default"
    require_database(catalogs, database)
    tables = catalogs.glue.catalog.get_tables(catalogs.account, catalogs.region, database)
    names = sorted(t["Name"] for t in tables if keep(t))
    if statement.pattern:
        regex = like_to_regex(statement.pattern)
        names = [n for n in names if regex.fullmatch(n)]
    return names


def _show_views(statement: Utility, catalogs: Catalogs) -> TextResult:
    return TextResult(["views"], [[n] for n in table_names(statement, catalogs, is_view)])


def _show_databases(statement: Utility, catalogs: Catalogs) -> TextResult:
    databases = catalogs.glue.catalog.get_databases(catalogs.account, catalogs.region)
    names = sorted(d["Name"] for d in databases)
    if statement.pattern:
        regex = like_to_regex(statement.pattern)
        names = [n for n in names if regex.fullmatch(n)]
    return TextResult(["database_name"], [[n] for n in names])


def _show_partitions(statement: Utility, catalogs: Catalogs) -> TextResult:
    database, table = table_named(catalogs, statement.name or "")
    keys = [k["Name"] for k in table.get("PartitionKeys") or []]
    if not keys:
        raise QueryFailed(
            "FAILED", f"SemanticException Table {table['Name']} is not a partitioned table"
        )
    parts = catalogs.partitions(database, table["Name"])
    rows = sorted(
        "/".join(f"{k}={v}" for k, v in zip(keys, p["Values"], strict=False)) for p in parts
    )
    return TextResult(["partition"], [[r] for r in rows])


def _show_columns(statement: Utility, catalogs: Catalogs) -> TextResult:
    _database, table = table_named(catalogs, statement.name or "")
    columns = _all_columns(table)
    return TextResult(["field"], [[c["Name"]] for c in columns])


def _all_columns(table: Shape) -> list[Shape]:
    sd = table.get("StorageDescriptor") or {}
    return list(sd.get("Columns") or []) + list(table.get("PartitionKeys") or [])


def _describe(statement: Utility, catalogs: Catalogs) -> TextResult:
    _database, table = table_named(catalogs, statement.name or "")
    rows = [
        [f"{c['Name']}\t{c.get('Type', '')}\t{c.get('Comment', '')}"] for c in _all_columns(table)
    ]
    keys = table.get("PartitionKeys") or []
    if keys:
        rows += [[""], ["# Partition Information"], ["# col_name\tdata_type\tcomment"], [""]]
        rows += [[f"{k['Name']}\t{k.get('Type', '')}\t{k.get('Comment', '')}"] for k in keys]
    return TextResult(["col_name"], rows)


def _show_tblproperties(statement: Utility, catalogs: Catalogs) -> TextResult:
    _database, table = table_named(catalogs, statement.name or "")
    params = table.get("Parameters") or {}
    return TextResult(["prpt_name"], [[f"{k}\t{v}"] for k, v in sorted(params.items())])


def _show_create_table(statement: Utility, catalogs: Catalogs) -> TextResult:
    database, table = table_named(catalogs, statement.name or "")
    sd = table.get("StorageDescriptor") or {}
    serde = sd.get("SerdeInfo") or {}
    lines = [f"CREATE EXTERNAL TABLE `{database}`.`{table['Name']}`("]
    columns = sd.get("Columns") or []
    for i, c in enumerate(columns):
        lines.append(
            f"  `{c['Name']}` {c.get('Type', 'string')}{',' if i < len(columns) - 1 else ''}"
        )
    lines.append(")")
    keys = table.get("PartitionKeys") or []
    if keys:
        lines.append("PARTITIONED BY ( ")
        lines += [
            f"  `{k['Name']}` {k.get('Type', 'string')}{',' if i < len(keys) - 1 else ''}"
            for i, k in enumerate(keys)
        ]
        lines.append(")")
    lines += ["ROW FORMAT SERDE ", f"  '{serde.get('SerializationLibrary', LAZY_SIMPLE)}' "]
    params = serde.get("Parameters") or {}
    if params:
        lines.append("WITH SERDEPROPERTIES ( ")
        items = list(params.items())
        lines += [
            f"  '{k}'='{v}'{',' if i < len(items) - 1 else ')'}" for i, (k, v) in enumerate(items)
        ]
    lines += [
        "STORED AS INPUTFORMAT ",
        f"  '{sd.get('InputFormat', TEXT_INPUT)}' ",
        "OUTPUTFORMAT ",
        f"  '{sd.get('OutputFormat', TEXT_OUTPUT)}'",
        "LOCATION",
        f"  '{sd.get('Location', '')}'",
    ]
    table_params = table.get("Parameters") or {}
    if table_params:
        lines.append("TBLPROPERTIES (")
        items = sorted(table_params.items())
        lines += [
            f"  '{k}'='{v}'{',' if i < len(items) - 1 else ')'}" for i, (k, v) in enumerate(items)
        ]
    return TextResult(["createtab_stmt"], [[line] for line in lines])


def _show_create_view(statement: Utility, catalogs: Catalogs) -> TextResult:
    database, name, table = view_named(catalogs, statement.name or "", False)
    definition = read_definition(table or {}, database)
    text = f'CREATE VIEW "{database}"."{name}" AS\n{definition.sql}'
    return TextResult(["createview_stmt"], [[line] for line in text.split("\n")])


SHOW_HANDLERS = {
    "show_tables": _show_tables,
    "show_databases": _show_databases,
    "show_partitions": _show_partitions,
    "show_columns": _show_columns,
    "describe": _describe,
    "show_tblproperties": _show_tblproperties,
    "show_create_table": _show_create_table,
    "show_views": _show_views,
    "show_create_view": _show_create_view,
}
