"""The errors Amazon Data Firehose answers, with AWS's codes and wording."""

from __future__ import annotations

from tule.errors import AwsError


def invalid_argument(message: str) -> AwsError:
    """AWS's answer for a request that is well-formed but not acceptable."""
    return AwsError("InvalidArgumentException", message, 400)


def stream_not_found(name: str, account: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException", f"Firehose {name} under account {account} not found.", 400
    )


def stream_in_use(name: str, account: str) -> AwsError:
    return AwsError(
        "ResourceInUseException",
        f"Firehose {name} under account {account} already exists.",
        400,
    )


def stream_not_active(name: str, account: str, status: str) -> AwsError:
    return AwsError(
        "ResourceInUseException",
        f"Firehose {name} under account {account} is in {status} state.",
        400,
    )


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceededException", message, 400)


def version_mismatch(name: str, given: str, current: int) -> AwsError:
    return AwsError(
        "ConcurrentModificationException",
        f"Firehose {name} version mismatch: the given CurrentDeliveryStreamVersionId {given} "
        f"is not the current version {current}.",
        400,
    )


def direct_put_not_allowed(name: str) -> AwsError:
    return invalid_argument(
        f"This operation is not permitted on KinesisStreamAsSource type Firehose {name}."
    )
