"""The catalog's AWS shapes: `Database`, `Table` and `Partition` built from their `*Input`s.

Glue copies the members of an input it knows onto the stored entity, lower-cases database and
table names (for Hive compatibility) and adds what the service owns: creation and update times,
`CatalogId` (the account), `CreatedBy`, `VersionId`. Members an input lacks stay absent, as in
GetTable's answers, except the few Glue always fills (`Parameters`, `PartitionKeys`,
`Retention`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tule.ids import arn

Shape = dict[str, Any]

# Lake Formation's backward-compatible default: new tables are open to IAM principals.
DEFAULT_TABLE_PERMISSIONS: list[Shape] = [
    {"Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"}, "Permissions": ["ALL"]}
]

_DATABASE_MEMBERS = ("Description", "LocationUri", "TargetDatabase", "FederatedDatabase")
_TABLE_MEMBERS = (
    "Description",
    "Owner",
    "LastAccessTime",
    "LastAnalyzedTime",
    "StorageDescriptor",
    "ViewOriginalText",
    "ViewExpandedText",
    "TableType",
    "TargetTable",
    "FederatedTable",
)
_PARTITION_MEMBERS = ("LastAccessTime", "StorageDescriptor", "LastAnalyzedTime")


def catalog_name(name: str) -> str:
    """A database or table name as Glue stores it."""
    return name.lower()


def created_by(account: str) -> str:
    """Who created an entity: tule has no IAM identities, so the account's root."""
    return f"arn:aws:iam::{account}:root"


def database_arn(account: str, region: str, name: str) -> str:
    return arn("glue", region, account, f"database/{name}")


def table_arn(account: str, region: str, database: str, name: str) -> str:
    return arn("glue", region, account, f"table/{database}/{name}")


def _copy(source: Shape, members: tuple[str, ...]) -> Shape:
    return {m: source[m] for m in members if source.get(m) is not None}


def new_database(account: str, database_input: Shape, now: datetime) -> Shape:
    permissions = database_input.get("CreateTableDefaultPermissions")
    return {
        "Name": catalog_name(database_input["Name"]),
        **_copy(database_input, _DATABASE_MEMBERS),
        "Parameters": dict(database_input.get("Parameters") or {}),
        "CreateTime": now,
        "CreateTableDefaultPermissions": (
            DEFAULT_TABLE_PERMISSIONS if permissions is None else permissions
        ),
        "CatalogId": account,
    }


def updated_database(current: Shape, database_input: Shape) -> Shape:
    """UpdateDatabase replaces the definition; the name, creation time and catalog stay."""
    permissions = database_input.get("CreateTableDefaultPermissions")
    return {
        "Name": current["Name"],
        **_copy(database_input, _DATABASE_MEMBERS),
        "Parameters": dict(database_input.get("Parameters") or {}),
        "CreateTime": current["CreateTime"],
        "CreateTableDefaultPermissions": (
            current.get("CreateTableDefaultPermissions") if permissions is None else permissions
        ),
        "CatalogId": current["CatalogId"],
    }


def new_table(
    account: str,
    database: str,
    table_input: Shape,
    now: datetime,
    *,
    version: int = 0,
    created: Shape | None = None,
) -> Shape:
    """The Table a TableInput describes; `created` is the version it replaces, if any."""
    table: Shape = {
        "Name": catalog_name(table_input["Name"]),
        "DatabaseName": database,
        **_copy(table_input, _TABLE_MEMBERS),
        "CreateTime": now if created is None else created["CreateTime"],
        "UpdateTime": now,
        "Retention": table_input.get("Retention") or 0,
        "PartitionKeys": list(table_input.get("PartitionKeys") or []),
        "Parameters": dict(table_input.get("Parameters") or {}),
        "CreatedBy": created_by(account) if created is None else created["CreatedBy"],
        "IsRegisteredWithLakeFormation": False,
        "CatalogId": account,
        # Glue numbers a table's versions from "0" (a new table's GetTable shows VersionId "0").
        "VersionId": str(version),
    }
    return table


def partition_keys(table: Shape) -> list[tuple[str, str | None]]:
    """The table's partition keys as (name, type), in order."""
    return [(key["Name"], key.get("Type")) for key in table.get("PartitionKeys") or []]


def new_partition(
    account: str, table: Shape, partition_input: Shape, now: datetime, created: Shape | None = None
) -> Shape:
    return {
        "Values": list(partition_input.get("Values") or []),
        "DatabaseName": table["DatabaseName"],
        "TableName": table["Name"],
        "CreationTime": now if created is None else created["CreationTime"],
        **_copy(partition_input, _PARTITION_MEMBERS),
        "Parameters": dict(partition_input.get("Parameters") or {}),
        "CatalogId": account,
    }


def without_column_schema(partition: Shape) -> Shape:
    """GetPartitions' ExcludeColumnSchema: the partition minus its storage descriptor's columns."""
    descriptor = partition.get("StorageDescriptor")
    if not descriptor or "Columns" not in descriptor:
        return partition
    trimmed = {k: v for k, v in descriptor.items() if k != "Columns"}
    return partition | {"StorageDescriptor": trimmed}
