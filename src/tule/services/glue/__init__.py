"""AWS Glue: the Data Catalog (databases, tables, table versions, partitions, tags) and crawlers.

The catalog is durable: records in a MetadataStore (`<data dir>/glue/catalog.db`, SQLite),
scoped by (account, region); a restart loses nothing. It is thread-safe: writes are serialized
(a check and its write are one step), reads run freely.

The in-process API for other tule services (crawlers, Athena, Firehose). Values are the AWS
shapes as dicts, exactly as GetDatabase / GetTable / GetPartitions answer them (timestamps are
aware datetimes), so they pass straight through. Errors are `AwsError`s with Glue's codes:
`EntityNotFoundException` ("Database x not found." / "Table x not found."),
`AlreadyExistsException`, `InvalidInputException`.

    catalog = glue.catalog                     # glue: Glue = env.peer("glue")
    catalog.create_database(account, region, {"Name": "lake"})
    catalog.create_table(account, region, "lake", {
        "Name": "events",
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}],
                              "Location": "s3://bucket/events/"},
        "PartitionKeys": [{"Name": "year", "Type": "string"}],
        "TableType": "EXTERNAL_TABLE"})
    catalog.create_partition(account, region, "lake", "events", {
        "Values": ["2024"], "StorageDescriptor": {"Location": "s3://bucket/events/year=2024/"}})
    catalog.get_partitions(account, region, "lake", "events", "year >= '2024'")

Databases
- `create_database(account, region, database_input: dict, tags: dict | None = None) -> None`
- `get_database(account, region, name) -> dict` (the Database shape)
- `get_databases(account, region) -> list[dict]`
- `update_database(account, region, name, database_input: dict) -> None`
- `delete_database(account, region, name) -> None`: drops its tables, versions and partitions.

Tables (database and table names are lower-cased, as Glue does; `VersionId` is "0" for a new
table and counts up by one per UpdateTable)
- `create_table(account, region, database, table_input: dict) -> None`
- `get_table(account, region, database, name) -> dict` (the Table shape)
- `get_tables(account, region, database, expression: str | None = None) -> list[dict]`;
  `expression` is GetTables' name pattern (`*` is a wildcard, `|` separates alternatives).
- `update_table(account, region, database, table_input: dict, *, skip_archive=False,
  version_id: str | None = None) -> None`: a new version; the table is named by
  `table_input["Name"]`; `skip_archive` drops the version it replaces; `version_id` must be the
  current one if given (ConcurrentModificationException otherwise).
- `delete_table(account, region, database, name) -> None`: drops versions and partitions too.
- `get_table_versions(account, region, database, name) -> list[dict]`: TableVersion shapes
  (`{"Table": ..., "VersionId": ...}`), newest first.

Partitions (`values` are the partition's Values in PartitionKeys order)
- `create_partition(account, region, database, table, partition_input: dict) -> None`
- `batch_create_partition(account, region, database, table, inputs: list[dict]) -> list[dict]`:
  creates what it can in one commit; returns BatchCreatePartition's `Errors` for the rest
  (`AlreadyExistsException`, `InvalidInputException` when the value count is wrong).
- `get_partition(account, region, database, table, values: list[str]) -> dict`
- `get_partitions(account, region, database, table, expression: str | None = None,
  segment: Segment | None = None) -> list[dict]`: `expression` is GetPartitions' SQL-like
  predicate (see `expressions`); numeric keys compare as numbers.
- `update_partition(account, region, database, table, values: list[str],
  partition_input: dict) -> None`
- `delete_partition(account, region, database, table, values: list[str]) -> None`

Also there, for the handlers: `get_databases_page`, `get_tables_page`, `get_partitions_page`
(one page and a NextToken), `get_table_version`, `delete_table_version`, `search_tables`,
`batch_get_partition`, `batch_delete_partition`, `require_database`.

`Glue.tags` resolves Glue ARNs for TagResource/UntagResource/GetTags: databases and tables are
built in; `Glue.register_taggable(kind, exists)` adds a resource kind (e.g. "crawler", with a
test `exists(account, region, name) -> bool`).
"""

from __future__ import annotations

from collections.abc import Callable

from tule.metadata import open_store
from tule.services.base import ServiceEnv
from tule.services.glue.catalog import Catalog
from tule.services.glue.crawlers import Crawlers
from tule.services.glue.errors import entity_not_found, invalid_input
from tule.services.glue.partitions import Segment
from tule.services.glue.shapes import database_arn, table_arn
from tule.services.glue.tags import TagStore

__all__ = ["Catalog", "Glue", "Segment"]

Exists = Callable[[str, str, str], bool]


class Glue:
    """The Glue domain: the Data Catalog, resource tags and (built beside it) crawlers."""

    def __init__(self, env: ServiceEnv) -> None:
        self.env = env
        env.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = open_store(str(env.data_dir / "catalog.db"), fsync=env.fsync)
        self.catalog = Catalog(self.store, env.clock)
        self.tags: TagStore = self.catalog.tags
        self._taggable: dict[str, Exists] = {}
        self.crawlers = Crawlers(env, self)

    def catalog_generation(self) -> int:
        """Goes up with every change to the Data Catalog: two equal readings mean every
        database, table and partition read in between is still current."""
        return self.store.generation

    def close(self) -> None:
        crawlers_close = getattr(getattr(self, "crawlers", None), "close", None)
        if callable(crawlers_close):
            crawlers_close()
        self.store.close()

    # Tags

    def register_taggable(self, kind: str, exists: Exists) -> None:
        """Let TagResource and friends tag `arn:aws:glue:<region>:<account>:<kind>/<name>`."""
        self._taggable[kind] = exists

    def require_taggable(self, arn: str) -> str:
        """The ARN as tags are kept under (catalog names lower-cased), once it is known to name
        an existing Glue resource (EntityNotFoundException if not)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "glue" or "/" not in parts[5]:
            raise invalid_input(f"Invalid resource ARN: {arn}")
        region, account, resource = parts[3], parts[4], parts[5]
        kind, name = resource.split("/", 1)
        if kind == "database":
            database = self.catalog.get_database(account, region, name)
            return database_arn(account, region, database["Name"])
        if kind == "table" and "/" in name:
            table = self.catalog.get_table(account, region, *name.split("/", 1))
            return table_arn(account, region, table["DatabaseName"], table["Name"])
        if kind in self._taggable:
            if not self._taggable[kind](account, region, name):
                raise entity_not_found(f"Resource {arn} not found.")
            return arn
        raise invalid_input(f"Resource type {kind} of {arn} cannot be tagged.")
