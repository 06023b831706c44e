"""Athena's own view of the data catalog (ListDatabases, GetTableMetadata, ...), read from Glue.

Athena knows one catalog here, `AwsDataCatalog` (type GLUE); its databases and tables are
Glue's, reshaped into Athena's `Database` and `TableMetadata`.
"""

from __future__ import annotations

import re
from typing import Any

from tule.errors import AwsError
from tule.services.athena.errors import invalid_request, resource_not_found

Shape = dict[str, Any]
DEFAULT_CATALOG = "AwsDataCatalog"


def data_catalogs() -> list[Shape]:
    return [{"CatalogName": DEFAULT_CATALOG, "Type": "GLUE", "Status": "CREATE_COMPLETE"}]


def _check_catalog(name: str) -> None:
    if name.lower() != DEFAULT_CATALOG.lower():
        raise invalid_request(f"Catalog {name} was not found", "INVALID_INPUT")


def _database(db: Shape) -> Shape:
    out: Shape = {"Name": db["Name"]}
    if db.get("Description"):
        out["Description"] = db["Description"]
    out["Parameters"] = dict(db.get("Parameters") or {})
    return out


def list_databases(glue: Any, account: str, region: str, catalog: str) -> list[Shape]:
    _check_catalog(catalog)
    return [_database(db) for db in glue.catalog.get_databases(account, region)]


def get_database(glue: Any, account: str, region: str, catalog: str, name: str) -> Shape:
    _check_catalog(catalog)
    try:
        return _database(glue.catalog.get_database(account, region, name))
    except AwsError as err:
        if err.code == "EntityNotFoundException":
            raise resource_not_found(f"Database {name} not found.") from None
        raise


def _columns(columns: list[Shape] | None) -> list[Shape]:
    return [
        {
            k: v
            for k, v in {
                "Name": c["Name"],
                "Type": c.get("Type"),
                "Comment": c.get("Comment"),
            }.items()
            if v is not None
        }
        for c in columns or []
    ]


def table_metadata(table: Shape) -> Shape:
    sd = table.get("StorageDescriptor") or {}
    serde = sd.get("SerdeInfo") or {}
    params = {
        **(table.get("Parameters") or {}),
        "inputformat": sd.get("InputFormat", ""),
        "outputformat": sd.get("OutputFormat", ""),
        "location": sd.get("Location", ""),
        "serde.serialization.lib": serde.get("SerializationLibrary", ""),
    }
    params.update({f"serde.param.{k}": v for k, v in (serde.get("Parameters") or {}).items()})
    out: Shape = {
        "Name": table["Name"],
        "TableType": table.get("TableType", "EXTERNAL_TABLE"),
        "Columns": _columns(sd.get("Columns")),
        "PartitionKeys": _columns(table.get("PartitionKeys")),
        "Parameters": params,
    }
    if table.get("CreateTime") is not None:
        out["CreateTime"] = table["CreateTime"]
    if table.get("LastAccessTime") is not None:
        out["LastAccessTime"] = table["LastAccessTime"]
    return out


def _require_database(glue: Any, account: str, region: str, database: str) -> None:
    try:
        glue.catalog.get_database(account, region, database)
    except AwsError as err:
        if err.code == "EntityNotFoundException":
            raise resource_not_found(f"Database {database} not found.") from None
        raise


def list_table_metadata(
    glue: Any, account: str, region: str, catalog: str, database: str, expression: str | None
) -> list[Shape]:
    _check_catalog(catalog)
    _require_database(glue, account, region, database)
    tables = glue.catalog.get_tables(account, region, database)
    if expression:
        regex = re.compile(expression.replace("*", ".*"), re.I)
        tables = [t for t in tables if regex.fullmatch(t["Name"])]
    return [table_metadata(t) for t in tables]


def get_table_metadata(
    glue: Any, account: str, region: str, catalog: str, database: str, name: str
) -> Shape:
    _check_catalog(catalog)
    _require_database(glue, account, region, database)
    try:
        return table_metadata(glue.catalog.get_table(account, region, database, name))
    except AwsError as err:
        if err.code == "EntityNotFoundException":
            raise resource_not_found(f"Table {name} not found.") from None
        raise
