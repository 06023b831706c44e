"""Athena views as the Glue Data Catalog holds them (Trino's "Presto View" form).

A view is a Glue table of type `VIRTUAL_VIEW` with the parameters `presto_view=true` and
`comment=Presto View`, its columns in the StorageDescriptor (Hive types), and its definition in
`ViewOriginalText` as `/* Presto View: <base64 of JSON> */`: the JSON holds `originalSql`, the
`catalog` and `schema` its unqualified names resolve in, and `columns` (name and Trino type).
`ViewExpandedText` is `/* Presto View */`. Views made by other tools (Terraform, CDK, the Glue
API) in this form are read the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from tule.engines.duckdb_types import hive_type_for, trino_type
from tule.services.athena.errors import QueryFailed

Shape = dict[str, Any]

PREFIX = "/* Presto View: "
SUFFIX = " */"
EXPANDED = "/* Presto View */"


@dataclass(frozen=True)
class ViewDefinition:
    """A view's SQL, the database its unqualified names resolve in, and its columns
    (name, Trino type)."""

    sql: str
    schema: str
    columns: tuple[tuple[str, str], ...]


def is_view(table: Shape) -> bool:
    return (table.get("TableType") or "").upper() == "VIRTUAL_VIEW"


def read_definition(table: Shape, database: str) -> ViewDefinition:
    """The definition of a view table; a view Athena cannot read fails the query."""
    text = (table.get("ViewOriginalText") or "").strip()
    name = f"awsdatacatalog.{database}.{table.get('Name', '')}"
    if not (text.startswith(PREFIX.strip()) and text.endswith(SUFFIX.strip())):
        raise QueryFailed(
            "HIVE_VIEW_TRANSLATION_ERROR",
            f"line 1:1: Failed to translate Hive view '{name}': not a Presto view",
        )
    try:
        body = text[len(PREFIX.strip()) : -len(SUFFIX.strip())].strip()
        data = json.loads(base64.b64decode(body, validate=True))
        sql = str(data["originalSql"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise QueryFailed(
            "HIVE_INVALID_VIEW_DATA", f"line 1:1: Invalid view JSON: {name}"
        ) from None
    columns = tuple(
        (str(c.get("name", "")), str(c.get("type", ""))) for c in data.get("columns") or []
    )
    return ViewDefinition(sql, str(data.get("schema") or database), columns)


def view_table_input(name: str, sql: str, database: str, described: list[tuple[str, str]]) -> Shape:
    """The Glue TableInput of a view over `sql`, whose result columns DuckDB `described`."""
    columns = [(column.lower(), duck_type) for column, duck_type in described]
    definition = {
        "originalSql": sql,
        "catalog": "awsdatacatalog",
        "schema": database,
        "columns": [{"name": c, "type": trino_type(t)} for c, t in columns],
    }
    encoded = base64.b64encode(json.dumps(definition).encode()).decode()
    return {
        "Name": name,
        "TableType": "VIRTUAL_VIEW",
        "Parameters": {"presto_view": "true", "comment": "Presto View"},
        "ViewOriginalText": f"{PREFIX}{encoded}{SUFFIX}",
        "ViewExpandedText": EXPANDED,
        "StorageDescriptor": {
            "Columns": [{"Name": c, "Type": hive_type_for(t)} for c, t in columns],
            "SerdeInfo": {},
        },
        "PartitionKeys": [],
    }
