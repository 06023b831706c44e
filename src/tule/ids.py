"""Identifiers: request ids and ARNs, in the shapes AWS uses."""

from __future__ import annotations

import secrets
import uuid


def request_id() -> str:
    """A request id as the JSON services return it (a UUID)."""
    return str(uuid.uuid4())


def s3_request_id() -> str:
    """An S3-style request id: 16 upper-case hex characters."""
    return secrets.token_hex(8).upper()


def host_id() -> str:
    """An S3-style extended request id (x-amz-id-2)."""
    return secrets.token_urlsafe(48)


def arn(service: str, region: str, account: str, resource: str) -> str:
    """An ARN in the standard `aws` partition."""
    return f"arn:aws:{service}:{region}:{account}:{resource}"
