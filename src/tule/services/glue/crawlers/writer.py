"""Writing a crawl's tables into the Data Catalog, as the crawler's policies say.

New tables and new partitions are always created (AWS: the SchemaChangePolicy "does not affect
whether or how new tables and partitions are added"). For a table that exists, UpdateBehavior
UPDATE_IN_DATABASE rewrites its schema, formats and statistics (keeping what the crawler does
not own: description, other parameters) and updates changed partitions; LOG leaves it as it is
and only logs. Tables this crawler made that the data no longer backs are deleted, marked
`DEPRECATED_BY_CRAWLER`, or only logged, per DeleteBehavior; with DELETE_FROM_DATABASE the
partitions whose folders are gone go as well. A new partition whose layout does not match the
table's partition keys is skipped with a log line, as Glue does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tule.errors import AwsError
from tule.services.glue.crawlers.catalog_values import without_statistics

Shape = dict[str, Any]
_BATCH = 100  # BatchCreatePartition takes at most 100 partitions
_TABLE_INPUT_KEYS = (
    "Name",
    "Description",
    "Owner",
    "LastAccessTime",
    "LastAnalyzedTime",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "ViewOriginalText",
    "ViewExpandedText",
    "TableType",
    "Parameters",
    "TargetTable",
)


class CatalogPort(Protocol):
    """The part of the Glue Data Catalog's domain API a crawl writes through."""

    def get_database(self, account: str, region: str, name: str) -> Shape: ...
    def get_tables(self, account: str, region: str, database: str) -> list[Shape]: ...
    def create_table(
        self, account: str, region: str, database: str, table_input: Shape
    ) -> None: ...
    def update_table(
        self, account: str, region: str, database: str, table_input: Shape
    ) -> None: ...
    def delete_table(self, account: str, region: str, database: str, name: str) -> None: ...
    def get_partitions(
        self, account: str, region: str, database: str, table: str
    ) -> list[Shape]: ...
    def batch_create_partition(
        self, account: str, region: str, database: str, table: str, inputs: list[Shape]
    ) -> list[Shape]: ...
    def update_partition(
        self,
        account: str,
        region: str,
        database: str,
        table: str,
        values: list[str],
        partition_input: Shape,
    ) -> None: ...
    def delete_partition(
        self, account: str, region: str, database: str, table: str, values: list[str]
    ) -> None: ...


@dataclass
class PlannedTable:
    """A table as the crawl found it: its TableInput and its PartitionInputs."""

    table_input: Shape
    partitions: list[Shape]

    @property
    def name(self) -> str:
        return str(self.table_input["Name"])


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    names: set[str] = field(default_factory=set)


def _key_names(shape: Shape) -> list[str]:
    return [k["Name"] for k in shape.get("PartitionKeys") or []]


def _comparable(shape: Shape) -> Shape:
    """What of a table or partition the crawler owns, minus data statistics."""
    bare = without_statistics(shape)
    sd = bare.get("StorageDescriptor") or {}
    return {
        "Columns": [(c["Name"], c.get("Type")) for c in sd.get("Columns") or []],
        "Location": sd.get("Location"),
        "InputFormat": sd.get("InputFormat"),
        "OutputFormat": sd.get("OutputFormat"),
        "SerdeInfo": (
            (sd.get("SerdeInfo") or {}).get("SerializationLibrary"),
            (sd.get("SerdeInfo") or {}).get("Parameters") or {},
        ),
        "SdParameters": sd.get("Parameters") or {},
        "PartitionKeys": _key_names(bare),
        "Parameters": {
            k: v for k, v in (bare.get("Parameters") or {}).items() if k != "DEPRECATED_BY_CRAWLER"
        },
    }


def _stats(shape: Shape) -> Shape:
    return (shape.get("StorageDescriptor") or {}).get("Parameters") or {}


class CatalogWriter:
    """Applies one crawl's tables to one database."""

    def __init__(
        self,
        catalog: CatalogPort,
        account: str,
        region: str,
        database: str,
        crawler: str,
        policy: Shape,
        new_folders_only: bool,
        log: Callable[[str], None],
        now: float,
    ) -> None:
        self.catalog = catalog
        self.account, self.region, self.database = account, region, database
        self.crawler = crawler
        self.update = policy.get("UpdateBehavior", "UPDATE_IN_DATABASE") == "UPDATE_IN_DATABASE"
        self.delete_behavior = policy.get("DeleteBehavior", "DEPRECATE_IN_DATABASE")
        self.new_folders_only = new_folders_only
        self.log = log
        # AWS marks a deprecated table with the time it was found gone.
        self.deprecated_at = str(int(now))
        self.counts = Counts()

    @property
    def _scope(self) -> tuple[str, str, str]:
        return self.account, self.region, self.database

    def write(self, planned: PlannedTable, existing: Shape | None) -> None:
        self.counts.names.add(planned.name)
        if existing is None:
            self.catalog.create_table(*self._scope, planned.table_input)
            self.log(f"INFO : Created table {planned.name} in database {self.database}")
            self.counts.created += 1
            self._add_partitions(planned.name, planned.partitions)
            return
        changed = False
        keys_match = _key_names(existing) == _key_names(planned.table_input)
        if self.update and not self.new_folders_only:
            new_input = self._merged_input(existing, planned.table_input)
            if _comparable(existing) != _comparable(new_input):
                changed = True
                self.catalog.update_table(*self._scope, new_input)
                self.log(
                    f"INFO : Table {planned.name} in database {self.database} "
                    "has been updated with new schema"
                )
            elif _stats(existing) != _stats(new_input):
                self.catalog.update_table(*self._scope, new_input)
            keys_match = True
        elif _comparable(existing) != _comparable(planned.table_input):
            self.log(
                f"WARN : The schema of table {planned.name} in database {self.database} changed; "
                "the table was not updated (UpdateBehavior LOG)"
            )
        changed |= self._reconcile_partitions(planned, existing, keys_match)
        if changed:
            self.counts.updated += 1

    def _merged_input(self, existing: Shape, new: Shape) -> Shape:
        """The crawler's new table, keeping what it does not own from the table as it is."""
        merged = {k: existing[k] for k in _TABLE_INPUT_KEYS if existing.get(k) is not None}
        params = {
            k: v
            for k, v in (existing.get("Parameters") or {}).items()
            if k != "DEPRECATED_BY_CRAWLER"
        }
        return merged | new | {"Parameters": params | new["Parameters"]}

    def _reconcile_partitions(
        self, planned: PlannedTable, existing: Shape, keys_match: bool
    ) -> bool:
        if not planned.partitions and not existing.get("PartitionKeys"):
            return False
        current = {
            tuple(p["Values"]): p
            for p in self.catalog.get_partitions(
                self.account, self.region, self.database, planned.name
            )
        }
        changed = False
        fresh = [p for p in planned.partitions if tuple(p["Values"]) not in current]
        if fresh and not keys_match:
            for p in fresh:
                location = p["StorageDescriptor"]["Location"]
                self.log(
                    "WARN : Folder partition keys do not match table partition keys, "
                    f"skipped folder: {location}"
                )
            fresh = []
        if fresh:
            changed |= self._add_partitions(planned.name, fresh)
        if self.update and not self.new_folders_only:
            for p in planned.partitions:
                old = current.get(tuple(p["Values"]))
                if old is None:
                    continue
                if _comparable(old) != _comparable(p) or _stats(old) != _stats(p):
                    self.catalog.update_partition(*self._scope, planned.name, list(p["Values"]), p)
                    changed |= _comparable(old) != _comparable(p)
        if self.delete_behavior == "DELETE_FROM_DATABASE" and not self.new_folders_only:
            found = {tuple(p["Values"]) for p in planned.partitions}
            for values in current:
                if values not in found:
                    self.catalog.delete_partition(*self._scope, planned.name, list(values))
                    self.log(
                        f"INFO : Deleted partition {list(values)} of table {planned.name} "
                        f"in database {self.database}"
                    )
                    changed = True
        return changed

    def _add_partitions(self, table: str, partitions: Sequence[Shape]) -> bool:
        added = False
        for start in range(0, len(partitions), _BATCH):
            batch = list(partitions[start : start + _BATCH])
            errors = self.catalog.batch_create_partition(*self._scope, table, batch)
            failed = {tuple(e.get("PartitionValues") or ()) for e in errors}
            for e in errors:
                detail = e.get("ErrorDetail") or {}
                self.log(
                    f"WARN : Partition {e.get('PartitionValues')} of table {table} "
                    f"was not created: {detail.get('ErrorMessage')}"
                )
            done = [p["Values"] for p in batch if tuple(p["Values"]) not in failed]
            if done:
                added = True
                values = ", ".join("[" + ", ".join(v) + "]" for v in done)
                self.log(
                    f"INFO : Created partitions with values [{values}] for table {table} "
                    f"in database {self.database}"
                )
        return added

    def remove_missing(self, tables: Sequence[Shape], target_locations: Sequence[str]) -> None:
        """Tables this crawler made under its targets that this crawl did not find."""
        if self.new_folders_only:
            return  # incremental crawls never notice deletions (AWS)
        for table in tables:
            name = table["Name"]
            params = table.get("Parameters") or {}
            location = (table.get("StorageDescriptor") or {}).get("Location") or ""
            if name in self.counts.names or params.get("UPDATED_BY_CRAWLER") != self.crawler:
                continue
            if not any(location.startswith(t) for t in target_locations):
                continue
            if self.delete_behavior == "DELETE_FROM_DATABASE":
                try:
                    self.catalog.delete_table(*self._scope, name)
                except AwsError as e:
                    if e.code != "EntityNotFoundException":
                        raise
                    continue
                self.log(f"INFO : Deleted table {name} in database {self.database}")
                self.counts.deleted += 1
            elif self.delete_behavior == "DEPRECATE_IN_DATABASE":
                if "DEPRECATED_BY_CRAWLER" in params:
                    continue
                table_input = {k: table[k] for k in _TABLE_INPUT_KEYS if table.get(k) is not None}
                table_input["Parameters"] = params | {"DEPRECATED_BY_CRAWLER": self.deprecated_at}
                self.catalog.update_table(*self._scope, table_input)
                self.log(
                    f"INFO : Table {name} in database {self.database} no longer has data; "
                    "marked deprecated"
                )
                self.counts.deleted += 1
            else:
                self.log(
                    f"INFO : Table {name} in database {self.database} no longer has data "
                    "(DeleteBehavior LOG)"
                )
