"""Catalogued tables as the engine reads them: Glue's table -> format, files, partitions.

A Glue table names its SerDe and input format (which say how files are encoded), its columns and
partition keys (Hive types), and its Location; each registered partition has a Location of its
own. A table's files are the objects under those locations (Athena reads folders recursively and
skips names starting with `_` or `.`, folder markers and empty objects). Objects are read in
place where S3 keeps them as plain files; other bodies (inline, encrypted) are read through
copies shared by every query (`copies`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tule.engines.duckdb_sources import Column, DataFile, FileGroup, TableFormat, TableSource
from tule.services.athena.copies import ObjectCopies

Shape = dict[str, Any]

_COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def split_s3(url: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    bucket, _, key = rest.partition("/")
    return bucket, key


def table_format(table: Shape) -> TableFormat:
    """How a Glue table's files are encoded, from its SerDe, input format and parameters."""
    sd = table.get("StorageDescriptor") or {}
    serde = sd.get("SerdeInfo") or {}
    library = (serde.get("SerializationLibrary") or "").lower()
    params = serde.get("Parameters") or {}
    input_format = (sd.get("InputFormat") or "").lower()
    table_params = {**(sd.get("Parameters") or {}), **(table.get("Parameters") or {})}
    classification = (table_params.get("classification") or "").lower()
    skip = int(table_params.get("skip.header.line.count") or 0)
    if "parquet" in library or "parquet" in input_format or classification == "parquet":
        return TableFormat("parquet")
    if "orc" in library or "orc" in input_format or classification == "orc":
        return TableFormat("orc")
    if "json" in library or classification == "json":
        ignore = str(params.get("ignore.malformed.json", "false")).lower() == "true"
        return TableFormat("json", ignore_malformed=ignore)
    if "opencsv" in library:
        return TableFormat(
            "opencsv",
            delimiter=params.get("separatorChar", ","),
            quote=params.get("quoteChar", '"'),
            escape=params.get("escapeChar", "\\"),
            skip_header_lines=skip,
        )
    delimiter = params.get("field.delim") or params.get("serialization.format") or "\x01"
    if (delimiter.isdigit() and len(delimiter) > 1) or delimiter == "1":
        # Hive writes the default delimiter as its code ("1" is Ctrl-A).
        delimiter = chr(int(delimiter))
    return TableFormat(
        "text",
        delimiter=delimiter,
        escape=params.get("escape.delim"),
        null_string=params.get("serialization.null.format", "\\N"),
        skip_header_lines=skip,
    )


def _columns(columns: list[Shape] | None) -> tuple[Column, ...]:
    return tuple(Column(c["Name"].lower(), c.get("Type") or "string") for c in columns or [])


def _skipped(key: str, prefix: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    relative = key[len(prefix) :]
    hidden = any(part.startswith(("_", ".")) for part in relative.split("/") if part)
    return not name or key.endswith("/") or key.endswith("_$folder$") or hidden


@dataclass
class FileReader:
    """Lists a location's objects and gives DuckDB a local path for each."""

    s3: Any
    copies: ObjectCopies
    copied: list[str] = field(default_factory=list)  # names of the copies handed out
    # bucket -> S3's change counter for it, read before its first listing (see select_cache)
    generations: dict[str, int] = field(default_factory=dict)

    def files(self, location: str, *, with_compression: bool) -> tuple[DataFile, ...]:
        bucket, prefix = split_s3(location)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        if bucket not in self.generations:
            self.generations[bucket] = self.s3.generation(bucket)
        out = []
        for summary in self.s3.list_objects(bucket, prefix):
            if summary.size == 0 or _skipped(summary.key, prefix):
                continue
            path = self.local_path(bucket, summary.key)
            suffix = os.path.splitext(summary.key)[1].lower()
            compression = _COMPRESSION.get(suffix) if with_compression else None
            out.append(DataFile(str(path), summary.size, compression))
        return tuple(out)

    def local_path(self, bucket: str, key: str) -> Path:
        found = self.s3.object_file(bucket, key)
        if found is not None:
            return Path(found)
        copy = self.copies.path(self.s3, bucket, key)
        self.copied.append(copy.name)
        return copy


def partition_keys(table: Shape) -> tuple[Column, ...]:
    return _columns(table.get("PartitionKeys"))


def build_source(table: Shape, partitions: list[Shape] | None, reader: FileReader) -> TableSource:
    """The table's source: every file under its Location, or under each given partition's
    Location (`partitions` already pruned; None for an unpartitioned table)."""
    sd = table.get("StorageDescriptor") or {}
    fmt = table_format(table)
    text = fmt.kind in ("text", "opencsv", "json")
    keys = partition_keys(table)
    groups: list[FileGroup] = []
    if keys and partitions is not None:
        for partition in partitions:
            location = (partition.get("StorageDescriptor") or {}).get("Location")
            if not location:
                continue
            values = tuple(
                None if v == "__HIVE_DEFAULT_PARTITION__" else v
                for v in partition.get("Values") or []
            )
            groups.append(FileGroup(reader.files(location, with_compression=text), values))
    elif not keys and sd.get("Location"):
        groups.append(FileGroup(reader.files(sd["Location"], with_compression=text)))
    return TableSource(_columns(sd.get("Columns")), keys, fmt, tuple(groups))
