"""Athena over its earlier JSON protocol (`X-Amz-Target: AmazonAthena.<Operation>`), as every
SDK but the newest botocore sends it: the same operations, answers and errors as over
rest-json.

An "earlier" boto3 client is made from the derived JSON model written where botocore's loader
looks first, which is how an older botocore release holds it; raw requests show the wire
itself, independent of any model tule derives."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import botocore.session
import pytest
from athena_helpers import RESULTS, query, run, wait
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tule.aws import specs
from tule.testing import TuleServer

JSON_1_1 = "application/x-amz-json-1.1"


@pytest.fixture(scope="module")
def earlier(server: TuleServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A boto3 Athena client that speaks the JSON protocol; its requests' headers are kept in
    `earlier.sent` (URL, headers)."""
    models = tmp_path_factory.mktemp("models")
    folder = models / "athena" / "2017-05-18"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(specs.earlier_json_description("athena")))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(models))
    client = boto3.Session(botocore_session=session).client(
        "athena",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    sent: list[tuple[str, dict[str, str]]] = []

    def keep(request: Any, **_: Any) -> None:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        sent.append((request.url, headers))

    client.meta.events.register("before-send.athena.*", keep)
    client.sent = sent
    return client


def raw(server: TuleServer, operation: str, body: dict[str, Any]) -> tuple[int, str, Any]:
    """POST one SigV4-signed JSON 1.1 request as the other SDKs write it; (status, content
    type, decoded body)."""
    request = AWSRequest(
        "POST",
        server.endpoint_url + "/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": f"AmazonAthena.{operation}", "Content-Type": JSON_1_1},
    )
    SigV4Auth(Credentials("test", "test"), "athena", server.region).add_auth(request)
    prepared = urllib.request.Request(
        request.url, data=request.body, headers=dict(request.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(prepared) as answer:
            return answer.status, answer.headers["Content-Type"], json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], json.loads(err.read())


def test_the_derived_model_is_the_json_form_and_the_served_model_is_untouched() -> None:
    earlier = specs.wire_model("athena", "json")
    assert earlier.metadata["protocol"] == "json"
    assert earlier.metadata["targetPrefix"] == "AmazonAthena"
    results = earlier.operation_model("GetQueryResults")
    assert results.http == {"method": "POST", "requestUri": "/"}
    assert all(m.serialization == {} for m in results.input_shape.members.values())
    # A byte stream in headers and a payload has no JSON form.
    assert "GetQueryResultStream" not in earlier.operation_names
    current = specs.service_model("athena")
    assert current.metadata["protocol"] == "rest-json"
    assert "GetQueryResultStream" in current.operation_names
    member = current.operation_model("GetQueryResults").input_shape.members["QueryExecutionId"]
    assert member.serialization["location"] == "uri"


def test_an_earlier_client_runs_a_query_and_pages_its_results(earlier: Any) -> None:
    query_id = earlier.start_query_execution(
        QueryString="SELECT x, x * 2 AS y FROM UNNEST(sequence(1, 1500)) AS t(x) ORDER BY x",
        QueryExecutionContext={"Database": "db"},
        ResultConfiguration={"OutputLocation": RESULTS},
    )["QueryExecutionId"]
    got = wait(earlier, query_id)
    assert got["Status"]["State"] == "SUCCEEDED"
    assert got["ResultConfiguration"]["OutputLocation"] == f"{RESULTS}{query_id}.csv"
    pages = list(
        earlier.get_paginator("get_query_results").paginate(
            QueryExecutionId=query_id, PaginationConfig={"PageSize": 1000}
        )
    )
    assert len(pages) == 2
    rows = [
        [d.get("VarCharValue") for d in r["Data"]] for p in pages for r in p["ResultSet"]["Rows"]
    ]
    assert rows[0] == ["x", "y"]
    assert rows[1:] == [[str(i), str(2 * i)] for i in range(1, 1501)]
    columns = pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in columns] == [("x", "bigint"), ("y", "bigint")]
    # Every call went as the JSON protocol: one path, the operation in X-Amz-Target.
    assert {url for url, _ in earlier.sent} == {earlier.meta.endpoint_url + "/"}
    targets = {h["X-Amz-Target"] for _, h in earlier.sent}
    assert {
        "AmazonAthena.StartQueryExecution",
        "AmazonAthena.GetQueryExecution",
        "AmazonAthena.GetQueryResults",
    } <= targets
    assert {h["Content-Type"] for _, h in earlier.sent} == {JSON_1_1}


def test_both_protocols_answer_alike(earlier: Any, athena: Any) -> None:
    query_id = run(athena, "SELECT 1 AS one")["QueryExecutionId"]

    def strip(answer: dict[str, Any]) -> dict[str, Any]:
        answer.pop("ResponseMetadata")
        return answer

    for call, kwargs in (
        ("get_query_execution", {"QueryExecutionId": query_id}),
        ("get_query_results", {"QueryExecutionId": query_id}),
        ("batch_get_query_execution", {"QueryExecutionIds": [query_id]}),
        ("get_work_group", {"WorkGroup": "primary"}),
    ):
        assert strip(getattr(earlier, call)(**kwargs)) == strip(getattr(athena, call)(**kwargs))
    assert query_id in earlier.list_query_executions()["QueryExecutionIds"]
    earlier.create_named_query(Name="n", Database="db", QueryString="SELECT 2")
    assert any(
        q["Name"] == "n"
        for q in athena.batch_get_named_query(
            NamedQueryIds=athena.list_named_queries()["NamedQueryIds"]
        )["NamedQueries"]
    )


def test_errors_come_back_as_the_modelled_exceptions(earlier: Any, athena: Any) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    answers = []
    for client in (earlier, athena):
        with pytest.raises(client.exceptions.InvalidRequestException) as caught:
            client.get_query_execution(QueryExecutionId=missing)
        answers.append(caught.value.response["Error"])
    assert answers[0] == answers[1]
    with pytest.raises(ClientError) as caught:
        earlier.get_query_results(QueryExecutionId=missing)
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"


def test_a_failed_query_reads_the_same_over_json(earlier: Any) -> None:
    query_id = earlier.start_query_execution(
        QueryString="SELECT * FROM no_such_table",
        QueryExecutionContext={"Database": "db"},
        ResultConfiguration={"OutputLocation": RESULTS},
    )["QueryExecutionId"]
    status = wait(earlier, query_id)["Status"]
    assert status["State"] == "FAILED"
    assert "TABLE_NOT_FOUND" in status["StateChangeReason"]


def test_raw_json_requests_as_other_sdks_send_them(server: TuleServer) -> None:
    status, ctype, body = raw(server, "ListWorkGroups", {})
    assert (status, ctype) == (200, JSON_1_1)
    assert "primary" in [w["Name"] for w in body["WorkGroups"]]

    status, ctype, body = raw(
        server,
        "StartQueryExecution",
        {
            "QueryString": "SELECT 'a' AS letter",
            "ResultConfiguration": {"OutputLocation": RESULTS},
        },
    )
    assert status == 200
    query_id = body["QueryExecutionId"]
    for _ in range(2000):
        status, _, body = raw(server, "GetQueryExecution", {"QueryExecutionId": query_id})
        if body["QueryExecution"]["Status"]["State"] == "SUCCEEDED":
            break
    # Timestamps as the JSON protocol writes them: epoch seconds.
    assert isinstance(body["QueryExecution"]["Status"]["SubmissionDateTime"], int | float)
    status, _, body = raw(
        server, "GetQueryResults", {"QueryExecutionId": query_id, "MaxResults": 5}
    )
    assert status == 200
    assert body["ResultSet"]["Rows"] == [
        {"Data": [{"VarCharValue": "letter"}]},
        {"Data": [{"VarCharValue": "a"}]},
    ]


@pytest.mark.parametrize(
    ("operation", "body", "code"),
    [
        ("GetQueryExecution", {}, "ValidationException"),
        ("GetQueryExecution", {"QueryExecutionId": 7}, "ValidationException"),
        ("GetQueryResultStream", {"QueryExecutionId": "x"}, "UnknownOperationException"),
        ("NoSuchOperation", {}, "UnknownOperationException"),
    ],
)
def test_raw_json_mistakes_get_json_errors(
    server: TuleServer, operation: str, body: dict[str, Any], code: str
) -> None:
    status, ctype, answer = raw(server, operation, body)
    assert (status, ctype) == (400, JSON_1_1)
    assert answer["__type"] == code
    assert answer["message"]


def test_the_rest_json_client_still_works(athena: Any) -> None:
    assert query(athena, "SELECT 40 + 2 AS answer") == [["answer"], ["42"]]
