"""CREATE TABLE AS SELECT and INSERT INTO: Parquet written to S3 and registered in Glue."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from athena_helpers import LAKE, RESULTS, create_parquet_table, parquet_bytes, query, run


@pytest.fixture(scope="module")
def orders(s3: Any, glue: Any) -> None:
    table = pa.table(
        {
            "id": list(range(100)),
            "kind": ["a", "b", "c", "d"] * 25,
            "amount": [i * 1.5 for i in range(100)],
        }
    )
    s3.put_object(Bucket=LAKE, Key="orders/o.parquet", Body=parquet_bytes(table))
    create_parquet_table(
        glue,
        "orders",
        f"s3://{LAKE}/orders/",
        [("id", "bigint"), ("kind", "string"), ("amount", "double")],
    )


def test_ctas_writes_parquet_registers_the_table_and_it_can_be_queried(
    athena: Any, glue: Any, s3: Any, orders: None
) -> None:
    execution = run(
        athena, "CREATE TABLE big_orders AS SELECT id, amount FROM orders WHERE amount > 100"
    )
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["StatementType"] == "DDL"
    query_id = execution["QueryExecutionId"]
    assert athena.get_query_results(QueryExecutionId=query_id)["UpdateCount"] == 33
    table = glue.get_table(DatabaseName="db", Name="big_orders")["Table"]
    location = table["StorageDescriptor"]["Location"]
    assert location == f"{RESULTS}tables/{query_id}/"
    assert [c["Type"] for c in table["StorageDescriptor"]["Columns"]] == ["bigint", "double"]
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket="athena-results", Prefix=f"out/tables/{query_id}/")[
            "Contents"
        ]
    ]
    assert keys and all(k.endswith(".parquet") for k in keys)
    manifest = execution["Statistics"]["DataManifestLocation"]
    listed = (
        s3.get_object(Bucket="athena-results", Key=manifest.split("/", 3)[3])["Body"]
        .read()
        .decode()
        .split()
    )
    assert listed == [f"s3://athena-results/{k}" for k in sorted(keys)]
    assert query(athena, "SELECT count(*), min(id) FROM big_orders")[1] == ["33", "67"]


def test_ctas_with_external_location_and_partitioning(athena: Any, glue: Any, orders: None) -> None:
    sql = (
        "CREATE TABLE by_kind WITH (format = 'PARQUET', external_location = "
        f"'s3://{LAKE}/by_kind/', partitioned_by = ARRAY['kind']) "
        "AS SELECT id, amount, kind FROM orders"
    )
    assert run(athena, sql)["Status"]["State"] == "SUCCEEDED"
    table = glue.get_table(DatabaseName="db", Name="by_kind")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["kind"]
    parts = glue.get_partitions(DatabaseName="db", TableName="by_kind")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == ["a", "b", "c", "d"]
    pruned = run(athena, "SELECT count(*) FROM by_kind WHERE kind = 'b'")
    everything = run(athena, "SELECT count(*) FROM by_kind")
    assert (
        0
        < pruned["Statistics"]["DataScannedInBytes"]
        < everything["Statistics"]["DataScannedInBytes"]
    )
    again = run(athena, sql.replace("by_kind WITH", "by_kind2 WITH"))
    assert again["Status"]["State"] == "FAILED"
    assert again["Status"]["StateChangeReason"].startswith("HIVE_PATH_ALREADY_EXISTS")


def test_ctas_of_an_existing_table_fails(athena: Any, orders: None) -> None:
    execution = run(athena, "CREATE TABLE orders AS SELECT 1 AS x")
    assert execution["Status"]["StateChangeReason"] == (
        "ALREADY_EXISTS: line 1:1: Table 'awsdatacatalog.db.orders' already exists"
    )


def test_insert_into_adds_files_and_reports_the_row_count(athena: Any, orders: None) -> None:
    assert (
        run(athena, "CREATE TABLE sink AS SELECT id, kind FROM orders WHERE id < 3")["Status"][
            "State"
        ]
        == "SUCCEEDED"
    )
    execution = run(athena, "INSERT INTO sink SELECT id, kind FROM orders WHERE id >= 98")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["StatementType"] == "DML"
    assert (
        athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["UpdateCount"] == 2
    )
    run(athena, "INSERT INTO sink (kind, id) VALUES ('z', 1000)")
    assert query(athena, "SELECT count(*), max(id) FROM sink")[1] == ["6", "1000"]
