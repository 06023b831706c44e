"""Schemas of self-describing files: Parquet and ORC (read with pyarrow), Avro (its header).

Columnar files carry their schema and row count, so nothing is guessed: the file's types map to
Hive's (`int32` -> `int`, `int64` -> `bigint`, UTF-8 binary -> `string`, timestamps ->
`timestamp`, decimals -> `decimal(p,s)`, nested groups -> `struct<...>`, lists -> `array<...>`,
maps -> `map<k,v>`). Avro object container files are read without a library: the header holds
the writer's schema as JSON, and each block states how many records it holds.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

from tule.services.glue.crawlers.hive_types import Array, HiveType, Map, Struct
from tule.services.glue.crawlers.schema import FileSchema

PARQUET_MAGIC = b"PAR1"
ORC_MAGIC = b"ORC"
AVRO_MAGIC = b"Obj\x01"


def arrow_type(t: pa.DataType) -> HiveType:
    """The Hive type Glue writes for an Arrow (Parquet/ORC) type."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_uint8(t):
        return "tinyint"
    if pa.types.is_int16(t) or pa.types.is_uint16(t):
        return "smallint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_uint32(t) or pa.types.is_int64(t) or pa.types.is_uint64(t):
        return "bigint"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_dictionary(t):
        return arrow_type(t.value_type)
    if pa.types.is_map(t):
        return Map(arrow_type(t.key_type), arrow_type(t.item_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return Array(arrow_type(t.value_type))
    if pa.types.is_struct(t):
        return Struct(
            tuple((t.field(i).name, arrow_type(t.field(i).type)) for i in range(t.num_fields))
        )
    # Times of day, intervals, nulls: nothing closer in Hive than a string.
    return "string"


def _columns(schema: pa.Schema) -> tuple[tuple[str, HiveType | None], ...]:
    return tuple((f.name.lower(), arrow_type(f.type)) for f in schema)


def parquet_schema(data: bytes) -> FileSchema:
    pf = pq.ParquetFile(io.BytesIO(data))
    return FileSchema(
        classification="parquet",
        columns=_columns(pf.schema_arrow),
        records=pf.metadata.num_rows,
    )


def orc_schema(data: bytes) -> FileSchema:
    of = orc.ORCFile(io.BytesIO(data))
    return FileSchema(classification="orc", columns=_columns(of.schema), records=of.nrows)


# Avro


class _AvroReader:
    """Just enough of the Avro binary encoding to read a container file's framing."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def long(self) -> int:
        shift, value = 0, 0
        while True:
            if self.pos >= len(self.data):
                raise ValueError("truncated Avro file")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (value >> 1) ^ -(value & 1)  # zig-zag
            shift += 7

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated Avro file")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def avro_schema(data: bytes) -> FileSchema:
    """Columns from the writer's schema in the header; records by walking the blocks."""
    reader = _AvroReader(data)
    if reader.raw(4) != AVRO_MAGIC:
        raise ValueError("not an Avro object container file")
    meta: dict[str, bytes] = {}
    while (count := reader.long()) != 0:
        if count < 0:  # a negative count is followed by the block's size in bytes
            count = -count
            reader.long()
        for _ in range(count):
            key = reader.raw(reader.long()).decode()
            meta[key] = reader.raw(reader.long())
    reader.raw(16)  # sync marker
    records = 0
    while reader.pos < len(data):
        records += reader.long()
        reader.raw(reader.long())
        reader.raw(16)
    literal = meta["avro.schema"].decode()
    schema = json.loads(literal)
    top = avro_type(schema)
    columns = top.fields if isinstance(top, Struct) else (("col0", top),)
    return FileSchema(
        classification="avro",
        columns=tuple((name.lower(), t) for name, t in columns),
        records=records,
        avro_schema=literal,
    )


_AVRO_PRIMITIVES = {
    "null": "string",
    "boolean": "boolean",
    "int": "int",
    "long": "bigint",
    "float": "float",
    "double": "double",
    "bytes": "binary",
    "string": "string",
}


def avro_type(schema: Any) -> HiveType:
    """The Hive type of an Avro schema (logical types included)."""
    if isinstance(schema, list):  # a union: ["null", T] is a nullable T
        branches = [b for b in schema if b != "null"]
        return avro_type(branches[0]) if len(branches) == 1 else "string"
    if isinstance(schema, str):
        return _AVRO_PRIMITIVES.get(schema, "string")
    logical = schema.get("logicalType")
    kind = schema.get("type")
    if logical == "decimal":
        return f"decimal({schema['precision']},{schema.get('scale', 0)})"
    if logical == "date":
        return "date"
    if logical in ("timestamp-millis", "timestamp-micros"):
        return "timestamp"
    if kind == "record":
        return Struct(tuple((f["name"], avro_type(f["type"])) for f in schema["fields"]))
    if kind == "array":
        return Array(avro_type(schema["items"]))
    if kind == "map":
        return Map("string", avro_type(schema["values"]))
    if kind == "fixed":
        return "binary"
    if kind == "enum":
        return "string"
    return avro_type(kind)
