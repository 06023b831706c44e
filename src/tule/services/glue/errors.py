"""The errors the Glue Data Catalog answers, with AWS's codes and wording."""

from __future__ import annotations

from tule.errors import AwsError


def error_detail(error: AwsError) -> dict[str, str]:
    """The ErrorDetail a batch operation gives for one item it could not act on."""
    return {"ErrorCode": error.code, "ErrorMessage": error.message}


def invalid_input(message: str) -> AwsError:
    """AWS's answer for a well-formed request it cannot accept (bad expression, bad token)."""
    return AwsError("InvalidInputException", message, 400)


def database_not_found(name: str) -> AwsError:
    return AwsError("EntityNotFoundException", f"Database {name} not found.", 400)


def table_not_found(name: str) -> AwsError:
    return AwsError("EntityNotFoundException", f"Table {name} not found.", 400)


def partition_not_found() -> AwsError:
    return AwsError("EntityNotFoundException", "Cannot find partition.", 400)


def version_not_found(table: str, version_id: str) -> AwsError:
    return AwsError(
        "EntityNotFoundException", f"Version {version_id} of table {table} not found.", 400
    )


def entity_not_found(message: str) -> AwsError:
    return AwsError("EntityNotFoundException", message, 400)


def database_exists() -> AwsError:
    return AwsError("AlreadyExistsException", "Database already exists.", 400)


def table_exists() -> AwsError:
    return AwsError("AlreadyExistsException", "Table already exists.", 400)


def partition_exists() -> AwsError:
    return AwsError("AlreadyExistsException", "Partition already exists.", 400)


def concurrent_modification(message: str) -> AwsError:
    return AwsError("ConcurrentModificationException", message, 400)


def partition_values_mismatch() -> AwsError:
    # Glue refuses a partition whose Values do not line up with the table's PartitionKeys.
    return invalid_input("The number of partition keys do not match the number of partition values")


def invalid_token() -> AwsError:
    return invalid_input("Invalid continuation token.")
