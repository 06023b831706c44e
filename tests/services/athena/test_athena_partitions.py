"""Partitioned tables: pruning before files are opened, MSCK REPAIR, ALTER TABLE ADD PARTITION."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from athena_helpers import LAKE, create_parquet_table, parquet_bytes, query, run

YEARS = ("2022", "2023", "2024")
MONTHS = ("01", "02")


@pytest.fixture(scope="module")
def clicks(s3: Any, glue: Any) -> dict[tuple[str, str], int]:
    """`clicks` partitioned by year and month: one file per partition, sizes by partition."""
    sizes = {}
    for y in YEARS:
        for m in MONTHS:
            body = parquet_bytes(pa.table({"user": [f"u{y}{m}{i}" for i in range(int(m) * 10)]}))
            s3.put_object(Bucket=LAKE, Key=f"clicks/year={y}/month={m}/data.parquet", Body=body)
            sizes[(y, m)] = len(body)
    create_parquet_table(
        glue,
        "clicks",
        f"s3://{LAKE}/clicks/",
        [("user", "string")],
        [("year", "string"), ("month", "int")],
    )
    return sizes


def test_msck_repair_adds_every_key_value_folder_as_a_partition(
    athena: Any, glue: Any, clicks: dict[tuple[str, str], int]
) -> None:
    execution = run(athena, "MSCK REPAIR TABLE clicks")
    assert execution["Status"]["State"] == "SUCCEEDED"
    parts = glue.get_partitions(DatabaseName="db", TableName="clicks")["Partitions"]
    assert sorted(tuple(p["Values"]) for p in parts) == sorted(clicks)
    location = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in parts}
    assert location[("2023", "02")] == f"s3://{LAKE}/clicks/year=2023/month=02/"
    shown = query(athena, "SHOW PARTITIONS clicks")
    assert ["year=2024/month=01"] in shown and len(shown) == len(clicks)


def test_where_on_partition_keys_reads_only_matching_files(
    athena: Any, clicks: dict[tuple[str, str], int]
) -> None:
    run(athena, "MSCK REPAIR TABLE clicks")
    everything = run(athena, "SELECT count(*) FROM clicks")
    assert everything["Statistics"]["DataScannedInBytes"] == sum(clicks.values())
    one = run(athena, "SELECT count(*) FROM clicks WHERE year = '2024' AND month = 2")
    assert one["Statistics"]["DataScannedInBytes"] == clicks[("2024", "02")]
    some = run(
        athena,
        "SELECT count(*) AS n FROM clicks c "
        "WHERE c.year IN ('2022', '2023') AND c.month > 1 AND c.user <> ''",
    )
    assert (
        some["Statistics"]["DataScannedInBytes"] == clicks[("2022", "02")] + clicks[("2023", "02")]
    )
    from athena_helpers import rows

    assert rows(athena, some["QueryExecutionId"])[1] == ["40"]


def test_partition_columns_are_queryable_values(
    athena: Any, clicks: dict[tuple[str, str], int]
) -> None:
    run(athena, "MSCK REPAIR TABLE clicks")
    got = query(
        athena, "SELECT year, month, count(*) FROM clicks GROUP BY year, month ORDER BY 1, 2"
    )
    assert got[1] == ["2022", "1", "10"] and got[-1] == ["2024", "2", "20"]


def test_alter_table_add_partition_registers_explicit_locations(
    athena: Any, s3: Any, glue: Any
) -> None:
    s3.put_object(
        Bucket=LAKE, Key="odd/first/d.parquet", Body=parquet_bytes(pa.table({"v": [1, 2]}))
    )
    s3.put_object(
        Bucket=LAKE, Key="odd/second/d.parquet", Body=parquet_bytes(pa.table({"v": [10]}))
    )
    create_parquet_table(glue, "odd", f"s3://{LAKE}/odd/", [("v", "bigint")], [("p", "string")])
    sql = (
        f"ALTER TABLE odd ADD IF NOT EXISTS PARTITION (p='a') LOCATION 's3://{LAKE}/odd/first/' "
        f"PARTITION (p='b') LOCATION 's3://{LAKE}/odd/second/'"
    )
    assert run(athena, sql)["Status"]["State"] == "SUCCEEDED"
    assert query(athena, "SELECT p, sum(v) FROM odd GROUP BY p ORDER BY p")[1:] == [
        ["a", "3"],
        ["b", "10"],
    ]
    assert run(athena, sql)["Status"]["State"] == "SUCCEEDED"  # IF NOT EXISTS: no error
    again = run(athena, sql.replace(" IF NOT EXISTS", ""))
    assert again["Status"]["State"] == "FAILED"
    assert "already exists" in again["Status"]["StateChangeReason"]


def test_unregistered_partitions_are_not_read(athena: Any, s3: Any, glue: Any) -> None:
    s3.put_object(Bucket=LAKE, Key="fresh/k=1/d.parquet", Body=parquet_bytes(pa.table({"v": [1]})))
    create_parquet_table(glue, "fresh", f"s3://{LAKE}/fresh/", [("v", "bigint")], [("k", "int")])
    # Athena does not discover partitions by itself: before MSCK REPAIR the table is empty.
    assert query(athena, "SELECT count(*) FROM fresh")[1] == ["0"]
    run(athena, "MSCK REPAIR TABLE fresh")
    assert query(athena, "SELECT count(*) FROM fresh")[1] == ["1"]
