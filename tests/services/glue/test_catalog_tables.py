"""Tables through boto3: create, read, list by pattern and page, versions, delete, search, tags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from glue_helpers import DB, LOCATION, START, TABLE, partition_input, table_input

ACCOUNT = "000000000000"


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


@pytest.fixture
def lake(glue: Any) -> Any:
    glue.create_database(DatabaseInput={"Name": DB})
    return glue


def test_created_table_reads_back_as_the_table_shape(lake: Any) -> None:
    lake.create_table(
        DatabaseName=DB,
        TableInput=table_input(partition_keys=[("year", "string")], Description="clicks"),
    )
    table = lake.get_table(DatabaseName=DB, Name=TABLE)["Table"]
    assert table["Name"] == TABLE
    assert table["DatabaseName"] == DB
    assert table["Description"] == "clicks"
    assert table["StorageDescriptor"]["Location"] == LOCATION
    assert table["StorageDescriptor"]["Columns"] == [{"Name": "id", "Type": "bigint"}]
    assert table["PartitionKeys"] == [{"Name": "year", "Type": "string"}]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"] == {"classification": "parquet"}
    assert table["CreateTime"] == table["UpdateTime"] == datetime.fromtimestamp(START, UTC)
    assert table["CatalogId"] == ACCOUNT
    assert table["CreatedBy"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert table["IsRegisteredWithLakeFormation"] is False
    assert table["VersionId"] == "0"
    assert table["Retention"] == 0


def test_table_names_are_lower_cased(lake: Any) -> None:
    lake.create_table(DatabaseName=DB.upper(), TableInput=table_input("Mixed_Case"))
    assert lake.get_table(DatabaseName=DB, Name="MIXED_CASE")["Table"]["Name"] == "mixed_case"
    with pytest.raises(ClientError) as error:
        lake.create_table(DatabaseName=DB, TableInput=table_input("mixed_case"))
    assert _code(error) == ("AlreadyExistsException", "Table already exists.")


def test_table_errors_name_the_missing_database_or_table(lake: Any) -> None:
    with pytest.raises(ClientError) as error:
        lake.create_table(DatabaseName="nodb", TableInput=table_input())
    assert _code(error) == ("EntityNotFoundException", "Database nodb not found.")
    with pytest.raises(ClientError) as error:
        lake.get_table(DatabaseName=DB, Name="missing")
    assert _code(error) == ("EntityNotFoundException", "Table missing not found.")
    with pytest.raises(ClientError) as error:
        lake.get_tables(DatabaseName="nodb")
    assert _code(error) == ("EntityNotFoundException", "Database nodb not found.")


def test_get_tables_expression_is_a_pattern_with_star_wildcards(lake: Any) -> None:
    for name in ("sales_2023", "sales_2024", "returns", "salesman"):
        lake.create_table(DatabaseName=DB, TableInput=table_input(name))

    def names(expression: str) -> list[str]:
        tables = lake.get_tables(DatabaseName=DB, Expression=expression)["TableList"]
        return [t["Name"] for t in tables]

    assert names("sales_*") == ["sales_2023", "sales_2024"]
    assert names("sales.*") == ["sales_2023", "sales_2024", "salesman"]
    assert names("returns|sales_2023") == ["returns", "sales_2023"]
    assert names("*2024") == ["sales_2024"]
    assert names("RETURNS") == ["returns"]
    with pytest.raises(ClientError) as error:
        names("sales_(")
    assert _code(error)[0] == "InvalidInputException"


def test_get_tables_pages(lake: Any) -> None:
    for i in range(5):
        lake.create_table(DatabaseName=DB, TableInput=table_input(f"t{i}"))
    pages = list(
        lake.get_paginator("get_tables").paginate(DatabaseName=DB, PaginationConfig={"PageSize": 2})
    )
    assert [[t["Name"] for t in p["TableList"]] for p in pages] == [
        ["t0", "t1"],
        ["t2", "t3"],
        ["t4"],
    ]


def test_update_table_makes_a_new_version_and_keeps_the_old(lake: Any, catalog_clock: Any) -> None:
    lake.create_table(DatabaseName=DB, TableInput=table_input())
    catalog_clock.advance(30)
    lake.update_table(
        DatabaseName=DB, TableInput=table_input(columns=[("id", "bigint"), ("name", "string")])
    )
    table = lake.get_table(DatabaseName=DB, Name=TABLE)["Table"]
    assert table["VersionId"] == "1"
    assert len(table["StorageDescriptor"]["Columns"]) == 2
    assert table["UpdateTime"] == datetime.fromtimestamp(catalog_clock.time(), UTC)
    assert table["CreateTime"] < table["UpdateTime"]
    versions = lake.get_table_versions(DatabaseName=DB, TableName=TABLE)["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["1", "0"]
    assert len(versions[1]["Table"]["StorageDescriptor"]["Columns"]) == 1
    old = lake.get_table_version(DatabaseName=DB, TableName=TABLE, VersionId="0")
    assert old["TableVersion"]["Table"]["VersionId"] == "0"
    current = lake.get_table_version(DatabaseName=DB, TableName=TABLE)["TableVersion"]
    assert current["VersionId"] == "1"


def test_skip_archive_replaces_the_current_version(lake: Any) -> None:
    lake.create_table(DatabaseName=DB, TableInput=table_input())
    lake.update_table(DatabaseName=DB, TableInput=table_input(Description="a"), SkipArchive=True)
    versions = lake.get_table_versions(DatabaseName=DB, TableName=TABLE)["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["1"]
    assert versions[0]["Table"]["Description"] == "a"


def test_update_table_with_a_stale_version_id_is_refused(lake: Any) -> None:
    lake.create_table(DatabaseName=DB, TableInput=table_input())
    lake.update_table(DatabaseName=DB, TableInput=table_input(Description="a"), VersionId="0")
    with pytest.raises(ClientError) as error:
        lake.update_table(DatabaseName=DB, TableInput=table_input(Description="b"), VersionId="0")
    assert _code(error)[0] == "ConcurrentModificationException"
    assert lake.get_table(DatabaseName=DB, Name=TABLE)["Table"]["Description"] == "a"


def test_update_of_a_missing_table_is_entity_not_found(lake: Any) -> None:
    with pytest.raises(ClientError) as error:
        lake.update_table(DatabaseName=DB, TableInput=table_input("ghost"))
    assert _code(error) == ("EntityNotFoundException", "Table ghost not found.")


def test_table_versions_can_be_deleted_but_not_the_current_one(lake: Any) -> None:
    lake.create_table(DatabaseName=DB, TableInput=table_input())
    for description in ("a", "b", "c"):
        lake.update_table(DatabaseName=DB, TableInput=table_input(Description=description))
    lake.delete_table_version(DatabaseName=DB, TableName=TABLE, VersionId="0")
    errors = lake.batch_delete_table_version(
        DatabaseName=DB, TableName=TABLE, VersionIds=["1", "3", "9"]
    )["Errors"]
    assert {e["VersionId"]: e["ErrorDetail"]["ErrorCode"] for e in errors} == {
        "3": "InvalidInputException",
        "9": "EntityNotFoundException",
    }
    versions = lake.get_table_versions(DatabaseName=DB, TableName=TABLE)["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["3", "2"]
    with pytest.raises(ClientError) as error:
        lake.get_table_version(DatabaseName=DB, TableName=TABLE, VersionId="0")
    assert _code(error)[0] == "EntityNotFoundException"


def test_get_table_versions_pages(lake: Any) -> None:
    lake.create_table(DatabaseName=DB, TableInput=table_input())
    for i in range(4):
        lake.update_table(DatabaseName=DB, TableInput=table_input(Description=str(i)))
    first = lake.get_table_versions(DatabaseName=DB, TableName=TABLE, MaxResults=3)
    assert [v["VersionId"] for v in first["TableVersions"]] == ["4", "3", "2"]
    rest = lake.get_table_versions(
        DatabaseName=DB, TableName=TABLE, MaxResults=3, NextToken=first["NextToken"]
    )
    assert [v["VersionId"] for v in rest["TableVersions"]] == ["1", "0"]
    assert "NextToken" not in rest


def test_delete_table_drops_its_partitions_and_versions(lake: Any) -> None:
    lake.create_table(DatabaseName=DB, TableInput=table_input(partition_keys=[("year", "string")]))
    lake.update_table(DatabaseName=DB, TableInput=table_input(partition_keys=[("year", "string")]))
    lake.create_partition(DatabaseName=DB, TableName=TABLE, PartitionInput=partition_input("2024"))
    lake.delete_table(DatabaseName=DB, Name=TABLE)
    with pytest.raises(ClientError):
        lake.get_table(DatabaseName=DB, Name=TABLE)
    lake.create_table(DatabaseName=DB, TableInput=table_input(partition_keys=[("year", "string")]))
    assert lake.get_partitions(DatabaseName=DB, TableName=TABLE)["Partitions"] == []
    versions = lake.get_table_versions(DatabaseName=DB, TableName=TABLE)["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["0"]
    with pytest.raises(ClientError) as error:
        lake.delete_table(DatabaseName=DB, Name="ghost")
    assert _code(error) == ("EntityNotFoundException", "Table ghost not found.")


def test_batch_delete_table_reports_the_tables_it_could_not_delete(lake: Any) -> None:
    for name in ("a", "b"):
        lake.create_table(DatabaseName=DB, TableInput=table_input(name))
    errors = lake.batch_delete_table(DatabaseName=DB, TablesToDelete=["a", "ghost", "b"])["Errors"]
    assert errors == [
        {
            "TableName": "ghost",
            "ErrorDetail": {
                "ErrorCode": "EntityNotFoundException",
                "ErrorMessage": "Table ghost not found.",
            },
        }
    ]
    assert lake.get_tables(DatabaseName=DB)["TableList"] == []


def test_search_tables_matches_text_and_filters_across_databases(lake: Any) -> None:
    lake.create_database(DatabaseInput={"Name": "other"})
    lake.create_table(
        DatabaseName=DB,
        TableInput=table_input("customer-link", columns=[("email", "string")]),
    )
    lake.create_table(DatabaseName=DB, TableInput=table_input("orders", Description="All orders"))
    lake.create_table(
        DatabaseName="other",
        TableInput=table_input("xxlinkyy", Parameters={"classification": "csv"}),
    )

    def names(**kwargs: Any) -> list[str]:
        return [t["Name"] for t in lake.search_tables(**kwargs)["TableList"]]

    assert names(SearchText="email") == ["customer-link"]
    assert names(SearchText="ORDERS") == ["orders"]
    assert names(SearchText="link") == ["customer-link", "xxlinkyy"]
    assert names(Filters=[{"Key": "Name", "Value": "link"}]) == ["customer-link"]
    assert names(Filters=[{"Key": "DatabaseName", "Value": "other"}]) == ["xxlinkyy"]
    assert names(Filters=[{"Key": "classification", "Value": "csv"}]) == ["xxlinkyy"]
    assert names(SortCriteria=[{"FieldName": "Name", "Sort": "DESC"}]) == [
        "xxlinkyy",
        "orders",
        "customer-link",
    ]
    assert names(
        Filters=[{"Key": "UpdateTime", "Value": str(START - 1), "Comparator": "GREATER_THAN"}]
    ) == ["customer-link", "orders", "xxlinkyy"]
    first = lake.search_tables(MaxResults=2)
    rest = lake.search_tables(MaxResults=2, NextToken=first["NextToken"])
    assert [t["Name"] for t in first["TableList"] + rest["TableList"]] == names()
    assert "NextToken" not in rest


def test_table_tags_live_and_die_with_the_table(lake: Any) -> None:
    arn = f"arn:aws:glue:us-east-1:{ACCOUNT}:table/{DB}/{TABLE}"
    lake.create_table(DatabaseName=DB, TableInput=table_input())
    lake.tag_resource(ResourceArn=arn, TagsToAdd={"pii": "no"})
    assert lake.get_tags(ResourceArn=arn)["Tags"] == {"pii": "no"}
    lake.delete_table(DatabaseName=DB, Name=TABLE)
    with pytest.raises(ClientError) as error:
        lake.get_tags(ResourceArn=arn)
    assert _code(error)[0] == "EntityNotFoundException"
    lake.create_table(DatabaseName=DB, TableInput=table_input())
    assert lake.get_tags(ResourceArn=arn)["Tags"] == {}


def test_attributes_to_get_trims_the_listings(lake: Any) -> None:
    lake.create_table(DatabaseName=DB, TableInput=table_input())
    tables = lake.get_tables(DatabaseName=DB, AttributesToGet=["NAME", "TABLE_TYPE"])
    assert tables["TableList"] == [{"Name": TABLE, "TableType": "EXTERNAL_TABLE"}]
    databases = lake.get_databases(AttributesToGet=["NAME"])["DatabaseList"]
    assert databases == [{"Name": DB}]


def test_iceberg_tables_are_refused_not_faked(lake: Any) -> None:
    with pytest.raises(ClientError) as error:
        lake.create_table(
            DatabaseName=DB,
            TableInput=table_input("ice"),
            OpenTableFormatInput={"IcebergInput": {"MetadataOperation": "CREATE"}},
        )
    assert _code(error)[0] == "InvalidInputException"
    assert lake.get_tables(DatabaseName=DB)["TableList"] == []
