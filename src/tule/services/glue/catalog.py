"""The Data Catalog: databases, tables and their versions, durable in a MetadataStore.

Every write runs under one lock, so a check and the write it guards (the table exists, the
partition does not) are one step against every other writer: concurrent creates store an entity
once, and nothing lands in a table being deleted. Reads take no lock. Each write is one atomic
commit of the store (a table with its first version, a database with all it holds), so a crash
leaves either the old catalog or the new one. Partitions live in `partitions.py`; this class
hands their calls through so other services see one API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from tule.clock import Clock
from tule.errors import AwsError
from tule.metadata import MetadataStore
from tule.metadata.base import Delete, Put
from tule.services.glue import records
from tule.services.glue.errors import (
    concurrent_modification,
    database_exists,
    database_not_found,
    error_detail,
    invalid_input,
    table_exists,
    table_not_found,
    version_not_found,
)
from tule.services.glue.partitions import PartitionCatalog, Segment
from tule.services.glue.search import SearchRequest, name_matcher, search_tables
from tule.services.glue.shapes import (
    Shape,
    catalog_name,
    database_arn,
    new_database,
    new_table,
    table_arn,
    updated_database,
)
from tule.services.glue.tags import TagStore

DEFAULT_PAGE = 100


class Catalog:
    """The Glue Data Catalog of every (account, region); see the package docstring for the API."""

    def __init__(self, store: MetadataStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.lock = threading.Lock()
        self.tags = TagStore(store, self.lock)
        self.partitions = PartitionCatalog(store, clock, self.lock, self.get_table)

    # Helpers

    def keys(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        while True:
            page = self.store.list_keys(prefix, start_after=start_after, limit=1000)
            yield from page
            if len(page) < 1000:
                return
            start_after = page[-1]

    def records(
        self, prefix: str, start_after: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        while True:
            page = self.store.list(prefix, start_after=start_after, limit=1000)
            yield from page.items
            if page.next_after is None:
                return
            start_after = page.next_after

    def _drop(self, *prefixes: str) -> list[Put | Delete]:
        return [Delete(key) for prefix in prefixes for key in self.keys(prefix)]

    # Databases

    def create_database(
        self, account: str, region: str, database_input: Shape, tags: dict[str, str] | None = None
    ) -> None:
        database = new_database(account, database_input, self.clock.now())
        key = records.database_key(account, region, database["Name"])
        tags_key = records.tags_key(database_arn(account, region, database["Name"]))
        # Tags a tagger left on an earlier database of this name are not this one's.
        tagging: Put | Delete = Put(tags_key, dict(tags)) if tags else Delete(tags_key)
        ops: list[Put | Delete] = [Put(key, records.encode(database)), tagging]
        with self.lock:
            if self.store.get(key) is not None:
                raise database_exists()
            self.store.batch(ops)

    def get_database(self, account: str, region: str, name: str) -> Shape:
        record = self.store.get(records.database_key(account, region, catalog_name(name)))
        if record is None:
            raise database_not_found(name)
        return records.decode(record)

    def get_databases(self, account: str, region: str) -> list[Shape]:
        prefix = records.databases_prefix(account, region)
        return [records.decode(record) for _, record in self.records(prefix)]

    def get_databases_page(
        self, account: str, region: str, max_results: int | None, token: str | None
    ) -> tuple[list[Shape], str | None]:
        prefix = records.databases_prefix(account, region)
        return self._page(prefix, max_results, token)

    def update_database(self, account: str, region: str, name: str, database_input: Shape) -> None:
        key = records.database_key(account, region, catalog_name(name))
        with self.lock:
            record = self.store.get(key)
            if record is None:
                raise database_not_found(name)
            database = updated_database(records.decode(record), database_input)
            self.store.put(key, records.encode(database))

    def delete_database(self, account: str, region: str, name: str) -> None:
        """Drop the database with its tables, their versions, partitions and tags."""
        database = catalog_name(name)
        key = records.database_key(account, region, database)
        with self.lock:
            if self.store.get(key) is None:
                raise database_not_found(name)
            tables = [
                k.rsplit(records.SEP, 1)[1]
                for k in self.keys(records.tables_prefix(account, region, database))
            ]
            ops = self._drop(
                records.tables_prefix(account, region, database),
                records.scoped_prefix("version", account, region, database),
                records.scoped_prefix("partition", account, region, database),
            )
            tag_keys = [records.tags_key(database_arn(account, region, database))]
            tag_keys += [records.tags_key(table_arn(account, region, database, t)) for t in tables]
            ops += [Delete(k) for k in tag_keys]
            ops.append(Delete(key))
            self.store.batch(ops)

    def require_database(self, account: str, region: str, name: str) -> str:
        """The stored name of database `name`; EntityNotFoundException if there is none."""
        database = catalog_name(name)
        if self.store.get(records.database_key(account, region, database)) is None:
            raise database_not_found(name)
        return database

    # Tables

    def create_table(self, account: str, region: str, database: str, table_input: Shape) -> None:
        with self.lock:
            db = self.require_database(account, region, database)
            table = new_table(account, db, table_input, self.clock.now())
            key = records.table_key(account, region, db, table["Name"])
            if self.store.get(key) is not None:
                raise table_exists()
            version = records.version_key(account, region, db, table["Name"], 0)
            encoded = records.encode(table)
            tags = records.tags_key(table_arn(account, region, db, table["Name"]))
            self.store.batch([Put(key, encoded), Put(version, encoded), Delete(tags)])

    def get_table(self, account: str, region: str, database: str, name: str) -> Shape:
        db = self.require_database(account, region, database)
        record = self.store.get(records.table_key(account, region, db, catalog_name(name)))
        if record is None:
            raise table_not_found(name)
        return records.decode(record)

    def get_tables(
        self, account: str, region: str, database: str, expression: str | None = None
    ) -> list[Shape]:
        db = self.require_database(account, region, database)
        matches = name_matcher(expression)
        prefix = records.tables_prefix(account, region, db)
        tables = (records.decode(record) for _, record in self.records(prefix))
        return [t for t in tables if matches(t["Name"])]

    def get_tables_page(
        self,
        account: str,
        region: str,
        database: str,
        expression: str | None,
        max_results: int | None,
        token: str | None,
    ) -> tuple[list[Shape], str | None]:
        db = self.require_database(account, region, database)
        matches = name_matcher(expression)
        prefix = records.tables_prefix(account, region, db)
        return self._page(prefix, max_results, token, lambda t: matches(t["Name"]))

    def update_table(
        self,
        account: str,
        region: str,
        database: str,
        table_input: Shape,
        *,
        skip_archive: bool = False,
        version_id: str | None = None,
    ) -> None:
        """Replace the table's definition with a new version; with `skip_archive` the version
        replaced is not kept. `version_id`, if given, must be the current one (optimistic
        concurrency, ConcurrentModificationException otherwise)."""
        name = table_input["Name"]
        with self.lock:
            current = self.get_table(account, region, database, name)
            if version_id is not None and version_id != current["VersionId"]:
                raise concurrent_modification(
                    f"Table {current['Name']} was modified: its current version is "
                    f"{current['VersionId']}, not {version_id}."
                )
            old = int(current["VersionId"])
            db, table_name = current["DatabaseName"], current["Name"]
            table = new_table(
                account, db, table_input, self.clock.now(), version=old + 1, created=current
            )
            encoded = records.encode(table)
            ops: list[Put | Delete] = [
                Put(records.table_key(account, region, db, table_name), encoded),
                Put(records.version_key(account, region, db, table_name, old + 1), encoded),
            ]
            if skip_archive:
                ops.append(Delete(records.version_key(account, region, db, table_name, old)))
            self.store.batch(ops)

    def delete_table(self, account: str, region: str, database: str, name: str) -> None:
        with self.lock:
            table = self.get_table(account, region, database, name)
            db, table_name = table["DatabaseName"], table["Name"]
            ops = self._drop(
                records.versions_prefix(account, region, db, table_name),
                records.partitions_prefix(account, region, db, table_name),
            )
            ops.append(Delete(records.tags_key(table_arn(account, region, db, table_name))))
            ops.append(Delete(records.table_key(account, region, db, table_name)))
            self.store.batch(ops)

    def batch_delete_table(
        self, account: str, region: str, database: str, names: list[str]
    ) -> list[Shape]:
        """BatchDeleteTable: deletes each table it can; the Errors of the others."""
        self.require_database(account, region, database)
        errors = []
        for name in names:
            try:
                self.delete_table(account, region, database, name)
            except AwsError as error:
                errors.append({"TableName": name, "ErrorDetail": error_detail(error)})
        return errors

    def search_tables(self, account: str, region: str, request: SearchRequest) -> list[Shape]:
        """SearchTables over every database of the catalog (sorted as asked, else by name)."""
        prefix = records.tables_prefix(account, region)
        tables = (records.decode(record) for _, record in self.records(prefix))
        return search_tables(tables, request)

    # Table versions

    def get_table_versions(
        self, account: str, region: str, database: str, name: str
    ) -> list[Shape]:
        """Every kept version as TableVersion shapes, newest first."""
        table = self.get_table(account, region, database, name)
        prefix = records.versions_prefix(account, region, table["DatabaseName"], table["Name"])
        versions = [records.decode(record) for _, record in self.records(prefix)]
        return [{"Table": v, "VersionId": v["VersionId"]} for v in reversed(versions)]

    def get_table_version(
        self, account: str, region: str, database: str, name: str, version_id: str | None = None
    ) -> Shape:
        """One TableVersion; the current one when `version_id` is None."""
        table = self.get_table(account, region, database, name)
        if version_id is None:
            return {"Table": table, "VersionId": table["VersionId"]}
        key = self._version_key(account, region, table, version_id)
        record = None if key is None else self.store.get(key)
        if record is None:
            raise version_not_found(table["Name"], version_id)
        return {"Table": records.decode(record), "VersionId": version_id}

    def delete_table_version(
        self, account: str, region: str, database: str, name: str, version_id: str
    ) -> None:
        with self.lock:
            table = self.get_table(account, region, database, name)
            key = self._version_key(account, region, table, version_id)
            if key is None or self.store.get(key) is None:
                raise version_not_found(table["Name"], version_id)
            if version_id == table["VersionId"]:
                # The current version is the table itself: DeleteTable removes it.
                raise invalid_input(
                    f"Cannot delete the current version {version_id} of table {table['Name']}."
                )
            self.store.delete(key)

    def batch_delete_table_version(
        self, account: str, region: str, database: str, name: str, version_ids: list[str]
    ) -> list[Shape]:
        """BatchDeleteTableVersion: deletes each version it can; the Errors of the others."""
        self.get_table(account, region, database, name)
        errors = []
        for version_id in version_ids:
            try:
                self.delete_table_version(account, region, database, name, version_id)
            except AwsError as error:
                detail = error_detail(error)
                errors.append({"TableName": name, "VersionId": version_id, "ErrorDetail": detail})
        return errors

    def _version_key(self, account: str, region: str, table: Shape, version_id: str) -> str | None:
        if not version_id.isdigit():
            return None
        db, name = table["DatabaseName"], table["Name"]
        return records.version_key(account, region, db, name, int(version_id))

    # Partitions (see partitions.py)

    def create_partition(
        self, account: str, region: str, database: str, table: str, partition_input: Shape
    ) -> None:
        self.partitions.create(account, region, database, table, partition_input)

    def batch_create_partition(
        self, account: str, region: str, database: str, table: str, inputs: list[Shape]
    ) -> list[Shape]:
        return self.partitions.batch_create(account, region, database, table, inputs)

    def get_partition(
        self, account: str, region: str, database: str, table: str, values: list[str]
    ) -> Shape:
        return self.partitions.get(account, region, database, table, values)

    def get_partitions(
        self,
        account: str,
        region: str,
        database: str,
        table: str,
        expression: str | None = None,
        segment: Segment | None = None,
    ) -> list[Shape]:
        return self.partitions.get_all(account, region, database, table, expression, segment)

    def get_partitions_page(
        self,
        account: str,
        region: str,
        database: str,
        table: str,
        *,
        expression: str | None = None,
        segment: Segment | None = None,
        max_results: int | None = None,
        token: str | None = None,
    ) -> tuple[list[Shape], str | None]:
        return self.partitions.page(
            account, region, database, table, expression, segment, max_results, token
        )

    def batch_get_partition(
        self, account: str, region: str, database: str, table: str, values: list[list[str]]
    ) -> list[Shape]:
        return self.partitions.batch_get(account, region, database, table, values)

    def update_partition(
        self,
        account: str,
        region: str,
        database: str,
        table: str,
        values: list[str],
        partition_input: Shape,
    ) -> None:
        self.partitions.update(account, region, database, table, values, partition_input)

    def delete_partition(
        self, account: str, region: str, database: str, table: str, values: list[str]
    ) -> None:
        self.partitions.delete(account, region, database, table, values)

    def batch_delete_partition(
        self, account: str, region: str, database: str, table: str, values: list[list[str]]
    ) -> list[Shape]:
        return self.partitions.batch_delete(account, region, database, table, values)

    # Listing

    def _page(
        self,
        prefix: str,
        max_results: int | None,
        token: str | None,
        keep: Callable[[Shape], bool] | None = None,
    ) -> tuple[list[Shape], str | None]:
        """One page of the records under `prefix` (those `keep` accepts), in key order."""
        limit = max_results or DEFAULT_PAGE
        after = records.read_token(token, str)
        found: list[Shape] = []
        last = ""
        for key, record in self.records(prefix, None if after is None else prefix + after):
            shape = records.decode(record)
            if keep is not None and not keep(shape):
                continue
            if len(found) == limit:
                # Only now is it known that another page exists.
                return found, records.make_token(last)
            found.append(shape)
            last = key[len(prefix) :]
        return found, None
