"""Failures as Athena states them: failed queries, and API errors."""

from __future__ import annotations

from typing import Any

import pytest
from athena_helpers import failure, run
from botocore.exceptions import ClientError


def test_bad_sql_fails_with_syntax_error_and_user_category(athena: Any) -> None:
    execution = run(athena, "SELECT FROM WHERE")
    status = execution["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith("SYNTAX_ERROR: line 1:")
    assert status["AthenaError"]["ErrorCategory"] == 2
    assert status["AthenaError"]["ErrorMessage"] == status["StateChangeReason"]


def test_missing_table_fails_with_table_not_found_at_its_position(athena: Any) -> None:
    reason = failure(athena, "SELECT * FROM db.nowhere")
    assert reason == "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.db.nowhere' does not exist"


def test_missing_database_fails_with_schema_not_found(athena: Any) -> None:
    reason = failure(athena, "SELECT *\nFROM  ghost.t")
    assert reason == "SCHEMA_NOT_FOUND: line 2:7: Schema 'ghost' does not exist"


def test_unknown_column_fails_with_column_not_found(athena: Any) -> None:
    reason = failure(athena, "SELECT nope FROM (SELECT 1 AS x)", database=None)
    assert reason.startswith("COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved")


def test_unknown_function_fails_with_function_not_found(athena: Any) -> None:
    reason = failure(athena, "SELECT no_such_fn(1)", database=None)
    assert reason.startswith("FUNCTION_NOT_FOUND: line 1:8: Function 'no_such_fn'")


def test_missing_output_location_is_rejected_at_start(athena: Any) -> None:
    with pytest.raises(ClientError) as err:
        athena.start_query_execution(QueryString="SELECT 1")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "No output location provided" in err.value.response["Error"]["Message"]


def test_results_of_a_failed_query_are_refused(athena: Any) -> None:
    execution = run(athena, "SELECT * FROM db.nowhere")
    with pytest.raises(ClientError) as err:
        athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    assert err.value.response["Error"]["Message"].startswith(
        "Query did not finish successfully. Final query state: FAILED"
    )


def test_unknown_query_execution_is_an_invalid_request(athena: Any) -> None:
    with pytest.raises(ClientError) as err:
        athena.get_query_execution(QueryExecutionId="00000000-0000-0000-0000-000000000000")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_output_bucket_that_does_not_exist_fails_the_query(athena: Any) -> None:
    execution = run(
        athena,
        "SELECT 1",
        database=None,
        ResultConfiguration={"OutputLocation": "s3://no-such-bucket-x/"},
    )
    assert execution["Status"]["State"] == "FAILED"
    assert "no-such-bucket-x" in execution["Status"]["StateChangeReason"]
