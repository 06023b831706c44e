"""DDL and utility statements, carried out against the Glue Data Catalog (never DuckDB alone).

CREATE EXTERNAL TABLE becomes a Glue TableInput with the SerDe, formats and parameters Athena
records (`STORED AS PARQUET` -> the Parquet Hive SerDe, `ROW FORMAT DELIMITED` -> LazySimpleSerDe
with `field.delim`, ...); CREATE/DROP DATABASE and DROP TABLE call Glue (dropping an external
table leaves its data); MSCK REPAIR TABLE lists the table's Location for `key=value` folders and
adds the partitions Glue lacks; ALTER TABLE ADD/DROP PARTITION edits partitions; DROP VIEW
drops only a view; SHOW and DESCRIBE read the catalog (`show`). Each returns the rows of its
text result.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sqlglot import exp

from tule.engines.duckdb_types import normalize_hive_type
from tule.errors import AwsError
from tule.services.athena.binding import Catalogs
from tule.services.athena.errors import QueryFailed, ddl_failed, schema_not_found
from tule.services.athena.show import (
    LAZY_SIMPLE,
    SHOW_HANDLERS,
    TEXT_INPUT,
    TEXT_OUTPUT,
    TextResult,
    require_database,
    split_name,
    table_named,
    view_named,
)
from tule.services.athena.statements import Utility, unquote_name
from tule.services.athena.tables import split_s3

Shape = dict[str, Any]

FORMATS = {
    "PARQUET": (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        {"serialization.format": "1"},
    ),
    "ORC": (
        "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
        {"serialization.format": "1"},
    ),
    "TEXTFILE": (TEXT_INPUT, TEXT_OUTPUT, LAZY_SIMPLE, {"serialization.format": "1"}),
    "JSON": (TEXT_INPUT, TEXT_OUTPUT, "org.openx.data.jsonserde.JsonSerDe", {}),
}


def _literal(node: exp.Expression | None) -> str | None:
    if node is None:
        return None
    return node.name if isinstance(node, exp.Literal | exp.Var | exp.Identifier) else node.sql()


def _column(defn: exp.ColumnDef) -> Shape:
    column: Shape = {
        "Name": defn.name.lower(),
        "Type": normalize_hive_type(defn.args["kind"].sql("hive")),
    }
    for constraint in defn.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.CommentColumnConstraint):
            column["Comment"] = kind.name
    return column


def table_input_from_create(create: exp.Create) -> tuple[str | None, Shape, bool]:
    """(database or None, TableInput, if-not-exists) of a CREATE EXTERNAL TABLE."""
    schema = create.this
    table = schema.this if isinstance(schema, exp.Schema) else schema
    columns = [_column(c) for c in schema.expressions] if isinstance(schema, exp.Schema) else []
    fmt = "TEXTFILE"
    input_format = output_format = serde = None
    serde_params: dict[str, str] = {}
    table_params: dict[str, str] = {}
    partition_keys: list[Shape] = []
    location = comment = None
    delimited: dict[str, str] = {}
    for prop in (create.args.get("properties") or exp.Properties(expressions=[])).expressions:
        if isinstance(prop, exp.FileFormatProperty):
            inner = prop.this
            if isinstance(inner, exp.InputOutputFormat):
                input_format = _literal(inner.args.get("input_format"))
                output_format = _literal(inner.args.get("output_format"))
            else:
                fmt = (_literal(inner) or "TEXTFILE").upper()
        elif isinstance(prop, exp.RowFormatSerdeProperty):
            serde = _literal(prop.this)
            props = prop.args.get("serde_properties")
            for p in props.expressions if props is not None else []:
                serde_params[_literal(p.this) or ""] = _literal(p.args.get("value")) or ""
        elif isinstance(prop, exp.RowFormatDelimitedProperty):
            names = {
                "fields": "field.delim",
                "escaped": "escape.delim",
                "collection_items": "collection.delim",
                "map_keys": "mapkey.delim",
                "lines": "line.delim",
                "null": "serialization.null.format",
            }
            for arg, key in names.items():
                value = _literal(prop.args.get(arg))
                if value is not None:
                    delimited[key] = value
        elif isinstance(prop, exp.LocationProperty):
            location = _literal(prop.this)
        elif isinstance(prop, exp.PartitionedByProperty):
            keys = prop.this
            if isinstance(keys, exp.Schema):
                partition_keys = [_column(c) for c in keys.expressions]
        elif isinstance(prop, exp.SchemaCommentProperty):
            comment = _literal(prop.this)
        elif isinstance(prop, exp.Property):
            table_params[_literal(prop.this) or ""] = _literal(prop.args.get("value")) or ""
    known = FORMATS.get(fmt, FORMATS["TEXTFILE"])
    if serde is None:
        serde = known[2]
        serde_params = {**known[3], **serde_params}
        if fmt == "TEXTFILE" and "field.delim" in delimited:
            serde_params["serialization.format"] = delimited["field.delim"]
    serde_params.update(delimited)
    input_format = input_format or known[0]
    output_format = output_format or known[1]
    if location and not location.endswith("/"):
        location += "/"
    table_input: Shape = {
        "Name": table.name.lower(),
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", **table_params},
        "PartitionKeys": partition_keys,
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            "InputFormat": input_format,
            "OutputFormat": output_format,
            "Compressed": False,
            "NumberOfBuckets": -1,
            "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_params},
            "BucketColumns": [],
            "SortColumns": [],
            "Parameters": {},
            "StoredAsSubDirectories": False,
        },
    }
    if comment:
        table_input["Description"] = comment
    if not location:
        table_input["StorageDescriptor"].pop("Location")
    database = table.db.lower() if table.db else None
    return database, table_input, bool(create.args.get("exists"))


def create_table(create: exp.Create, catalogs: Catalogs) -> TextResult:
    database, table_input, if_not_exists = table_input_from_create(create)
    database = database or catalogs.default_database or "default"
    require_database(catalogs, database)
    if "Location" not in table_input["StorageDescriptor"]:
        raise QueryFailed(
            "FAILED", "Exception: LOCATION is required for CREATE EXTERNAL TABLE in tule"
        )
    try:
        catalogs.glue.catalog.create_table(catalogs.account, catalogs.region, database, table_input)
    except AwsError as err:
        if err.code == "AlreadyExistsException":
            if if_not_exists:
                return TextResult()
            raise ddl_failed(
                f"AlreadyExistsException: Table {table_input['Name']} already exists"
            ) from None
        raise ddl_failed(f"{err.code}: {err.message}") from None
    return TextResult()


def run_utility(statement: Utility, catalogs: Catalogs) -> TextResult:
    """Carry out a recognised statement (see `statements`)."""
    handler = _HANDLERS.get(statement.kind)
    if handler is None:
        raise QueryFailed("NOT_SUPPORTED", f"line 1:1: {statement.kind} is not supported")
    return handler(statement, catalogs)


def _create_database(statement: Utility, catalogs: Catalogs) -> TextResult:
    name = unquote_name(statement.name or "")[-1]
    database_input: Shape = {"Name": name, "Parameters": dict(statement.properties)}
    if statement.comment:
        database_input["Description"] = statement.comment
    if statement.location:
        database_input["LocationUri"] = statement.location
    try:
        catalogs.glue.catalog.create_database(catalogs.account, catalogs.region, database_input)
    except AwsError as err:
        if err.code == "AlreadyExistsException" and statement.if_exists:
            return TextResult()
        if err.code == "AlreadyExistsException":
            raise ddl_failed(f"AlreadyExistsException: Database {name} already exists") from None
        raise
    return TextResult()


def _drop_database(statement: Utility, catalogs: Catalogs) -> TextResult:
    name = unquote_name(statement.name or "")[-1]
    glue = catalogs.glue.catalog
    try:
        tables = glue.get_tables(catalogs.account, catalogs.region, name)
    except AwsError as err:
        if err.code == "EntityNotFoundException" and statement.if_exists:
            return TextResult()
        if err.code == "EntityNotFoundException":
            raise schema_not_found("awsdatacatalog", name, 1, 1) from None
        raise
    if tables and not statement.cascade:
        raise ddl_failed(
            f"InvalidOperationException: Database {name} is not empty. One or more tables exist."
        )
    glue.delete_database(catalogs.account, catalogs.region, name)
    return TextResult()


def _drop_table(statement: Utility, catalogs: Catalogs) -> TextResult:
    database, name = split_name(statement.name or "", catalogs.default_database)
    try:
        catalogs.glue.catalog.delete_table(catalogs.account, catalogs.region, database, name)
    except AwsError as err:
        if err.code == "EntityNotFoundException" and statement.if_exists:
            return TextResult()
        if err.code == "EntityNotFoundException":
            raise QueryFailed(
                "FAILED", f"SemanticException [Error 10001]: Table not found {database}.{name}"
            ) from None
        raise
    return TextResult()


def _drop_view(statement: Utility, catalogs: Catalogs) -> TextResult:
    database, name, view = view_named(catalogs, statement.name or "", statement.if_exists)
    if view is not None:
        catalogs.glue.catalog.delete_table(catalogs.account, catalogs.region, database, name)
    return TextResult()


def _partition_input(table: Shape, values: list[str], location: str) -> Shape:
    sd = dict(table.get("StorageDescriptor") or {})
    sd["Location"] = location
    return {"Values": values, "StorageDescriptor": sd, "Parameters": {}}


def _add_partitions(
    catalogs: Catalogs, database: str, table: Shape, inputs: list[Shape]
) -> list[list[str]]:
    """Adds partitions 100 at a time (Glue's batch limit); returns the values it added."""
    added = []
    for start in range(0, len(inputs), 100):
        batch = inputs[start : start + 100]
        errors = catalogs.glue.catalog.batch_create_partition(
            catalogs.account, catalogs.region, database, table["Name"], batch
        )
        failed = {tuple(e.get("PartitionValues") or []) for e in errors or []}
        added += [p["Values"] for p in batch if tuple(p["Values"]) not in failed]
    return added


def _msck_repair(statement: Utility, catalogs: Catalogs) -> TextResult:
    database, table = table_named(catalogs, statement.name or "")
    keys = [k["Name"].lower() for k in table.get("PartitionKeys") or []]
    location = (table.get("StorageDescriptor") or {}).get("Location")
    if not keys or not location:
        return TextResult()
    bucket, prefix = split_s3(location)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    found: dict[tuple[str, ...], str] = {}
    for summary in catalogs.reader.s3.list_objects(bucket, prefix):
        parts = summary.key[len(prefix) :].split("/")[:-1]
        if len(parts) < len(keys):
            continue
        values = []
        for key, folder in zip(keys, parts, strict=False):
            name, sep, value = folder.partition("=")
            if not sep or name.lower() != key:
                break
            values.append(unquote(value))
        if len(values) == len(keys):
            folder_path = "/".join(parts[: len(keys)])
            found.setdefault(tuple(values), f"s3://{bucket}/{prefix}{folder_path}/")
    existing = {tuple(p["Values"]) for p in catalogs.partitions(database, table["Name"])}
    missing = [(v, loc) for v, loc in sorted(found.items()) if v not in existing]
    inputs = [_partition_input(table, list(v), loc) for v, loc in missing]
    added = _add_partitions(catalogs, database, table, inputs)
    spec = ["/".join(f"{k}={v}" for k, v in zip(keys, values, strict=False)) for values in added]
    rows = (
        [[f"Partitions not in metastore:\t{' '.join(table['Name'] + ':' + s for s in spec)}"]]
        if spec
        else []
    )
    rows += [[f"Repair: Added partition to metastore {table['Name']}:{s}"] for s in spec]
    return TextResult(["result"], rows)


def _add_partition(statement: Utility, catalogs: Catalogs) -> TextResult:
    database, table = table_named(catalogs, statement.name or "")
    keys = [k["Name"].lower() for k in table.get("PartitionKeys") or []]
    base = (table.get("StorageDescriptor") or {}).get("Location") or ""
    if base and not base.endswith("/"):
        base += "/"
    inputs = []
    for values_by_key, location in statement.partitions:
        if set(values_by_key) != set(keys):
            raise QueryFailed(
                "FAILED", "SemanticException [Error 10098]: Partition spec is invalid"
            )
        values = [values_by_key[k] for k in keys]
        folder = "/".join(f"{k}={values_by_key[k]}" for k in keys)
        inputs.append(_partition_input(table, values, location or f"{base}{folder}/"))
    existing = {tuple(p["Values"]) for p in catalogs.partitions(database, table["Name"])}
    clash = [i for i in inputs if tuple(i["Values"]) in existing]
    if clash and not statement.if_exists:
        raise ddl_failed("AlreadyExistsException: Partition already exists.")
    _add_partitions(catalogs, database, table, [i for i in inputs if i not in clash])
    return TextResult()


def _drop_partition(statement: Utility, catalogs: Catalogs) -> TextResult:
    database, table = table_named(catalogs, statement.name or "")
    keys = [k["Name"].lower() for k in table.get("PartitionKeys") or []]
    for values_by_key, _location in statement.partitions:
        values = [values_by_key.get(k, "") for k in keys]
        try:
            catalogs.glue.catalog.delete_partition(
                catalogs.account, catalogs.region, database, table["Name"], values
            )
        except AwsError as err:
            if err.code != "EntityNotFoundException" or not statement.if_exists:
                raise ddl_failed(f"{err.code}: {err.message}") from None
    return TextResult()


_HANDLERS = {
    **SHOW_HANDLERS,
    "create_database": _create_database,
    "drop_database": _drop_database,
    "drop_table": _drop_table,
    "drop_view": _drop_view,
    "msck_repair": _msck_repair,
    "add_partition": _add_partition,
    "drop_partition": _drop_partition,
}

UTILITY_KINDS = frozenset(SHOW_HANDLERS)
