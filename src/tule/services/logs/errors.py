"""The errors CloudWatch Logs answers, with AWS's codes and wording.

`DataAlreadyAcceptedException` and `InvalidSequenceTokenException` are deliberately absent: since
January 2023 AWS ignores sequence tokens and never raises either from PutLogEvents.
"""

from __future__ import annotations

from tule.errors import AwsError


def invalid_parameter(message: str) -> AwsError:
    """AWS's catch-all for a request that is well-formed but not acceptable."""
    return AwsError("InvalidParameterException", message, 400)


def group_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log group does not exist.", 400)


def stream_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log stream does not exist.", 400)


def group_exists() -> AwsError:
    return AwsError("ResourceAlreadyExistsException", "The specified log group already exists", 400)


def stream_exists() -> AwsError:
    return AwsError(
        "ResourceAlreadyExistsException", "The specified log stream already exists", 400
    )


def invalid_token() -> AwsError:
    return invalid_parameter("The specified nextToken is invalid.")
