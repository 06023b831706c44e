"""Crawler and classifier records through boto3: create, read, list, update, delete, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from crawler_helpers import ROLE, make_crawler

from tule.testing import TuleServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("crawler-api"), fsync=False) as shared:
        yield shared


@pytest.fixture
def glue(server: TuleServer) -> Any:
    """A Glue client with no crawlers and no classifiers."""
    client = server.client("glue")
    for name in client.list_crawlers()["CrawlerNames"]:
        client.delete_crawler(Name=name)
    for classifier in client.get_classifiers()["Classifiers"]:
        (body,) = classifier.values()
        client.delete_classifier(Name=body["Name"])
    return client


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_create_then_get_shows_definition_defaults_and_ready_state(glue: Any) -> None:
    make_crawler(glue, "sales", "lake", "s3://bucket/sales/", TablePrefix="raw_", Description="d")
    crawler = glue.get_crawler(Name="sales")["Crawler"]
    assert crawler["Name"] == "sales"
    assert crawler["Role"] == ROLE
    assert crawler["DatabaseName"] == "lake"
    assert crawler["TablePrefix"] == "raw_"
    assert crawler["Description"] == "d"
    assert crawler["Targets"]["S3Targets"] == [{"Path": "s3://bucket/sales/", "Exclusions": []}]
    assert crawler["Targets"]["JdbcTargets"] == []
    assert crawler["State"] == "READY"
    assert crawler["SchemaChangePolicy"] == {
        "UpdateBehavior": "UPDATE_IN_DATABASE",
        "DeleteBehavior": "DEPRECATE_IN_DATABASE",
    }
    assert crawler["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    assert crawler["Version"] == 1
    assert "LastCrawl" not in crawler
    assert "CrawlElapsedTime" not in crawler


def test_duplicate_name_is_already_exists(glue: Any) -> None:
    make_crawler(glue, "dup", "lake", "s3://bucket/a/")
    with pytest.raises(ClientError) as excinfo:
        make_crawler(glue, "dup", "lake", "s3://bucket/b/")
    assert error_code(excinfo) == "AlreadyExistsException"


def test_unknown_crawler_is_entity_not_found_for_every_operation(glue: Any) -> None:
    for call in (glue.get_crawler, glue.start_crawler, glue.stop_crawler, glue.delete_crawler):
        with pytest.raises(ClientError) as excinfo:
            call(Name="ghost")
        assert error_code(excinfo) == "EntityNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        glue.update_crawler(Name="ghost", Description="x")
    assert error_code(excinfo) == "EntityNotFoundException"


def test_stop_of_a_ready_crawler_is_not_running(glue: Any) -> None:
    make_crawler(glue, "idle", "lake", "s3://bucket/a/")
    with pytest.raises(ClientError) as excinfo:
        glue.stop_crawler(Name="idle")
    assert error_code(excinfo) == "CrawlerNotRunningException"


def test_update_changes_only_given_members_and_bumps_version(glue: Any) -> None:
    make_crawler(glue, "upd", "lake", "s3://bucket/a/", TablePrefix="p_")
    glue.update_crawler(
        Name="upd",
        DatabaseName="other",
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
    )
    crawler = glue.get_crawler(Name="upd")["Crawler"]
    assert crawler["DatabaseName"] == "other"
    assert crawler["TablePrefix"] == "p_"
    assert crawler["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
    assert crawler["Version"] == 2


def test_get_crawlers_and_list_crawlers_page_in_name_order(glue: Any) -> None:
    for name in ("c3", "c1", "c2"):
        make_crawler(glue, name, "lake", f"s3://bucket/{name}/")
    first = glue.list_crawlers(MaxResults=2)
    assert first["CrawlerNames"] == ["c1", "c2"]
    second = glue.list_crawlers(MaxResults=2, NextToken=first["NextToken"])
    assert second["CrawlerNames"] == ["c3"]
    assert "NextToken" not in second
    names = [
        c["Name"]
        for page in glue.get_paginator("get_crawlers").paginate()
        for c in page["Crawlers"]
    ]
    assert names == ["c1", "c2", "c3"]


def test_list_crawlers_filters_by_tags(glue: Any) -> None:
    make_crawler(glue, "tagged", "lake", "s3://bucket/a/", Tags={"team": "data"})
    make_crawler(glue, "plain", "lake", "s3://bucket/b/")
    assert glue.list_crawlers(Tags={"team": "data"})["CrawlerNames"] == ["tagged"]
    arn = "arn:aws:glue:us-east-1:000000000000:crawler/tagged"
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"team": "data"}


def test_batch_get_crawlers_reports_missing_names(glue: Any) -> None:
    make_crawler(glue, "one", "lake", "s3://bucket/a/")
    answer = glue.batch_get_crawlers(CrawlerNames=["one", "nope"])
    assert [c["Name"] for c in answer["Crawlers"]] == ["one"]
    assert answer["CrawlersNotFound"] == ["nope"]


def test_delete_removes_the_crawler(glue: Any) -> None:
    make_crawler(glue, "gone", "lake", "s3://bucket/a/")
    glue.delete_crawler(Name="gone")
    assert glue.list_crawlers()["CrawlerNames"] == []


@pytest.mark.parametrize(
    "extra",
    [
        {"Schedule": "cron(0 12 * * ? *)"},
        {"RecrawlPolicy": {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}},  # needs LOG/LOG
        {"Configuration": "{not json"},
    ],
)
def test_unsupported_or_invalid_definitions_are_invalid_input(
    glue: Any, extra: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as excinfo:
        make_crawler(glue, "bad", "lake", "s3://bucket/a/", **extra)
    assert error_code(excinfo) == "InvalidInputException"
    assert glue.list_crawlers()["CrawlerNames"] == []


def test_non_s3_targets_and_bad_paths_are_invalid_input(glue: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        glue.create_crawler(
            Name="jdbc",
            Role=ROLE,
            Targets={"JdbcTargets": [{"ConnectionName": "c", "Path": "db/%"}]},
        )
    assert error_code(excinfo) == "InvalidInputException"
    with pytest.raises(ClientError) as excinfo:
        make_crawler(glue, "bad", "lake", "bucket/no-scheme/")
    assert error_code(excinfo) == "InvalidInputException"


def test_get_crawler_metrics_before_any_crawl(glue: Any) -> None:
    make_crawler(glue, "m", "lake", "s3://bucket/a/")
    (metrics,) = glue.get_crawler_metrics(CrawlerNameList=["m"])["CrawlerMetricsList"]
    assert metrics["CrawlerName"] == "m"
    assert metrics["TablesCreated"] == 0
    assert metrics["StillEstimating"] is False


# Classifiers


def test_csv_classifier_round_trip_and_update(glue: Any) -> None:
    glue.create_classifier(
        CsvClassifier={
            "Name": "semi",
            "Delimiter": ";",
            "QuoteSymbol": "'",
            "ContainsHeader": "PRESENT",
            "Header": ["a", "b"],
        }
    )
    body = glue.get_classifier(Name="semi")["Classifier"]["CsvClassifier"]
    assert body["Delimiter"] == ";"
    assert body["Header"] == ["a", "b"]
    assert body["ContainsHeader"] == "PRESENT"
    assert body["Version"] == 1
    glue.update_classifier(CsvClassifier={"Name": "semi", "Delimiter": "|"})
    body = glue.get_classifier(Name="semi")["Classifier"]["CsvClassifier"]
    assert body["Delimiter"] == "|"
    assert body["QuoteSymbol"] == "'"
    assert body["Version"] == 2


def test_json_classifier_round_trip_and_listing(glue: Any) -> None:
    glue.create_classifier(JsonClassifier={"Name": "rows", "JsonPath": "$.rows[*]"})
    classifiers = glue.get_classifiers()["Classifiers"]
    assert [c["JsonClassifier"]["JsonPath"] for c in classifiers] == ["$.rows[*]"]
    with pytest.raises(ClientError) as excinfo:
        glue.create_classifier(JsonClassifier={"Name": "rows", "JsonPath": "$"})
    assert error_code(excinfo) == "AlreadyExistsException"
    glue.delete_classifier(Name="rows")
    with pytest.raises(ClientError) as excinfo:
        glue.get_classifier(Name="rows")
    assert error_code(excinfo) == "EntityNotFoundException"


def test_grok_and_xml_classifiers_are_refused_with_a_reason(glue: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        glue.create_classifier(
            GrokClassifier={"Name": "g", "Classification": "logs", "GrokPattern": "%{WORD:w}"}
        )
    assert error_code(excinfo) == "InvalidInputException"
    assert "CsvClassifier and JsonClassifier" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as excinfo:
        glue.create_classifier(XMLClassifier={"Name": "x", "Classification": "xml", "RowTag": "r"})
    assert error_code(excinfo) == "InvalidInputException"
    assert glue.get_classifiers()["Classifiers"] == []


def test_invalid_classifier_settings_are_refused(glue: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        glue.create_classifier(CsvClassifier={"Name": "c", "Delimiter": ",", "QuoteSymbol": ","})
    assert error_code(excinfo) == "InvalidInputException"
    with pytest.raises(ClientError) as excinfo:
        glue.create_classifier(JsonClassifier={"Name": "j", "JsonPath": "rows"})
    assert error_code(excinfo) == "InvalidInputException"
