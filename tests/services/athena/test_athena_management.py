"""Workgroups, named queries, prepared statements and parameters, and execution bookkeeping."""

from __future__ import annotations

import time
from typing import Any

import pytest
from athena_helpers import RESULTS, query, rows, run, start, wait
from botocore.exceptions import ClientError


def test_primary_workgroup_exists_and_cannot_be_deleted(athena: Any) -> None:
    group = athena.get_work_group(WorkGroup="primary")["WorkGroup"]
    assert group["Name"] == "primary" and group["State"] == "ENABLED"
    assert "primary" in [g["Name"] for g in athena.list_work_groups()["WorkGroups"]]
    with pytest.raises(ClientError) as err:
        athena.delete_work_group(WorkGroup="primary")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_workgroup_output_location_serves_queries_that_name_none(athena: Any) -> None:
    athena.create_work_group(
        Name="analysts",
        Description="team",
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://athena-results/analysts/"}},
    )
    query_id = athena.start_query_execution(QueryString="SELECT 7", WorkGroup="analysts")[
        "QueryExecutionId"
    ]
    execution = wait(athena, query_id)
    assert execution["WorkGroup"] == "analysts"
    assert (
        execution["ResultConfiguration"]["OutputLocation"]
        == f"s3://athena-results/analysts/{query_id}.csv"
    )
    assert query_id in athena.list_query_executions(WorkGroup="analysts")["QueryExecutionIds"]
    assert query_id not in athena.list_query_executions()["QueryExecutionIds"]
    with pytest.raises(ClientError):
        athena.create_work_group(Name="analysts")


def test_enforced_workgroup_configuration_overrides_the_query(athena: Any) -> None:
    athena.create_work_group(Name="strict")
    athena.update_work_group(
        WorkGroup="strict",
        ConfigurationUpdates={
            "EnforceWorkGroupConfiguration": True,
            "ResultConfigurationUpdates": {"OutputLocation": "s3://athena-results/strict/"},
        },
    )
    config = athena.get_work_group(WorkGroup="strict")["WorkGroup"]["Configuration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    execution = run(athena, "SELECT 1", database=None, WorkGroup="strict")
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(
        "s3://athena-results/strict/"
    )
    athena.delete_work_group(WorkGroup="strict")
    with pytest.raises(ClientError):
        athena.get_work_group(WorkGroup="strict")


def test_named_queries_are_saved_listed_and_deleted(athena: Any) -> None:
    first = athena.create_named_query(Name="one", Database="db", QueryString="SELECT 1")[
        "NamedQueryId"
    ]
    second = athena.create_named_query(
        Name="two", Database="db", QueryString="SELECT 2", Description="d"
    )["NamedQueryId"]
    got = athena.get_named_query(NamedQueryId=second)["NamedQuery"]
    assert (got["Name"], got["QueryString"], got["WorkGroup"], got["Description"]) == (
        "two",
        "SELECT 2",
        "primary",
        "d",
    )
    assert {first, second} <= set(athena.list_named_queries()["NamedQueryIds"])
    batch = athena.batch_get_named_query(NamedQueryIds=[first, "missing-id"])
    assert [q["NamedQueryId"] for q in batch["NamedQueries"]] == [first]
    assert batch["UnprocessedNamedQueryIds"][0]["NamedQueryId"] == "missing-id"
    athena.delete_named_query(NamedQueryId=first)
    assert first not in athena.list_named_queries()["NamedQueryIds"]


def test_prepared_statement_runs_with_execute_using(athena: Any) -> None:
    athena.create_prepared_statement(
        StatementName="plus",
        WorkGroup="primary",
        QueryStatement="SELECT ? + ? AS total, ? AS label",
    )
    got = athena.get_prepared_statement(StatementName="plus", WorkGroup="primary")[
        "PreparedStatement"
    ]
    assert got["QueryStatement"] == "SELECT ? + ? AS total, ? AS label"
    listed = athena.list_prepared_statements(WorkGroup="primary")["PreparedStatements"]
    assert "plus" in [p["StatementName"] for p in listed]
    assert query(athena, "EXECUTE plus USING 2, 3, 'five'", database=None) == [
        ["total", "label"],
        ["5", "five"],
    ]
    athena.delete_prepared_statement(StatementName="plus", WorkGroup="primary")
    with pytest.raises(ClientError) as err:
        athena.get_prepared_statement(StatementName="plus", WorkGroup="primary")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_execution_parameters_fill_placeholders_in_order(athena: Any) -> None:
    execution = run(
        athena, "SELECT ? * 2 AS x, ? AS s", database=None, ExecutionParameters=["21", "'hi'"]
    )
    assert execution["ExecutionParameters"] == ["21", "'hi'"]
    assert rows(athena, execution["QueryExecutionId"]) == [["x", "s"], ["42", "hi"]]
    wrong = run(athena, "SELECT ?", database=None, ExecutionParameters=["1", "2"])
    assert wrong["Status"]["StateChangeReason"].startswith("INVALID_PARAMETER_USAGE")


def test_client_request_token_makes_start_idempotent(athena: Any) -> None:
    token = "t" * 40
    kwargs = {
        "QueryString": "SELECT 1",
        "ClientRequestToken": token,
        "ResultConfiguration": {"OutputLocation": RESULTS},
    }
    first = athena.start_query_execution(**kwargs)["QueryExecutionId"]
    assert athena.start_query_execution(**kwargs)["QueryExecutionId"] == first
    with pytest.raises(ClientError):
        athena.start_query_execution(**{**kwargs, "QueryString": "SELECT 2"})


def test_batch_get_query_execution_reports_unknown_ids(athena: Any) -> None:
    known = run(athena, "SELECT 1", database=None)["QueryExecutionId"]
    unknown = "11111111-1111-1111-1111-111111111111"
    answer = athena.batch_get_query_execution(QueryExecutionIds=[known, unknown])
    assert [e["QueryExecutionId"] for e in answer["QueryExecutions"]] == [known]
    assert answer["UnprocessedQueryExecutionIds"][0]["QueryExecutionId"] == unknown


def test_list_query_executions_is_newest_first_and_pages(athena: Any) -> None:
    ids = [run(athena, f"SELECT {i}", database=None)["QueryExecutionId"] for i in range(3)]
    page = athena.list_query_executions(MaxResults=2)
    assert page["QueryExecutionIds"] == ids[::-1][:2]
    more = athena.list_query_executions(MaxResults=2, NextToken=page["NextToken"])
    assert more["QueryExecutionIds"][0] == ids[0]


def test_stop_query_execution_cancels_a_running_query(athena: Any) -> None:
    query_id = start(athena, "SELECT sum(hash(i)) FROM range(100000000000) AS t(i)", database=None)
    deadline = time.monotonic() + 10
    while (
        athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"]
        != "RUNNING"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    athena.stop_query_execution(QueryExecutionId=query_id)
    execution = wait(athena, query_id, timeout=10)
    assert execution["Status"]["State"] == "CANCELLED"
    with pytest.raises(ClientError) as err:
        athena.get_query_results(QueryExecutionId=query_id)
    assert "CANCELLED" in err.value.response["Error"]["Message"]


def test_results_before_the_end_are_refused_with_the_current_state(athena: Any) -> None:
    query_id = start(athena, "SELECT sum(hash(i)) FROM range(100000000000) AS t(i)", database=None)
    with pytest.raises(ClientError) as err:
        athena.get_query_results(QueryExecutionId=query_id)
    message = err.value.response["Error"]["Message"]
    assert message in (
        "Query has not yet finished. Current state: QUEUED",
        "Query has not yet finished. Current state: RUNNING",
    )
    athena.stop_query_execution(QueryExecutionId=query_id)
    assert wait(athena, query_id)["Status"]["State"] == "CANCELLED"


def test_catalog_reads_show_glue_databases_and_tables(athena: Any, glue: Any) -> None:
    glue.create_table(
        DatabaseName="db",
        TableInput={
            "Name": "meta_t",
            "StorageDescriptor": {
                "Columns": [{"Name": "a", "Type": "int"}],
                "Location": "s3://lake/meta/",
            },
            "PartitionKeys": [{"Name": "p", "Type": "string"}],
        },
    )
    assert "db" in [
        d["Name"] for d in athena.list_databases(CatalogName="AwsDataCatalog")["DatabaseList"]
    ]
    table = athena.get_table_metadata(
        CatalogName="AwsDataCatalog", DatabaseName="db", TableName="meta_t"
    )["TableMetadata"]
    assert table["Columns"] == [{"Name": "a", "Type": "int"}]
    assert table["PartitionKeys"] == [{"Name": "p", "Type": "string"}]
    assert athena.list_data_catalogs()["DataCatalogsSummary"][0]["CatalogName"] == "AwsDataCatalog"
    shown = query(athena, "SHOW TABLES IN db 'meta*'")
    assert shown == [["meta_t"]]
    described = query(athena, "DESCRIBE meta_t")
    assert described[0] == ["a\tint\t"]
