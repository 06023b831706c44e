"""Archived storage classes and RestoreObject."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import error_code, status

from tule.clock import ManualClock
from tule.testing import TuleServer


@pytest.fixture
def archived(timed: TuleServer) -> tuple[Any, str]:
    s3 = timed.client("s3")
    s3.create_bucket(Bucket="vault")
    s3.put_object(Bucket="vault", Key="cold", Body=b"frozen bytes", StorageClass="GLACIER")
    return s3, "vault"


def test_archived_object_cannot_be_read(archived: tuple[Any, str]) -> None:
    s3, bucket = archived
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="cold")
    assert (error_code(caught), status(caught)) == ("InvalidObjectState", 403)
    assert s3.head_object(Bucket=bucket, Key="cold")["StorageClass"] == "GLACIER"


def test_deep_archive_is_also_unreadable(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="deep", Body=b"x", StorageClass="DEEP_ARCHIVE")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="deep")
    assert error_code(caught) == "InvalidObjectState"


def test_restore_makes_it_readable_until_expiry(
    archived: tuple[Any, str], clock: ManualClock
) -> None:
    s3, bucket = archived
    first = s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 2})
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 202
    head = s3.head_object(Bucket=bucket, Key="cold")
    # Created 2025-06-15T15:06Z; 2 days later rounded up to midnight UTC.
    assert head["Restore"] == 'ongoing-request="false", expiry-date="Wed, 18 Jun 2025 00:00:00 GMT"'
    assert s3.get_object(Bucket=bucket, Key="cold")["Body"].read() == b"frozen bytes"
    again = s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 2})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    clock.advance(days=3)
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="cold")
    assert error_code(caught) == "InvalidObjectState"
    assert "Restore" not in s3.head_object(Bucket=bucket, Key="cold")


def test_restoring_a_standard_object_is_invalid_object_state(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="warm", Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.restore_object(Bucket=bucket, Key="warm", RestoreRequest={"Days": 1})
    assert (error_code(caught), status(caught)) == ("InvalidObjectState", 403)


def test_restoring_a_missing_object_is_no_such_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.restore_object(Bucket=bucket, Key="nope", RestoreRequest={"Days": 1})
    assert error_code(caught) == "NoSuchKey"


def test_archived_copy_source_needs_a_restore(archived: tuple[Any, str]) -> None:
    s3, bucket = archived
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="warm", CopySource={"Bucket": bucket, "Key": "cold"})
    assert error_code(caught) == "InvalidObjectState"
    s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 1})
    s3.copy_object(Bucket=bucket, Key="warm", CopySource={"Bucket": bucket, "Key": "cold"})
    assert s3.get_object(Bucket=bucket, Key="warm")["Body"].read() == b"frozen bytes"
