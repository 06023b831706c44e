"""The errors Kinesis Data Streams answers, with AWS's codes and wording (spec §6.6)."""

from __future__ import annotations

from datetime import UTC, datetime

from tule.errors import AwsError


def invalid_argument(message: str) -> AwsError:
    return AwsError("InvalidArgumentException", message, 400)


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceededException", message, 400)


def stream_not_found(name: str, account: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException", f"Stream {name} under account {account} not found.", 400
    )


def shard_not_found(shard_id: str, stream: str, account: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException",
        f"Shard {shard_id} in stream {stream} under account {account} does not exist",
        400,
    )


def consumer_not_found(what: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Consumer {what} not found.", 400)


def stream_exists(name: str, account: str) -> AwsError:
    return AwsError(
        "ResourceInUseException", f"Stream {name} under account {account} already exists.", 400
    )


def in_use(message: str) -> AwsError:
    return AwsError("ResourceInUseException", message, 400)


def rate_exceeded_message(shard_id: str, stream: str, account: str) -> str:
    return f"Rate exceeded for shard {shard_id} in stream {stream} under account {account}."


def throughput_exceeded(shard_id: str, stream: str, account: str) -> AwsError:
    return AwsError(
        "ProvisionedThroughputExceededException",
        rate_exceeded_message(shard_id, stream, account),
        400,
    )


def invalid_iterator() -> AwsError:
    return invalid_argument("Invalid ShardIterator.")


def _http_date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def expired_iterator(issued_ms: int, now_ms: int, tolerated_ms: int) -> AwsError:
    return AwsError(
        "ExpiredIteratorException",
        f"Iterator expired. The iterator was created at time {_http_date(issued_ms)} while "
        f"right now it is {_http_date(now_ms)} which is further in the future than the "
        f"tolerated delay of {tolerated_ms} milliseconds.",
        400,
    )


def expired_next_token() -> AwsError:
    return AwsError(
        "ExpiredNextTokenException",
        "The timestamp of the last item in the response is older than the timeout of "
        "300 seconds. Start again with a new request.",
        400,
    )


def invalid_next_token() -> AwsError:
    return invalid_argument("NextToken is invalid or malformed.")


def dry_run_refusal() -> AwsError:
    return AwsError(
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun flag is set.",
        400,
    )
