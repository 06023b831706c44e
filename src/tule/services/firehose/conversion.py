"""Record format conversion: JSON records to Parquet or ORC with a Glue table's schema.

Input is one JSON object per record, read with the OpenX JSON SerDe (keys matched to columns
case-insensitively by default, dots in keys optionally turned into underscores, explicit
`ColumnToJsonKeyMappings`) or the Hive JSON SerDe (keys matched case-insensitively, timestamps
parsed with `TimestampFormats`, Joda patterns or `millis`). Columns missing from a record are
null; keys that are no column are ignored.

Two ways to the same table. The fast one hands all records to Arrow's JSON reader at once
(newline-joined), maps the columns it finds onto the table's and casts them; it is taken only
when it is safe: no record spans lines, every record is an object, every cast succeeds. Any
doubt sends the batch the slow way: each record parsed and converted in Python, so a record
that does not fit fails alone and goes to the format-conversion-failed output with the reason.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.orc as orc
import pyarrow.parquet as pq

_PARQUET_COMPRESSION = {"SNAPPY": "snappy", "GZIP": "gzip", "UNCOMPRESSED": "none"}
_ORC_COMPRESSION = {"SNAPPY": "snappy", "ZLIB": "zlib", "NONE": "uncompressed"}


class ConversionError(ValueError):
    """A record that cannot become a row of the table."""


@dataclass(frozen=True)
class Converted:
    body: bytes
    rows: int
    failed: list[tuple[int, str]]  # (index of the record, why)


@dataclass(frozen=True)
class Reader:
    """How JSON keys map to columns, from the InputFormatConfiguration's deserializer."""

    case_insensitive: bool = True
    dots_to_underscores: bool = False
    mappings: tuple[tuple[str, str], ...] = ()  # (column, json key)
    timestamp_formats: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, deserializer: dict[str, Any]) -> Reader:
        if "HiveJsonSerDe" in deserializer:
            formats = (deserializer["HiveJsonSerDe"] or {}).get("TimestampFormats") or []
            return cls(timestamp_formats=tuple(formats))
        openx = deserializer.get("OpenXJsonSerDe") or {}
        return cls(
            case_insensitive=openx.get("CaseInsensitive", True),
            dots_to_underscores=bool(openx.get("ConvertDotsInJsonKeysToUnderscores", False)),
            mappings=tuple(
                (c.lower(), k) for c, k in (openx.get("ColumnToJsonKeyMappings") or {}).items()
            ),
        )

    def column_for(self, key: str) -> str:
        """The column name a top-level JSON key fills."""
        for column, json_key in self.mappings:
            if key == json_key:
                return column
        if self.dots_to_underscores:
            key = key.replace(".", "_")
        return key.lower() if self.case_insensitive else key

    def field_key(self, key: str) -> str:
        return key.lower() if self.case_insensitive else key


# -- values, the slow way ---------------------------------------------------------------------

_JODA = [
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSSSSS", "%f"),
    ("SSS", "%f"),
    ("ZZ", "%z"),
    ("Z", "%z"),
    ("a", "%p"),
    ("EEE", "%a"),
    ("MMM", "%b"),
]


def _joda(pattern: str) -> str:
    """A Joda-Time pattern as a strptime format (the letters JSON timestamps use)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "'":
            end = pattern.find("'", i + 1)
            end = len(pattern) if end < 0 else end
            out.append(pattern[i + 1 : end].replace("%", "%%") or "'")
            i = end + 1
            continue
        for token, directive in _JODA:
            if pattern.startswith(token, i):
                out.append(directive)
                i += len(token)
                break
        else:
            out.append("%%" if pattern[i] == "%" else pattern[i])
            i += 1
    return "".join(out)


def _to_timestamp(value: Any, formats: tuple[str, ...]) -> dt.datetime:
    if isinstance(value, bool):
        raise ConversionError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        seconds = value / 1000 if "millis" in formats else value
        return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
    if not isinstance(value, str):
        raise ConversionError(f"{type(value).__name__} is not a timestamp")
    for fmt in formats:
        if fmt == "millis":
            if value.lstrip("-").isdigit():
                return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC).replace(tzinfo=None)
            continue
        try:
            parsed = dt.datetime.strptime(value, _joda(fmt))
        except ValueError:
            continue
        return _naive_utc(parsed)
    try:
        return _naive_utc(dt.datetime.fromisoformat(value))
    except ValueError:
        raise ConversionError(f"cannot parse timestamp {value!r}") from None


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


_INT_TEXT = re.compile(r"^[+-]?\d+$")


def _converter(typ: pa.DataType, reader: Reader) -> Callable[[Any], Any]:
    """A function turning a JSON value into a Python value Arrow accepts for `typ`."""
    if pa.types.is_string(typ):
        return lambda v: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    if pa.types.is_integer(typ):
        info = {8: 2**7, 16: 2**15, 32: 2**31, 64: 2**63}[typ.bit_width]

        def to_int(v: Any) -> int:
            if isinstance(v, bool):
                raise ConversionError("a boolean is not an integer")
            if (isinstance(v, float) and v.is_integer()) or (
                isinstance(v, str) and _INT_TEXT.match(v.strip())
            ):
                v = int(v)
            if not isinstance(v, int):
                raise ConversionError(f"{v!r} is not an integer")
            if not -info <= v < info:
                raise ConversionError(f"{v} is out of range for {typ}")
            return v

        return to_int
    if pa.types.is_floating(typ):

        def to_float(v: Any) -> float:
            if isinstance(v, bool):
                raise ConversionError("a boolean is not a number")
            try:
                return float(v)
            except (TypeError, ValueError):
                raise ConversionError(f"{v!r} is not a number") from None

        return to_float
    if pa.types.is_boolean(typ):

        def to_bool(v: Any) -> bool:
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.lower() in ("true", "false"):
                return v.lower() == "true"
            raise ConversionError(f"{v!r} is not a boolean")

        return to_bool
    if pa.types.is_timestamp(typ):
        return lambda v: _to_timestamp(v, reader.timestamp_formats)
    if pa.types.is_date(typ):

        def to_date(v: Any) -> dt.date:
            if isinstance(v, str):
                try:
                    return dt.date.fromisoformat(v[:10])
                except ValueError:
                    raise ConversionError(f"cannot parse date {v!r}") from None
            if isinstance(v, int) and not isinstance(v, bool):
                return dt.date(1970, 1, 1) + dt.timedelta(days=v)
            raise ConversionError(f"{v!r} is not a date")

        return to_date
    if pa.types.is_decimal(typ):
        quantum = decimal.Decimal(1).scaleb(-typ.scale)
        limit = decimal.Decimal(10) ** (typ.precision - typ.scale)

        def to_decimal(v: Any) -> decimal.Decimal:
            if isinstance(v, bool):
                raise ConversionError("a boolean is not a decimal")
            try:
                d = decimal.Decimal(str(v)).quantize(quantum, rounding=decimal.ROUND_HALF_UP)
            except (decimal.InvalidOperation, ValueError):
                raise ConversionError(f"{v!r} is not a decimal") from None
            if abs(d) >= limit:
                raise ConversionError(f"{v} does not fit decimal({typ.precision},{typ.scale})")
            return d

        return to_decimal
    if pa.types.is_binary(typ):
        return lambda v: v.encode() if isinstance(v, str) else json.dumps(v).encode()
    if pa.types.is_list(typ):
        item = _nullable(_converter(typ.value_type, reader))

        def to_list(v: Any) -> list[Any]:
            if not isinstance(v, list):
                raise ConversionError(f"{type(v).__name__} is not an array")
            return [item(x) for x in v]

        return to_list
    if pa.types.is_map(typ):
        key = _converter(typ.key_type, reader)
        value = _nullable(_converter(typ.item_type, reader))

        def to_map(v: Any) -> list[tuple[Any, Any]]:
            if not isinstance(v, dict):
                raise ConversionError(f"{type(v).__name__} is not an object")
            return [(key(k), value(x)) for k, x in v.items()]

        return to_map
    if pa.types.is_struct(typ):
        fields = [
            (typ.field(i).name, _nullable(_converter(typ.field(i).type, reader)))
            for i in range(typ.num_fields)
        ]

        def to_struct(v: Any) -> dict[str, Any]:
            if not isinstance(v, dict):
                raise ConversionError(f"{type(v).__name__} is not an object")
            found = {reader.field_key(k): x for k, x in v.items()}
            return {name: conv(found.get(name)) for name, conv in fields}

        return to_struct
    raise ConversionError(f"unsupported column type {typ}")


def _nullable(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else conv(v)


def _slow_table(
    records: list[bytes], schema: pa.Schema, reader: Reader
) -> tuple[pa.Table, list[tuple[int, str]]]:
    converters = [(f.name, _nullable(_converter(f.type, reader))) for f in schema]
    columns: list[list[Any]] = [[] for _ in converters]
    failed: list[tuple[int, str]] = []
    for index, raw in enumerate(records):
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise ConversionError("the record is not a JSON object")
            found: dict[str, Any] = {}
            for key, value in obj.items():
                found.setdefault(reader.column_for(key), value)
            row = [conv(found.get(name)) for name, conv in converters]
        except (ValueError, TypeError, ConversionError) as err:
            failed.append((index, str(err) or type(err).__name__))
            continue
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema), failed


# -- the fast way -------------------------------------------------------------------------------


def _joined(records: list[bytes]) -> bytes | None:
    """All records as newline-delimited JSON, or None when some record spans lines."""
    joined = b"\n".join(records)
    if joined.count(b"\n") == len(records) - 1:
        return joined
    joined = b"".join(records)
    if joined.count(b"\n") == len(records) and joined.endswith(b"\n"):
        return joined
    return None


def _cast(column: pa.ChunkedArray, typ: pa.DataType, reader: Reader) -> pa.ChunkedArray:
    source = column.type
    if pa.types.is_timestamp(typ) and (pa.types.is_integer(source) or pa.types.is_floating(source)):
        scale = 1 if "millis" in reader.timestamp_formats else 1000
        millis = pc.multiply(pc.cast(column, pa.float64()), scale)
        return pc.cast(pc.cast(millis, pa.int64()), typ)
    if pa.types.is_timestamp(typ) and pa.types.is_string(source) and reader.timestamp_formats:
        raise ConversionError("custom timestamp formats are parsed record by record")
    if pa.types.is_string(typ) and (
        pa.types.is_nested(source) or pa.types.is_boolean(source) or pa.types.is_timestamp(source)
    ):
        raise ConversionError("non-scalar values become JSON text record by record")
    if pa.types.is_boolean(source) and not pa.types.is_boolean(typ):
        raise ConversionError("booleans are only booleans")
    if pa.types.is_floating(source) and pa.types.is_integer(typ):
        raise ConversionError("fractional numbers are checked record by record")
    return pc.cast(column, typ, safe=True)


def _fast_table(records: list[bytes], schema: pa.Schema, reader: Reader) -> pa.Table | None:
    text = _joined(records)
    if text is None:
        return None
    try:
        parsed = pajson.read_json(io.BytesIO(text))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if parsed.num_rows != len(records):
        return None
    sources: dict[str, str] = {}
    for name in parsed.column_names:
        column = reader.column_for(name)
        if column in sources:
            return None  # two keys for one column: which wins is decided record by record
        sources[column] = name
    arrays = []
    try:
        for f in schema:
            name = sources.get(f.name)
            if name is None:
                arrays.append(pa.nulls(len(records), type=f.type))
                continue
            column = parsed.column(name)
            if pa.types.is_nested(f.type) and column.type != f.type:
                return None  # nested field names and types are matched record by record
            arrays.append(_cast(column, f.type, reader))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ConversionError):
        return None
    return pa.Table.from_arrays(arrays, schema=schema)


def to_table(
    records: list[bytes], schema: pa.Schema, reader: Reader
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The rows of `records` under `schema`, and the records that failed with why."""
    if records:
        table = _fast_table(records, schema, reader)
        if table is not None:
            return table, []
    return _slow_table(records, schema, reader)


# -- writing -------------------------------------------------------------------------------------


def write(table: pa.Table, serializer: dict[str, Any]) -> bytes:
    """`table` as a Parquet or ORC file, per the OutputFormatConfiguration's serializer."""
    sink = io.BytesIO()
    if "OrcSerDe" in serializer:
        conf = serializer["OrcSerDe"] or {}
        kwargs: dict[str, Any] = {
            "compression": _ORC_COMPRESSION[conf.get("Compression", "SNAPPY")],
            "file_version": "0.11" if conf.get("FormatVersion") == "V0_11" else "0.12",
        }
        if "StripeSizeBytes" in conf:
            kwargs["stripe_size"] = conf["StripeSizeBytes"]
        if "RowIndexStride" in conf:
            kwargs["row_index_stride"] = conf["RowIndexStride"]
        if conf.get("BloomFilterColumns"):
            names = [c.lower() for c in conf["BloomFilterColumns"]]
            kwargs["bloom_filter_columns"] = [
                i for i, n in enumerate(table.column_names) if n in names
            ]
            kwargs["bloom_filter_fpp"] = conf.get("BloomFilterFalsePositiveProbability", 0.05)
        if "DictionaryKeyThreshold" in conf:
            kwargs["dictionary_key_size_threshold"] = conf["DictionaryKeyThreshold"]
        orc.write_table(table, sink, **kwargs)
    else:
        conf = serializer.get("ParquetSerDe") or {}
        pq.write_table(
            table,
            sink,
            compression=_PARQUET_COMPRESSION[conf.get("Compression", "SNAPPY")],
            use_dictionary=conf.get("EnableDictionaryCompression", True),
            data_page_size=conf.get("PageSizeBytes", 1024 * 1024),
            data_page_version="2.0" if conf.get("WriterVersion") == "V2" else "1.0",
        )
    return sink.getvalue()


def convert(records: list[bytes], schema: pa.Schema, config: dict[str, Any]) -> Converted:
    """JSON records to the configured columnar format (DataFormatConversionConfiguration)."""
    reader = Reader.from_config(
        (config.get("InputFormatConfiguration") or {}).get("Deserializer") or {}
    )
    table, failed = to_table(records, schema, reader)
    body = write(table, (config.get("OutputFormatConfiguration") or {}).get("Serializer") or {})
    return Converted(body, table.num_rows, failed)
