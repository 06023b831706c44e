"""The catalog entries a crawler writes: TableInput and PartitionInput, with AWS's exact values.

Input/output formats and SerDes per classification are the ones real crawlers write (spec
§8.2). Crawler parameters sit both on the table and on its StorageDescriptor: classification,
compressionType, typeOfData, UPDATED_BY_CRAWLER, the schema (de)serializer versions and the data
statistics (recordCount, sizeKey, objectCount, averageRecordSize; all strings); CSV adds
delimiter, columnsOrdered, areColumnsQuoted and, with a header, skip.header.line.count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tule.services.glue.crawlers.grouping import CrawledFile
from tule.services.glue.crawlers.hive_types import finish, render
from tule.services.glue.crawlers.schema import FileSchema

Shape = dict[str, Any]

_TEXT_IO = (
    "org.apache.hadoop.mapred.TextInputFormat",
    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
)
IO_FORMATS: dict[str, tuple[str, str]] = {
    "csv": _TEXT_IO,
    "json": _TEXT_IO,
    "parquet": (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    ),
    "orc": (
        "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
        "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
    ),
    "avro": (
        "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat",
        "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat",
    ),
}
LAZY_SIMPLE_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
OPEN_CSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
ORC_SERDE = "org.apache.hadoop.hive.ql.io.orc.OrcSerde"
AVRO_SERDE = "org.apache.hadoop.hive.serde2.avro.AvroSerDe"

# The statistics parameters: they change with the data, not with the schema.
STAT_PARAMETERS = ("averageRecordSize", "objectCount", "recordCount", "sizeKey")


def uses_open_csv(schema: FileSchema) -> bool:
    if schema.serde == "OpenCSVSerDe":
        return True
    return schema.serde != "LazySimpleSerDe" and schema.quoted


def serde_info(schema: FileSchema) -> Shape:
    c = schema.classification
    if c == "csv":
        if uses_open_csv(schema):
            params = {"separatorChar": schema.delimiter or ",", "quoteChar": schema.quote_char}
            return {"SerializationLibrary": OPEN_CSV_SERDE, "Parameters": params}
        return {
            "SerializationLibrary": LAZY_SIMPLE_SERDE,
            "Parameters": {"field.delim": schema.delimiter or ","},
        }
    if c == "json":
        return {
            "SerializationLibrary": JSON_SERDE,
            "Parameters": {"paths": ",".join(schema.json_keys)},
        }
    if c == "parquet":
        return {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}}
    if c == "orc":
        return {"SerializationLibrary": ORC_SERDE, "Parameters": {"serialization.format": "1"}}
    return {
        "SerializationLibrary": AVRO_SERDE,
        "Parameters": {"avro.schema.literal": schema.avro_schema or ""},
    }


def statistics(files: Sequence[CrawledFile], records: int) -> dict[str, str]:
    size = sum(f.size for f in files)
    return {
        "averageRecordSize": str(size // records if records else 0),
        "objectCount": str(len(files)),
        "recordCount": str(records),
        "sizeKey": str(size),
    }


def parameters(schema: FileSchema, files: Sequence[CrawledFile], crawler: str) -> dict[str, str]:
    """The crawler's parameters for data of `schema` made of `files`."""
    params = {
        "CrawlerSchemaDeserializerVersion": "1.0",
        "CrawlerSchemaSerializerVersion": "1.0",
        "UPDATED_BY_CRAWLER": crawler,
        "classification": schema.classification,
        "compressionType": schema.compression,
        "typeOfData": "file",
    }
    if schema.classification == "csv":
        params |= {
            "areColumnsQuoted": "true" if schema.quoted else "false",
            "columnsOrdered": "true",
            "delimiter": schema.delimiter or ",",
        }
        if schema.header:
            params["skip.header.line.count"] = "1"
    if schema.classification == "avro" and schema.avro_schema:
        params["avro.schema.literal"] = schema.avro_schema
    return params | statistics(files, schema.records)


def columns(schema: FileSchema, exclude: Sequence[str] = ()) -> list[Shape]:
    return [
        {"Name": name, "Type": render(finish(t))}
        for name, t in schema.columns
        if name not in exclude
    ]


def storage_descriptor(
    schema: FileSchema, location: str, params: dict[str, str], exclude: Sequence[str] = ()
) -> Shape:
    input_format, output_format = IO_FORMATS[schema.classification]
    return {
        "Columns": columns(schema, exclude),
        "Location": location,
        "InputFormat": input_format,
        "OutputFormat": output_format,
        "Compressed": False,
        "NumberOfBuckets": -1,
        "SerdeInfo": serde_info(schema),
        "BucketColumns": [],
        "SortColumns": [],
        "Parameters": dict(params),
        "StoredAsSubDirectories": False,
    }


def table_input(
    name: str,
    schema: FileSchema,
    files: Sequence[CrawledFile],
    location: str,
    partition_keys: Sequence[str],
    crawler: str,
) -> Shape:
    params = parameters(schema, files, crawler)
    table_params = dict(params)
    if schema.classification == "csv" and uses_open_csv(schema):
        table_params["customSerde"] = "OpenCSVSerDe"
    return {
        "Name": name,
        "Owner": "owner",
        "Retention": 0,
        "StorageDescriptor": storage_descriptor(schema, location, params, partition_keys),
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in partition_keys],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": table_params,
    }


def partition_input(
    values: Sequence[str],
    schema: FileSchema,
    files: Sequence[CrawledFile],
    location: str,
    partition_keys: Sequence[str],
    crawler: str,
) -> Shape:
    params = parameters(schema, files, crawler)
    return {
        "Values": list(values),
        "StorageDescriptor": storage_descriptor(schema, location, params, partition_keys),
        "Parameters": {},
    }


def without_statistics(shape: Shape) -> Shape:
    """A table or partition input minus what changes with the data alone (to tell a schema
    change from new rows)."""
    out = dict(shape)
    params = {k: v for k, v in (out.get("Parameters") or {}).items() if k not in STAT_PARAMETERS}
    out["Parameters"] = params
    sd = dict(out.get("StorageDescriptor") or {})
    sd["Parameters"] = {
        k: v for k, v in (sd.get("Parameters") or {}).items() if k not in STAT_PARAMETERS
    }
    out["StorageDescriptor"] = sd
    return out
