"""Databases through boto3: create, read, list with pages, update, delete, errors, tags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from glue_helpers import DB, START, TABLE, table_input

ACCOUNT = "000000000000"


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_created_database_reads_back_with_what_glue_adds(glue: Any) -> None:
    glue.create_database(
        DatabaseInput={
            "Name": DB,
            "Description": "the lake",
            "LocationUri": "s3://lake-bucket/",
            "Parameters": {"owner": "data"},
        }
    )
    database = glue.get_database(Name=DB)["Database"]
    assert database["Name"] == DB
    assert database["Description"] == "the lake"
    assert database["LocationUri"] == "s3://lake-bucket/"
    assert database["Parameters"] == {"owner": "data"}
    assert database["CatalogId"] == ACCOUNT
    assert database["CreateTime"] == datetime.fromtimestamp(START, UTC)
    assert database["CreateTableDefaultPermissions"] == [
        {
            "Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"},
            "Permissions": ["ALL"],
        }
    ]


def test_database_names_are_lower_cased(glue: Any) -> None:
    glue.create_database(DatabaseInput={"Name": "SalesDB"})
    assert glue.get_database(Name="salesdb")["Database"]["Name"] == "salesdb"
    assert glue.get_database(Name="SALESDB")["Database"]["Name"] == "salesdb"
    with pytest.raises(ClientError) as error:
        glue.create_database(DatabaseInput={"Name": "salesdb"})
    assert _code(error) == ("AlreadyExistsException", "Database already exists.")


def test_unknown_database_is_entity_not_found(glue: Any) -> None:
    for call in (
        lambda: glue.get_database(Name="nope"),
        lambda: glue.delete_database(Name="nope"),
        lambda: glue.update_database(Name="nope", DatabaseInput={"Name": "nope"}),
    ):
        with pytest.raises(ClientError) as error:
            call()
        assert _code(error) == ("EntityNotFoundException", "Database nope not found.")


def test_get_databases_pages_through_every_database_in_name_order(glue: Any) -> None:
    names = [f"db{i:02d}" for i in range(7)]
    for name in reversed(names):
        glue.create_database(DatabaseInput={"Name": name})
    first = glue.get_databases(MaxResults=3)
    assert [d["Name"] for d in first["DatabaseList"]] == names[:3]
    assert "NextToken" in first
    pages = list(glue.get_paginator("get_databases").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["DatabaseList"]) for p in pages] == [3, 3, 1]
    assert [d["Name"] for p in pages for d in p["DatabaseList"]] == names
    assert "NextToken" not in pages[-1]


def test_a_bad_next_token_is_invalid_input(glue: Any) -> None:
    with pytest.raises(ClientError) as error:
        glue.get_databases(NextToken="not-a-token")
    assert _code(error)[0] == "InvalidInputException"


def test_databases_are_scoped_by_region(glue: Any, catalog_server: Any) -> None:
    glue.create_database(DatabaseInput={"Name": DB})
    other = catalog_server.client("glue", region_name="eu-west-1")
    assert other.get_databases()["DatabaseList"] == []
    other.create_database(DatabaseInput={"Name": DB, "Description": "west"})
    assert "Description" not in glue.get_database(Name=DB)["Database"]
    other.delete_database(Name=DB)


def test_update_database_replaces_its_definition_but_keeps_its_creation(
    glue: Any, catalog_clock: Any
) -> None:
    glue.create_database(DatabaseInput={"Name": DB, "Description": "old", "Parameters": {"a": "1"}})
    created = glue.get_database(Name=DB)["Database"]["CreateTime"]
    catalog_clock.advance(60)
    glue.update_database(Name=DB, DatabaseInput={"Name": DB, "LocationUri": "s3://new/"})
    database = glue.get_database(Name=DB)["Database"]
    assert database["LocationUri"] == "s3://new/"
    assert "Description" not in database
    assert database["Parameters"] == {}
    assert database["CreateTime"] == created


def test_delete_database_drops_its_tables(glue: Any) -> None:
    glue.create_database(DatabaseInput={"Name": DB})
    glue.create_table(DatabaseName=DB, TableInput=table_input())
    glue.delete_database(Name=DB)
    with pytest.raises(ClientError):
        glue.get_database(Name=DB)
    glue.create_database(DatabaseInput={"Name": DB})
    assert glue.get_tables(DatabaseName=DB)["TableList"] == []
    with pytest.raises(ClientError) as error:
        glue.get_table(DatabaseName=DB, Name=TABLE)
    assert _code(error) == ("EntityNotFoundException", f"Table {TABLE} not found.")


def test_database_tags_from_create_and_tag_resource(glue: Any) -> None:
    arn = f"arn:aws:glue:us-east-1:{ACCOUNT}:database/{DB}"
    glue.create_database(DatabaseInput={"Name": DB}, Tags={"team": "data"})
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"team": "data"}
    glue.tag_resource(ResourceArn=arn, TagsToAdd={"env": "dev"})
    glue.untag_resource(ResourceArn=arn, TagsToRemove=["team"])
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"env": "dev"}
    # A database created again under the name does not inherit the old one's tags.
    glue.delete_database(Name=DB)
    glue.create_database(DatabaseInput={"Name": DB})
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {}


def test_tagging_a_missing_resource_is_entity_not_found(glue: Any) -> None:
    with pytest.raises(ClientError) as error:
        glue.tag_resource(
            ResourceArn=f"arn:aws:glue:us-east-1:{ACCOUNT}:database/ghost", TagsToAdd={"a": "b"}
        )
    assert _code(error) == ("EntityNotFoundException", "Database ghost not found.")
