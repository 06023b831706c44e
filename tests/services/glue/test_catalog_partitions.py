"""Partitions through boto3: create, batch, read, filter by expression and segment, page,
update, delete, and concurrent creators."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from glue_helpers import (
    DB,
    LOCATION,
    TABLE,
    all_partitions,
    partition_input,
    table_input,
    values_of,
)

KEYS = [("year", "int"), ("month", "string")]


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


@pytest.fixture
def lake(glue: Any) -> Any:
    """A database with TABLE partitioned by (year int, month string), empty."""
    glue.create_database(DatabaseInput={"Name": DB})
    glue.create_table(DatabaseName=DB, TableInput=table_input(partition_keys=KEYS))
    return glue


@pytest.fixture
def filled(lake: Any) -> Any:
    """TABLE with partitions for years 2019..2024, months 01..12 (72 partitions)."""
    inputs = [partition_input(str(y), f"{m:02d}") for y in range(2019, 2025) for m in range(1, 13)]
    for start in range(0, len(inputs), 100):
        errors = lake.batch_create_partition(
            DatabaseName=DB, TableName=TABLE, PartitionInputList=inputs[start : start + 100]
        )["Errors"]
        assert errors == []
    return lake


def test_created_partition_reads_back_as_the_partition_shape(lake: Any) -> None:
    lake.create_partition(
        DatabaseName=DB, TableName=TABLE, PartitionInput=partition_input("2024", "07")
    )
    partition = lake.get_partition(
        DatabaseName=DB, TableName=TABLE, PartitionValues=["2024", "07"]
    )["Partition"]
    assert partition["Values"] == ["2024", "07"]
    assert partition["DatabaseName"] == DB
    assert partition["TableName"] == TABLE
    assert partition["StorageDescriptor"]["Location"] == f"{LOCATION}k0=2024/k1=07/"
    assert partition["Parameters"] == {"objectCount": "1"}
    assert partition["CatalogId"] == "000000000000"
    assert "CreationTime" in partition


def test_partition_errors(lake: Any) -> None:
    lake.create_partition(
        DatabaseName=DB, TableName=TABLE, PartitionInput=partition_input("1", "2")
    )
    with pytest.raises(ClientError) as error:
        lake.create_partition(
            DatabaseName=DB, TableName=TABLE, PartitionInput=partition_input("1", "2")
        )
    assert _code(error) == ("AlreadyExistsException", "Partition already exists.")
    with pytest.raises(ClientError) as error:
        lake.create_partition(DatabaseName=DB, TableName=TABLE, PartitionInput=partition_input("1"))
    assert _code(error)[0] == "InvalidInputException"
    with pytest.raises(ClientError) as error:
        lake.get_partition(DatabaseName=DB, TableName=TABLE, PartitionValues=["9", "9"])
    assert _code(error)[0] == "EntityNotFoundException"
    with pytest.raises(ClientError) as error:
        lake.create_partition(
            DatabaseName=DB, TableName="ghost", PartitionInput=partition_input("1", "2")
        )
    assert _code(error) == ("EntityNotFoundException", "Table ghost not found.")
    with pytest.raises(ClientError) as error:
        lake.get_partitions(DatabaseName="nodb", TableName=TABLE)
    assert _code(error) == ("EntityNotFoundException", "Database nodb not found.")


def test_batch_create_partition_reports_duplicates_and_bad_value_counts(lake: Any) -> None:
    lake.create_partition(
        DatabaseName=DB, TableName=TABLE, PartitionInput=partition_input("1", "1")
    )
    errors = lake.batch_create_partition(
        DatabaseName=DB,
        TableName=TABLE,
        PartitionInputList=[
            partition_input("1", "1"),
            partition_input("2", "1"),
            partition_input("2", "1"),
            partition_input("3"),
        ],
    )["Errors"]
    assert [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in errors] == [
        (["1", "1"], "AlreadyExistsException"),
        (["2", "1"], "AlreadyExistsException"),
        (["3"], "InvalidInputException"),
    ]
    assert values_of(all_partitions(lake)) == [["1", "1"], ["2", "1"]]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("year = 2024 AND month = '07'", [["2024", "07"]]),
        ("year = '2024' AND month = '07'", [["2024", "07"]]),
        (
            "year >= 2023 AND month IN ('01', '12')",
            [[y, m] for y in ("2023", "2024") for m in ("01", "12")],
        ),
        ("year BETWEEN 2020 AND 2021 AND month = '03'", [["2020", "03"], ["2021", "03"]]),
        ("(year = 2019 OR year = 2024) AND month < '02'", [["2019", "01"], ["2024", "01"]]),
        ("NOT year <> 2022 AND month LIKE '1%'", [["2022", m] for m in ("10", "11", "12")]),
        ("year > 2023 AND month >= '12'", [["2024", "12"]]),
        ("year != 2019 AND year != 2020 AND year < 2022 AND month = '05'", [["2021", "05"]]),
    ],
)
def test_get_partitions_filters_by_expression(
    filled: Any, expression: str, expected: list[list[str]]
) -> None:
    assert values_of(all_partitions(filled, Expression=expression)) == sorted(expected)


def test_numeric_keys_compare_as_numbers_and_string_keys_as_strings(lake: Any) -> None:
    lake.create_table(
        DatabaseName=DB,
        TableInput=table_input("mixed", partition_keys=[("n", "bigint"), ("s", "string")]),
    )
    lake.batch_create_partition(
        DatabaseName=DB,
        TableName="mixed",
        PartitionInputList=[partition_input(v, v) for v in ("9", "10", "100")],
    )
    by_number = all_partitions(lake, "mixed", Expression="n > 9")
    by_string = all_partitions(lake, "mixed", Expression="s > '9'")
    assert sorted(p["Values"][0] for p in by_number) == ["10", "100"]
    assert by_string == []  # '10' and '100' sort before '9' as strings
    assert sorted(p["Values"][1] for p in all_partitions(lake, "mixed", Expression="s < '9'")) == [
        "10",
        "100",
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "year = ",
        "nokey = 1",
        "year = 'abc'",
        "year = 1 AND",
        "(year = 1",
        "year === 1",
        "year IN ()",
    ],
)
def test_a_bad_expression_is_invalid_input(filled: Any, expression: str) -> None:
    with pytest.raises(ClientError) as error:
        filled.get_partitions(DatabaseName=DB, TableName=TABLE, Expression=expression)
    assert _code(error)[0] == "InvalidInputException"


def test_segments_are_disjoint_and_together_hold_every_partition(filled: Any) -> None:
    everything = values_of(all_partitions(filled))
    assert len(everything) == 72
    for total in (1, 3, 10):
        shares = [
            values_of(all_partitions(filled, Segment={"SegmentNumber": n, "TotalSegments": total}))
            for n in range(total)
        ]
        union = sorted(v for share in shares for v in share)
        assert union == everything  # nothing lost, nothing twice
        if total > 1:
            assert sum(1 for share in shares if share) > 1
    with pytest.raises(ClientError) as error:
        filled.get_partitions(
            DatabaseName=DB, TableName=TABLE, Segment={"SegmentNumber": 3, "TotalSegments": 3}
        )
    assert _code(error)[0] == "InvalidInputException"


def test_segments_combine_with_expressions(filled: Any) -> None:
    expression = "year = 2021"
    shares = [
        all_partitions(
            filled, Expression=expression, Segment={"SegmentNumber": n, "TotalSegments": 4}
        )
        for n in range(4)
    ]
    assert sorted(v for s in shares for v in values_of(s)) == values_of(
        all_partitions(filled, Expression=expression)
    )


def test_get_partitions_pages_with_max_results(filled: Any) -> None:
    first = filled.get_partitions(DatabaseName=DB, TableName=TABLE, MaxResults=50)
    assert len(first["Partitions"]) == 50
    rest = filled.get_partitions(
        DatabaseName=DB, TableName=TABLE, MaxResults=50, NextToken=first["NextToken"]
    )
    assert len(rest["Partitions"]) == 22
    assert "NextToken" not in rest
    assert values_of(first["Partitions"] + rest["Partitions"]) == values_of(all_partitions(filled))
    filtered = filled.get_partitions(
        DatabaseName=DB, TableName=TABLE, Expression="month = '06'", MaxResults=4
    )
    more = filled.get_partitions(
        DatabaseName=DB,
        TableName=TABLE,
        Expression="month = '06'",
        MaxResults=4,
        NextToken=filtered["NextToken"],
    )
    assert len(filtered["Partitions"]) == 4
    assert len(more["Partitions"]) == 2


def test_exclude_column_schema_leaves_out_the_columns(filled: Any) -> None:
    partitions = filled.get_partitions(
        DatabaseName=DB, TableName=TABLE, ExcludeColumnSchema=True, MaxResults=3
    )["Partitions"]
    assert all("Columns" not in p["StorageDescriptor"] for p in partitions)
    assert all(p["StorageDescriptor"]["Location"].startswith(LOCATION) for p in partitions)


def test_batch_get_partition_returns_those_that_exist(filled: Any) -> None:
    found = filled.batch_get_partition(
        DatabaseName=DB,
        TableName=TABLE,
        PartitionsToGet=[{"Values": ["2020", "01"]}, {"Values": ["1999", "01"]}],
    )
    assert values_of(found["Partitions"]) == [["2020", "01"]]
    assert found["UnprocessedKeys"] == []


def test_update_partition_changes_and_can_move_it(lake: Any) -> None:
    lake.create_partition(
        DatabaseName=DB, TableName=TABLE, PartitionInput=partition_input("1", "1")
    )
    changed = partition_input("1", "1") | {"Parameters": {"recordCount": "5"}}
    lake.update_partition(
        DatabaseName=DB, TableName=TABLE, PartitionValueList=["1", "1"], PartitionInput=changed
    )
    got = lake.get_partition(DatabaseName=DB, TableName=TABLE, PartitionValues=["1", "1"])
    assert got["Partition"]["Parameters"] == {"recordCount": "5"}
    lake.update_partition(
        DatabaseName=DB,
        TableName=TABLE,
        PartitionValueList=["1", "1"],
        PartitionInput=partition_input("1", "2"),
    )
    assert values_of(all_partitions(lake)) == [["1", "2"]]
    with pytest.raises(ClientError) as error:
        lake.update_partition(
            DatabaseName=DB,
            TableName=TABLE,
            PartitionValueList=["7", "7"],
            PartitionInput=partition_input("7", "7"),
        )
    assert _code(error)[0] == "EntityNotFoundException"


def test_delete_partition_and_batch_delete(filled: Any) -> None:
    filled.delete_partition(DatabaseName=DB, TableName=TABLE, PartitionValues=["2019", "01"])
    with pytest.raises(ClientError) as error:
        filled.delete_partition(DatabaseName=DB, TableName=TABLE, PartitionValues=["2019", "01"])
    assert _code(error)[0] == "EntityNotFoundException"
    errors = filled.batch_delete_partition(
        DatabaseName=DB,
        TableName=TABLE,
        PartitionsToDelete=[{"Values": ["2019", "02"]}, {"Values": ["2019", "01"]}],
    )["Errors"]
    assert [(e["PartitionValues"], e["ErrorDetail"]["ErrorCode"]) for e in errors] == [
        (["2019", "01"], "EntityNotFoundException")
    ]
    assert len(all_partitions(filled)) == 70
    assert all_partitions(filled, Expression="year = 2019 AND month < '03'") == []


def test_concurrent_batch_creates_store_every_partition_once(
    lake: Any, catalog_server: Any
) -> None:
    wanted = [partition_input(str(y), f"{m:02d}") for y in range(2000, 2010) for m in range(1, 11)]
    workers = 6

    def create(worker: int) -> int:
        client = catalog_server.client("glue")
        # Every worker submits every partition, in its own order, in batches of 25.
        mine = wanted[worker * 7 :] + wanted[: worker * 7]
        errors = 0
        for start in range(0, len(mine), 25):
            errors += len(
                client.batch_create_partition(
                    DatabaseName=DB, TableName=TABLE, PartitionInputList=mine[start : start + 25]
                )["Errors"]
            )
        return errors

    with ThreadPoolExecutor(workers) as pool:
        error_counts = list(pool.map(create, range(workers)))
    stored = all_partitions(lake)
    assert len(stored) == len(wanted)
    assert values_of(stored) == sorted(p["Values"] for p in wanted)
    # Each partition was created by exactly one worker; every other attempt was refused.
    assert sum(error_counts) == len(wanted) * (workers - 1)
