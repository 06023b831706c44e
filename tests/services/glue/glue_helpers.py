"""Shared values and input builders for the Glue Data Catalog tests."""

from __future__ import annotations

from typing import Any

START = 1_700_000_000.0  # the ManualClock start of the catalog tests
DB = "lake"
TABLE = "events"
LOCATION = "s3://lake-bucket/events/"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def table_input(
    name: str = TABLE,
    *,
    partition_keys: list[tuple[str, str]] | None = None,
    columns: list[tuple[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A TableInput like the ones crawlers and Athena DDL write (Parquet, external)."""
    return {
        "Name": name,
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in (columns or [("id", "bigint")])],
            "Location": LOCATION,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": PARQUET_SERDE,
                "Parameters": {"serialization.format": "1"},
            },
        },
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in (partition_keys or [])],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        **extra,
    }


def partition_input(*values: str) -> dict[str, Any]:
    """A PartitionInput whose location is the Hive-style folder of its values."""
    folder = "/".join(f"k{i}={v}" for i, v in enumerate(values))
    return {
        "Values": list(values),
        "StorageDescriptor": {
            "Columns": [{"Name": "id", "Type": "bigint"}],
            "Location": f"{LOCATION}{folder}/",
        },
        "Parameters": {"objectCount": "1"},
    }


def values_of(partitions: list[dict[str, Any]]) -> list[list[str]]:
    return sorted(p["Values"] for p in partitions)


def all_partitions(glue: Any, table: str = TABLE, **kwargs: Any) -> list[dict[str, Any]]:
    """Every partition GetPartitions pages through."""
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=DB, TableName=table, **kwargs
    )
    return [p for page in pages for p in page["Partitions"]]
