"""Lambda's errors, with the codes, statuses and messages AWS Lambda answers."""

from __future__ import annotations

from tule.errors import AwsError

# Lambda's error bodies say who is at fault in `Type`.
_USER = {"Type": "User"}


def function_not_found(arn: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Function not found: {arn}", 404, fields=_USER)


def resource_not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message, 404, fields=_USER)


def function_exists(name: str) -> AwsError:
    return AwsError(
        "ResourceConflictException", f"Function already exist: {name}", 409, fields=_USER
    )


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message, 400, fields=_USER)


def invalid_request_content(message: str) -> AwsError:
    return AwsError("InvalidRequestContentException", message, 400, fields=_USER)


def request_too_large(limit: int, operation: str) -> AwsError:
    return AwsError(
        "RequestTooLargeException",
        f"Request must be smaller than {limit} bytes for the {operation} operation",
        413,
        fields=_USER,
    )


def precondition_failed() -> AwsError:
    return AwsError(
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the "
        "GetFunction/GetAlias API to retrieve the latest Revision Id",
        412,
        fields=_USER,
    )


def validation(value: object, member: str, constraint: str) -> AwsError:
    """The JSON services' wording for one constraint a member breaks."""
    return AwsError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}",
        400,
    )


def service_error(message: str) -> AwsError:
    return AwsError("ServiceException", message, 500, fields={"Type": "Service"})
