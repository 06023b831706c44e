"""Athena's errors: the API's exceptions (`AwsError`) and the failures of queries themselves.

API calls fail with `InvalidRequestException` (HTTP 400, with an `AthenaErrorCode`) or
`ResourceNotFoundException`. A query that fails does not fail an API call: it ends FAILED, with
Athena's engine error text in `Status.StateChangeReason` (`SYNTAX_ERROR: line 1:8: ...`,
`TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.db.t' does not exist`) and the same text in
`Status.AthenaError` with its category (1 system, 2 user, 3 other) and numeric type. Those are
`QueryFailed` exceptions, raised inside the query runner and recorded on the execution.
"""

from __future__ import annotations

from tule.errors import AwsError


def invalid_request(message: str, code: str | None = None) -> AwsError:
    fields = {"AthenaErrorCode": code} if code else {}
    return AwsError("InvalidRequestException", message, 400, fields=fields)


def resource_not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message, 400)


def execution_not_found(query_execution_id: str) -> AwsError:
    return invalid_request(f"QueryExecution {query_execution_id} was not found", "INVALID_INPUT")


def workgroup_not_found(name: str) -> AwsError:
    return invalid_request(f"WorkGroup {name} is not found.")


def no_output_location() -> AwsError:
    return invalid_request(
        "No output location provided. An output location is required either through the "
        "Workgroup result configuration setting or as an API input."
    )


# Numeric AthenaError.ErrorType values (Athena's error catalog): 1000 user error, 1001 data
# error, 1003 DDL task failed, 200 engine internal error, 401 failure to write results.
USER_ERROR = 1000
DATA_ERROR = 1001
DDL_FAILED = 1003
INTERNAL_ERROR = 200
RESULT_WRITE_ERROR = 401


class QueryFailed(Exception):
    """A query ends FAILED with this reason (Athena's `NAME: message` text)."""

    def __init__(
        self,
        name: str,
        message: str,
        *,
        category: int = 2,
        error_type: int = USER_ERROR,
        retryable: bool = False,
    ) -> None:
        self.reason = f"{name}: {message}" if name else message
        super().__init__(self.reason)
        self.category = category
        self.error_type = error_type
        self.retryable = retryable


def syntax_error(message: str, line: int = 1, col: int = 1) -> QueryFailed:
    return QueryFailed("SYNTAX_ERROR", f"line {line}:{col}: {message}")


def table_not_found(catalog: str, database: str, table: str, line: int, col: int) -> QueryFailed:
    return QueryFailed(
        "TABLE_NOT_FOUND",
        f"line {line}:{col}: Table '{catalog}.{database}.{table}' does not exist",
    )


def schema_not_found(catalog: str, database: str, line: int, col: int) -> QueryFailed:
    return QueryFailed("SCHEMA_NOT_FOUND", f"line {line}:{col}: Schema '{database}' does not exist")


def column_not_found(column: str, line: int, col: int) -> QueryFailed:
    return QueryFailed(
        "COLUMN_NOT_FOUND",
        f"line {line}:{col}: Column '{column}' cannot be resolved or requester is not "
        "authorized to access requested resources",
    )


def ddl_failed(message: str) -> QueryFailed:
    return QueryFailed("FAILED", message, error_type=DDL_FAILED)
