"""The file formats CREATE TABLE AS SELECT writes: `format` and `write_compression` as Athena
takes them, the engine's COPY options for each, and what the new Glue table records.

PARQUET (tule's default compression SNAPPY), JSON (one object per line, the OpenX SerDe) and
TEXTFILE (LazySimpleSerDe: `field_delimiter`, default `\\001`, NULL as `\\N`, no quoting, so
array, map and row columns are refused rather than written unreadably); JSON and TEXTFILE are
GZIP-compressed unless `write_compression` says otherwise, as Athena does. ORC, AVRO and ION
are refused with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tule.engines.duckdb_sources import sql_string
from tule.services.athena.ddl import FORMATS
from tule.services.athena.errors import QueryFailed

_PARQUET_CODECS = {
    "SNAPPY": "snappy",
    "GZIP": "gzip",
    "ZSTD": "zstd",
    "NONE": "uncompressed",
    "LZ4": "lz4",
}
_TEXT_CODECS = {"GZIP": "gzip", "ZSTD": "zstd", "NONE": "none"}
_SUFFIXES = {"gzip": ".gz", "zstd": ".zst", "none": ""}


@dataclass(frozen=True)
class WriteFormat:
    """How a CTAS table's files are written and catalogued."""

    name: str
    copy_options: tuple[str, ...]
    suffix: str  # an unpartitioned file's name ending
    serde_parameters: dict[str, str] = field(default_factory=dict)
    table_parameters: dict[str, str] = field(default_factory=dict)
    nested_types: bool = True  # whether array, map and row columns can be written

    def table_parts(self) -> tuple[str, str, str, dict[str, str]]:
        """InputFormat, OutputFormat, SerDe and its parameters for Glue."""
        input_format, output_format, serde, params = FORMATS[self.name]
        return input_format, output_format, serde, {**params, **self.serde_parameters}


def write_format(props: dict[str, Any]) -> WriteFormat:
    """The format a CTAS's WITH properties ask for."""
    name = str(props.get("format") or "PARQUET").upper()
    asked = str(props.get("write_compression") or props.get("parquet_compression") or "").upper()
    if name == "PARQUET":
        codec = _PARQUET_CODECS.get(asked or "SNAPPY", "snappy")
        return WriteFormat(
            name,
            ("FORMAT parquet", f"COMPRESSION {codec}"),
            ".parquet",
            table_parameters={"classification": "parquet"},
        )
    if name not in ("JSON", "TEXTFILE"):
        raise QueryFailed("NOT_SUPPORTED", f"line 1:1: CTAS format {name} is not supported in tule")
    codec = _TEXT_CODECS.get(asked or "GZIP")
    if codec is None:
        raise QueryFailed(
            "INVALID_TABLE_PROPERTY", f"Compression {asked} is not supported for {name}"
        )
    compressed = {"compressionType": codec} if codec != "none" else {}
    if name == "JSON":
        return WriteFormat(
            name,
            ("FORMAT json", f"COMPRESSION {codec}"),
            ".json" + _SUFFIXES[codec],
            table_parameters={"classification": "json", **compressed},
        )
    delimiter = str(props.get("field_delimiter") or "\x01")
    return WriteFormat(
        name,
        (
            "FORMAT csv",
            f"DELIMITER {sql_string(delimiter)}",
            "HEADER false",
            "QUOTE ''",
            "ESCAPE ''",
            "NULLSTR '\\N'",
            f"COMPRESSION {codec}",
        ),
        _SUFFIXES[codec],
        serde_parameters={"field.delim": delimiter, "serialization.format": delimiter},
        table_parameters={"classification": "csv", **compressed},
        nested_types=False,
    )
