"""Helpers the S3 tests import: where an object's bytes lie, and what an error said."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tule.testing import TuleServer


def blob_file(server: TuleServer, bucket: str, key: str) -> Path:
    """The file holding the current version of an object."""
    version = server.app.domains["s3"].state.current(bucket, key)
    blob_id = version.blob_id
    return server.settings.data_dir / "s3" / "blobs" / "blobs" / blob_id[:2] / blob_id


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def status(excinfo: pytest.ExceptionInfo[ClientError]) -> int:
    return int(excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"])
