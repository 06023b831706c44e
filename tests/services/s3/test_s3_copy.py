"""CopyObject through boto3: sources, directives, conditions and the self-copy rule."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import error_code, status


@pytest.fixture
def source(s3: Any, bucket: str) -> dict[str, Any]:
    s3.put_object(
        Bucket=bucket,
        Key="src/data file+1.txt",
        Body=b"source bytes",
        ContentType="text/plain",
        Metadata={"origin": "lab"},
        Tagging="a=1",
    )
    return s3.head_object(Bucket=bucket, Key="src/data file+1.txt")


def test_copy_duplicates_bytes_metadata_and_tags(s3: Any, bucket: str, source: dict) -> None:
    answer = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src/data file+1.txt"}
    )
    result = answer["CopyObjectResult"]
    assert result["ETag"] == f'"{hashlib.md5(b"source bytes").hexdigest()}"'
    assert result["LastModified"] is not None
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"source bytes"
    assert (got["ContentType"], got["Metadata"]) == ("text/plain", {"origin": "lab"})
    assert s3.get_object_tagging(Bucket=bucket, Key="dst")["TagSet"] == [{"Key": "a", "Value": "1"}]


def test_copy_source_as_an_encoded_string(s3: Any, bucket: str, source: dict) -> None:
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src/data file+1.txt")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source bytes"


def test_copy_across_buckets(s3: Any, bucket: str, source: dict) -> None:
    s3.create_bucket(Bucket="other-bucket")
    s3.copy_object(
        Bucket="other-bucket", Key="k", CopySource={"Bucket": bucket, "Key": "src/data file+1.txt"}
    )
    assert s3.get_object(Bucket="other-bucket", Key="k")["Body"].read() == b"source bytes"


def test_replace_directive_takes_the_new_metadata(s3: Any, bucket: str, source: dict) -> None:
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src/data file+1.txt"},
        MetadataDirective="REPLACE",
        ContentType="application/json",
        Metadata={"new": "yes"},
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("application/json", {"new": "yes"})


def test_tagging_directive_replace(s3: Any, bucket: str, source: dict) -> None:
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src/data file+1.txt"},
        TaggingDirective="REPLACE",
        Tagging="b=2",
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="dst")["TagSet"] == [{"Key": "b", "Value": "2"}]


def test_copy_onto_itself_without_changes_is_invalid_request(
    s3: Any, bucket: str, source: dict
) -> None:
    with pytest.raises(ClientError) as caught:
        s3.copy_object(
            Bucket=bucket,
            Key="src/data file+1.txt",
            CopySource={"Bucket": bucket, "Key": "src/data file+1.txt"},
        )
    assert (error_code(caught), status(caught)) == ("InvalidRequest", 400)


def test_copy_onto_itself_with_replace_updates_metadata(s3: Any, bucket: str, source: dict) -> None:
    key = "src/data file+1.txt"
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"source bytes"


def test_copy_onto_itself_changing_storage_class(s3: Any, bucket: str, source: dict) -> None:
    key = "src/data file+1.txt"
    s3.copy_object(
        Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, StorageClass="GLACIER_IR"
    )
    assert s3.head_object(Bucket=bucket, Key=key)["StorageClass"] == "GLACIER_IR"


def test_copy_of_missing_source_is_no_such_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "nope"})
    assert error_code(caught) == "NoSuchKey"


def test_copy_from_missing_bucket_is_no_such_bucket(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": "nobucket", "Key": "k"})
    assert error_code(caught) == "NoSuchBucket"


def test_copy_source_conditions_fail_with_412(s3: Any, bucket: str, source: dict) -> None:
    src = {"Bucket": bucket, "Key": "src/data file+1.txt"}
    for condition in (
        {"CopySourceIfMatch": '"other"'},
        {"CopySourceIfNoneMatch": source["ETag"]},
        {"CopySourceIfUnmodifiedSince": source["LastModified"] - timedelta(days=1)},
        {"CopySourceIfModifiedSince": source["LastModified"] + timedelta(days=1)},
    ):
        with pytest.raises(ClientError) as caught:
            s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, **condition)
        assert (error_code(caught), status(caught)) == ("PreconditionFailed", 412), condition
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, CopySourceIfMatch=source["ETag"])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source bytes"


def test_copy_of_a_specific_version(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2")
    answer = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "k", "VersionId": first}
    )
    assert answer["CopySourceVersionId"] == first
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"v1"


def test_copy_with_encryption_encrypts_the_copy(s3: Any, bucket: str, source: dict) -> None:
    answer = s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src/data file+1.txt"},
        ServerSideEncryption="AES256",
    )
    assert answer["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source bytes"
