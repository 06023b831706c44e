"""The one error type services raise; the gateway serializes it in each protocol's shape."""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    """An error AWS would return: its exact code, message and HTTP status.

    `fields` are extra members some services put in the error body (S3's `BucketName`, `Key`;
    SageMaker Runtime's `OriginalStatusCode`); `headers` are extra response headers.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status_code: int = 400,
        *,
        sender_fault: bool | None = None,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status_code = status_code
        self.sender_fault = status_code < 500 if sender_fault is None else sender_fault
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})


def validation_error(message: str) -> AwsError:
    """The generic `ValidationException` the JSON services use for bad input."""
    return AwsError("ValidationException", message, 400)


def not_implemented(service_id: str, operation: str, status_code: int = 501) -> AwsError:
    """The answer for an operation tule does not implement: clear, never a fake success."""
    return AwsError(
        "NotImplemented" if service_id == "S3" else "NotImplementedException",
        f"{service_id}.{operation} is not implemented in tule yet.",
        status_code,
        sender_fault=False,
    )
