"""Table sources: what a catalogued table is made of, and the DuckDB SQL that scans it.

A `TableSource` is plain data: the table's columns (Hive types), its partition keys, the file
format with its SerDe options, and the files to read grouped by partition (each group carries
its partition values). `scan_sql` turns it into one SELECT that yields exactly the catalogued
columns with their catalogued types, partition columns last, as Athena shows a Hive table:

- Parquet: columns matched by name, case-insensitively (as Athena's Parquet reader does);
  columns a file lacks are NULL; types cast to the catalogued ones where they differ. Files
  are unified by name (`union_by_name`) unless the engine found them all of one schema
  (`same_schema`): unifying costs ~10% of a short scan (TPC-H Q11 at SF1: ~2.5 ms of 26).
- Text (LazySimpleSerDe): every field read as text with no quoting, `\\N` meaning NULL, then
  `TRY_CAST` to the column type, so an unparseable or empty numeric field is NULL as in Hive;
  extra fields are ignored and missing ones NULL.
- OpenCSVSerde: quoted fields with the SerDe's separator, quote and escape characters; the
  SerDe yields strings, which Athena then parses into the declared types.
- JSON (OpenX SerDe): one JSON object per line, keys matched to the columns by name.
- ORC: DuckDB has no ORC reader here, so the engine reads ORC files with pyarrow and scans the
  Arrow tables it registered (`arrow_name` below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tule.engines.duckdb_types import duckdb_type, quote_identifier


@dataclass(frozen=True)
class Column:
    """A catalogued column: name and Hive type."""

    name: str
    hive_type: str


@dataclass(frozen=True)
class DataFile:
    """One file to read: a local path, its size, and its compression (`gzip`, `zstd`, None)."""

    path: str
    size: int
    compression: str | None = None


@dataclass(frozen=True)
class FileGroup:
    """The files of one partition (or of an unpartitioned table) and its partition values
    (strings as the catalog holds them; None for Hive's default partition)."""

    files: tuple[DataFile, ...]
    partition_values: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class TableFormat:
    """How the files are encoded. `kind` is `parquet`, `text`, `opencsv`, `json` or `orc`."""

    kind: str
    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    skip_header_lines: int = 0
    null_string: str = "\\N"
    ignore_malformed: bool = False


@dataclass(frozen=True)
class TableSource:
    """Everything needed to scan one catalogued table."""

    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...]
    format: TableFormat
    groups: tuple[FileGroup, ...]
    # Files' own column names and DuckDB types (Parquet); filled in by the engine.
    file_columns: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Whether every Parquet file has the same schema (names, types, order); by the engine.
    same_schema: bool = False

    @property
    def files(self) -> list[DataFile]:
        return [f for g in self.groups for f in g.files]

    @property
    def scanned_bytes(self) -> int:
        return sum(f.size for f in self.files)


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _paths(files: tuple[DataFile, ...] | list[DataFile]) -> str:
    return "[" + ", ".join(sql_string(f.path) for f in files) + "]"


def _partition_projection(source: TableSource, group: FileGroup) -> list[str]:
    out = []
    for key, value in zip(source.partition_keys, group.partition_values, strict=True):
        target = duckdb_type(key.hive_type)
        literal = "NULL" if value is None else sql_string(value)
        out.append(f"TRY_CAST({literal} AS {target}) AS {quote_identifier(key.name)}")
    return out


def _empty_sql(source: TableSource) -> str:
    cols = [
        f"CAST(NULL AS {duckdb_type(c.hive_type)}) AS {quote_identifier(c.name)}"
        for c in (*source.columns, *source.partition_keys)
    ]
    return f"SELECT {', '.join(cols)} WHERE false"


def _text_columns(source: TableSource, *, opencsv: bool) -> list[str]:
    out = []
    for c in source.columns:
        target = duckdb_type(c.hive_type)
        raw = quote_identifier(c.name)
        if target == "VARCHAR":
            out.append(f"COALESCE({raw}, '') AS {raw}" if opencsv else raw)
        else:
            # NULLIF also keeps DuckDB from pushing the cast into the CSV reader, where a
            # bad value would fail the scan instead of becoming NULL as Hive makes it.
            out.append(f"TRY_CAST(NULLIF({raw}, '') AS {target}) AS {raw}")
    return out


def _csv_read(source: TableSource, files: list[DataFile]) -> str:
    fmt = source.format
    opencsv = fmt.kind == "opencsv"
    columns = ", ".join(f"{sql_string(c.name)}: 'VARCHAR'" for c in source.columns)
    quote = fmt.quote if opencsv else ""
    escape = (fmt.escape if fmt.escape is not None else "\\") if opencsv else (fmt.escape or "")
    options = [
        "header=false",
        "auto_detect=false",
        f"columns={{{columns}}}",
        f"delim={sql_string(fmt.delimiter)}",
        f"quote={sql_string(quote)}",
        f"escape={sql_string(escape)}",
        f"skip={fmt.skip_header_lines}",
        "strict_mode=false",
        "null_padding=true",
    ]
    if not opencsv:
        options.append(f"nullstr={sql_string(fmt.null_string)}")
    compression = files[0].compression
    if compression:
        options.append(f"compression={sql_string(compression)}")
    return f"read_csv({_paths(files)}, {', '.join(options)})"


def _json_read(source: TableSource, files: list[DataFile]) -> str:
    columns = ", ".join(
        f"{sql_string(c.name)}: {sql_string(duckdb_type(c.hive_type))}" for c in source.columns
    )
    options = [
        "format='newline_delimited'",
        f"columns={{{columns}}}",
        "maximum_object_size=134217728",
    ]
    if source.format.ignore_malformed:
        options.append("ignore_errors=true")
    compression = files[0].compression
    if compression:
        options.append(f"compression={sql_string(compression)}")
    return f"read_json({_paths(files)}, {', '.join(options)})"


def _parquet_columns(source: TableSource) -> list[str]:
    out = []
    for c in source.columns:
        target = duckdb_type(c.hive_type)
        found = source.file_columns.get(c.name.lower())
        alias = quote_identifier(c.name)
        if found is None:
            out.append(f"CAST(NULL AS {target}) AS {alias}")
        elif found[1] == target:
            out.append(f"{quote_identifier(found[0])} AS {alias}")
        else:
            out.append(f"CAST({quote_identifier(found[0])} AS {target}) AS {alias}")
    return out


def _by_compression(files: tuple[DataFile, ...]) -> list[list[DataFile]]:
    batches: dict[str | None, list[DataFile]] = {}
    for f in files:
        batches.setdefault(f.compression, []).append(f)
    return list(batches.values())


def scan_sql(source: TableSource, arrow_name: Callable[[DataFile], str] | None = None) -> str:
    """One SELECT over every file of the source (see the module docstring)."""
    selects = []
    kind = source.format.kind
    for group in source.groups:
        if not group.files:
            continue
        parts = _partition_projection(source, group)
        if kind == "parquet":
            cols = ", ".join([*_parquet_columns(source), *parts])
            unify = "" if source.same_schema else ", union_by_name=true"
            selects.append(f"SELECT {cols} FROM read_parquet({_paths(group.files)}{unify})")
        elif kind in ("text", "opencsv"):
            for batch in _by_compression(group.files):
                cols = ", ".join([*_text_columns(source, opencsv=kind == "opencsv"), *parts])
                selects.append(f"SELECT {cols} FROM {_csv_read(source, batch)}")
        elif kind == "json":
            for batch in _by_compression(group.files):
                names = [quote_identifier(c.name) for c in source.columns]
                cols = ", ".join([*names, *parts])
                selects.append(f"SELECT {cols} FROM {_json_read(source, batch)}")
        elif kind == "orc":
            if arrow_name is None:
                raise ValueError("ORC sources need registered Arrow tables")
            for f in group.files:
                cols = ", ".join([*_parquet_columns(source), *parts])
                selects.append(f"SELECT {cols} FROM {quote_identifier(arrow_name(f))}")
        else:
            raise ValueError(f"unsupported table format {kind!r}")
    if not selects:
        return _empty_sql(source)
    return "\nUNION ALL\n".join(selects)
