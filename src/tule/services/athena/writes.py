"""Statements that write data: CREATE TABLE AS SELECT and INSERT INTO.

Both run the SELECT in the engine, write files (CTAS: Parquet, JSON or TEXTFILE, see
`write_formats`; INSERT INTO: the table's own format) into a scratch folder (Hive-style `key=value`
sub-folders for partition columns, which Athena requires last in the SELECT), then store each
file in S3 through its in-process API and record the result in Glue: CTAS creates the table
(its format's SerDe, Location = `external_location` or `<OutputLocation>tables/<query id>/`)
and its partitions; INSERT INTO adds files under the table's Location and any partitions that
are new. Both answer the row count (`UpdateCount`) and list the files they wrote in a data
manifest (`<OutputLocation><query id>-manifest.csv`, what awswrangler reads).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlglot import exp

from tule.engines.duckdb_engine import EngineSession
from tule.engines.duckdb_types import duckdb_type, hive_type_for, quote_identifier, trino_column
from tule.services.athena import dialect
from tule.services.athena.binding import Catalogs, bind_tables
from tule.services.athena.errors import QueryFailed
from tule.services.athena.show import find_table, require_database
from tule.services.athena.tables import split_s3, table_format
from tule.services.athena.write_formats import WriteFormat, write_format

Shape = dict[str, Any]


@dataclass
class WriteResult:
    rows: int
    files: list[str] = field(default_factory=list)  # s3:// URLs written


def _properties(create: exp.Create) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prop in (create.args.get("properties") or exp.Properties(expressions=[])).expressions:
        if isinstance(prop, exp.FileFormatProperty):
            out["format"] = prop.this.name.upper()
        elif isinstance(prop, exp.PartitionedByProperty):
            node = prop.this
            items = (
                node.expressions if isinstance(node, exp.Array | exp.Schema | exp.Tuple) else [node]
            )
            out["partitioned_by"] = [i.name.lower() for i in items]
        elif isinstance(prop, exp.LocationProperty):
            out["external_location"] = prop.this.name
        elif isinstance(prop, exp.Property):
            value = prop.args.get("value")
            if isinstance(value, exp.Array):
                out[prop.name.lower()] = [v.name for v in value.expressions]
            else:
                out[prop.name.lower()] = value.name if value is not None else None
    return out


def _upload(catalogs: Catalogs, scratch: Path, location: str) -> list[str]:
    bucket, prefix = split_s3(location)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    urls = []
    for root, _dirs, names in os.walk(scratch):
        for name in sorted(names):
            path = Path(root) / name
            relative = path.relative_to(scratch).as_posix()
            with open(path, "rb") as body:
                catalogs.reader.s3.write_object(bucket, prefix + relative, body)
            urls.append(f"s3://{bucket}/{prefix}{relative}")
    return sorted(urls)


def _partitions_from(urls: list[str], location: str, keys: list[str]) -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}
    base = location if location.endswith("/") else location + "/"
    for url in urls:
        folders = url[len(base) :].split("/")[:-1][: len(keys)]
        values = tuple(unquote(f.partition("=")[2]) for f in folders)
        if len(values) == len(keys):
            found[values] = base + "/".join(folders) + "/"
    return found


def _register_partitions(
    catalogs: Catalogs, database: str, table: Shape, found: dict[tuple[str, ...], str]
) -> None:
    sd = table.get("StorageDescriptor") or {}
    existing = {tuple(p["Values"]) for p in catalogs.partitions(database, table["Name"])}
    inputs = [
        {"Values": list(values), "StorageDescriptor": {**sd, "Location": loc}, "Parameters": {}}
        for values, loc in sorted(found.items())
        if values not in existing
    ]
    for start in range(0, len(inputs), 100):
        catalogs.glue.catalog.batch_create_partition(
            catalogs.account, catalogs.region, database, table["Name"], inputs[start : start + 100]
        )


def create_table_as_select(
    create: exp.Create,
    catalogs: Catalogs,
    session: EngineSession,
    output_prefix: str,
    query_id: str,
    scratch: Path,
) -> WriteResult:
    table_node = create.this.this if isinstance(create.this, exp.Schema) else create.this
    _catalog, database, name = dialect.table_name_parts(table_node, catalogs.default_database)
    require_database(catalogs, database)
    props = _properties(create)
    fmt = write_format(props)
    if find_table(catalogs, database, name) is not None:
        if create.args.get("exists"):
            return WriteResult(0)
        raise QueryFailed(
            "ALREADY_EXISTS", f"line 1:1: Table 'awsdatacatalog.{database}.{name}' already exists"
        )
    location = props.get("external_location") or f"{output_prefix}tables/{query_id}/"
    if not location.endswith("/"):
        location += "/"
    bucket, prefix = split_s3(location)
    if props.get("external_location") and next(
        iter(catalogs.reader.s3.list_objects(bucket, prefix)), None
    ):
        raise QueryFailed(
            "HIVE_PATH_ALREADY_EXISTS",
            f"Target directory for table '{database}.{name}' already exists: {location}. You may "
            "need to manually clean the data at location before retrying.",
        )
    query = bind_tables(create.expression.copy(), catalogs, session)
    sql = dialect.to_duckdb(query)
    described = session.describe(sql)
    keys = list(props.get("partitioned_by") or [])
    names = [n.lower() for n, _ in described]
    if names[len(names) - len(keys) :] != keys:
        raise QueryFailed(
            "INVALID_TABLE_PROPERTY",
            "Partition keys must be the last columns in the table and in the same order as the "
            "table properties: " + str(keys),
        )
    if not fmt.nested_types and any(_nested(t) for _, t in described):
        raise QueryFailed(
            "NOT_SUPPORTED",
            f"line 1:1: {fmt.name} tables with array, map or row columns are not supported in tule",
        )
    rows = session.write_files(sql, scratch, keys, fmt.copy_options, fmt.suffix)
    urls = _upload(catalogs, scratch, location)
    data_columns = [
        {"Name": n.lower(), "Type": hive_type_for(t)} for n, t in described if n.lower() not in keys
    ]
    key_columns = [
        {"Name": n.lower(), "Type": hive_type_for(t)} for n, t in described if n.lower() in keys
    ]
    key_columns.sort(key=lambda c: keys.index(c["Name"]))
    input_format, output_format, serde, serde_params = fmt.table_parts()
    table_input: Shape = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "has_encrypted_data": "false", **fmt.table_parameters},
        "PartitionKeys": key_columns,
        "StorageDescriptor": {
            "Columns": data_columns,
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
    catalogs.glue.catalog.create_table(catalogs.account, catalogs.region, database, table_input)
    if keys:
        table = catalogs.glue.catalog.get_table(catalogs.account, catalogs.region, database, name)
        _register_partitions(catalogs, database, table, _partitions_from(urls, location, keys))
    return WriteResult(rows, urls)


def insert_into(
    insert: exp.Insert, catalogs: Catalogs, session: EngineSession, scratch: Path
) -> WriteResult:
    target = insert.this
    columns_named: list[str] | None = None
    if isinstance(target, exp.Schema):
        columns_named = [c.name.lower() for c in target.expressions]
        target = target.this
    _catalog, database, name = dialect.table_name_parts(target, catalogs.default_database)
    table = catalogs.get_table(database, name, target)
    fmt = _insert_format(table)
    sd = table.get("StorageDescriptor") or {}
    data_columns = [(c["Name"].lower(), c.get("Type") or "string") for c in sd.get("Columns") or []]
    key_columns = [
        (k["Name"].lower(), k.get("Type") or "string") for k in table.get("PartitionKeys") or []
    ]
    all_columns = data_columns + key_columns
    query = bind_tables(insert.expression.copy(), catalogs, session)
    sql = dialect.to_duckdb(query)
    described = session.describe(sql)
    names = columns_named or [n for n, _ in all_columns]
    if len(described) != len(names):
        raise QueryFailed(
            "TYPE_MISMATCH",
            f"line 1:1: Insert query has mismatched column types: Table: {len(names)} columns, "
            f"Query: {len(described)} columns",
        )
    by_name = dict(zip(names, range(len(names)), strict=True))
    projections = []
    for column, hive_type in all_columns:
        source = f"c{by_name[column]}" if column in by_name else None
        value = (
            f"CAST({quote_identifier(source)} AS {duckdb_type(hive_type)})"
            if source
            else f"CAST(NULL AS {duckdb_type(hive_type)})"
        )
        projections.append(f"{value} AS {quote_identifier(column)}")
    aliases = ", ".join(quote_identifier(f"c{i}") for i in range(len(described)))
    shaped = f"SELECT {', '.join(projections)} FROM ({sql}) AS __ins({aliases})"
    keys = [k for k, _ in key_columns]
    if not fmt.nested_types and any(_nested(duckdb_type(t)) for _, t in all_columns):
        raise QueryFailed(
            "NOT_SUPPORTED",
            "line 1:1: INSERT INTO text tables with array, map or row columns is not supported "
            "in tule",
        )
    rows = session.write_files(shaped, scratch, keys, fmt.copy_options, fmt.suffix)
    location = sd.get("Location") or ""
    urls = _upload(catalogs, scratch, location)
    if keys:
        _register_partitions(catalogs, database, table, _partitions_from(urls, location, keys))
    return WriteResult(rows, urls)


def _insert_format(table: Shape) -> WriteFormat:
    """How INSERT INTO writes a table's new files: in the table's own format (Parquet, JSON,
    or Hive text with its delimiter), compressed as its `compressionType` says."""
    found = table_format(table)
    sd_params = (table.get("StorageDescriptor") or {}).get("Parameters") or {}
    params = {**sd_params, **(table.get("Parameters") or {})}
    compression = str(params.get("compressionType") or "none").upper()
    if found.kind == "parquet":
        return write_format({})
    if found.kind == "json":
        return write_format({"format": "JSON", "write_compression": compression})
    if found.kind == "text" and not found.skip_header_lines and found.null_string == "\\N":
        props = {"format": "TEXTFILE", "field_delimiter": found.delimiter}
        return write_format({**props, "write_compression": compression})
    raise QueryFailed(
        "NOT_SUPPORTED",
        "line 1:1: INSERT INTO is supported for Parquet, JSON and Hive text tables (without "
        "header lines or a custom NULL format) in tule",
    )


def _nested(duck_type: str) -> bool:
    return trino_column("", duck_type).type in ("array", "map", "row")


def new_scratch(base: Path) -> Path:
    """A fresh folder name under `base`; whoever writes into it makes it."""
    return base / uuid.uuid4().hex
