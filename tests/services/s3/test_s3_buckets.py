"""Buckets through boto3: creation rules, deletion, listing, location, tags, versioning."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import error_code, status

from tule.testing import TuleServer


def test_created_bucket_is_listed_with_its_region(tule: TuleServer) -> None:
    s3 = tule.client("s3")
    s3.create_bucket(Bucket="alpha")
    buckets = s3.list_buckets()["Buckets"]
    assert [(b["Name"], b["BucketRegion"]) for b in buckets] == [("alpha", "us-east-1")]
    assert buckets[0]["CreationDate"].year >= 2024


def test_create_bucket_answers_its_location(s3: Any) -> None:
    assert s3.create_bucket(Bucket="located")["Location"] == "/located"


def test_creating_an_existing_bucket_is_bucket_already_owned_by_you(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=bucket)
    assert (error_code(caught), status(caught)) == ("BucketAlreadyOwnedByYou", 409)
    assert caught.value.response["Error"]["BucketName"] == bucket


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "UpperCase",
        "under_score",
        "-leading",
        "trailing-",
        "two..dots",
        "192.168.1.1",
        "xn--punycode",
        "name-s3alias",
        "name--ol-s3",
    ],
)
def test_invalid_bucket_names_are_refused(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=name)
    assert (error_code(caught), status(caught)) == ("InvalidBucketName", 400)


@pytest.mark.parametrize("name", ["abc", "a" * 63, "my.bucket-1", "0numbers9"])
def test_valid_bucket_names_are_accepted(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name)
    s3.head_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)


def test_outside_us_east_1_a_location_constraint_is_required(server: TuleServer) -> None:
    s3 = server.client("s3", region_name="eu-west-1")
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket="eu-required")
    assert error_code(caught) == "IllegalLocationConstraintException"


def test_outside_us_east_1_a_mismatched_location_constraint_is_refused(
    server: TuleServer,
) -> None:
    s3 = server.client("s3", region_name="eu-west-1")
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(
            Bucket="eu-mismatch", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
    assert error_code(caught) == "IllegalLocationConstraintException"


def test_bucket_in_another_region_reports_it(server: TuleServer) -> None:
    s3 = server.client("s3", region_name="eu-west-1")
    s3.create_bucket(
        Bucket="eu-located", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert s3.get_bucket_location(Bucket="eu-located")["LocationConstraint"] == "eu-west-1"
    head = s3.head_bucket(Bucket="eu-located")
    assert head["BucketRegion"] == "eu-west-1"
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"


def test_us_east_1_location_is_empty(s3: Any, bucket: str) -> None:
    assert s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") is None


def test_us_east_1_refuses_its_own_name_as_constraint(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(
            Bucket="self-named", CreateBucketConfiguration={"LocationConstraint": "us-east-1"}
        )
    # The gateway's model validation refuses it first (us-east-1 is not in the enum).
    assert status(caught) == 400
    assert s3.list_buckets(Prefix="self-named")["Buckets"] == []


def test_head_bucket_of_missing_bucket_is_404(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket="missing")
    assert status(caught) == 404


def test_operations_on_a_missing_bucket_are_no_such_bucket(s3: Any) -> None:
    for call in (
        lambda: s3.list_objects_v2(Bucket="missing"),
        lambda: s3.put_object(Bucket="missing", Key="k", Body=b"x"),
        lambda: s3.get_bucket_location(Bucket="missing"),
        lambda: s3.delete_bucket(Bucket="missing"),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert (error_code(caught), status(caught)) == ("NoSuchBucket", 404)
        assert caught.value.response["Error"]["BucketName"] == "missing"


def test_deleting_an_empty_bucket_removes_it(s3: Any, bucket: str) -> None:
    s3.delete_bucket(Bucket=bucket)
    assert s3.list_buckets(Prefix=bucket)["Buckets"] == []


def test_deleting_a_bucket_with_objects_is_bucket_not_empty(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=bucket)
    assert (error_code(caught), status(caught)) == ("BucketNotEmpty", 409)


def test_noncurrent_versions_keep_a_bucket_non_empty(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")  # only a delete marker and an old version remain
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(caught) == "BucketNotEmpty"


def test_deleting_a_bucket_aborts_its_uploads(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"x")
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)
    assert error_code(caught) == "NoSuchUpload"


def test_list_buckets_pages_by_max_buckets(tule: TuleServer) -> None:
    s3 = tule.client("s3")
    for name in ("aaa", "bbb", "ccc"):
        s3.create_bucket(Bucket=name)
    first = s3.list_buckets(MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == ["aaa", "bbb"]
    rest = s3.list_buckets(MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["ccc"]
    assert "ContinuationToken" not in rest


def test_list_buckets_filters_by_prefix(tule: TuleServer) -> None:
    s3 = tule.client("s3")
    for name in ("data-1", "data-2", "logs-1"):
        s3.create_bucket(Bucket=name)
    listed = s3.list_buckets(Prefix="data-")
    assert [b["Name"] for b in listed["Buckets"]] == ["data-1", "data-2"]
    assert listed["Prefix"] == "data-"


def test_list_buckets_reports_the_owner(s3: Any) -> None:
    owner = s3.list_buckets()["Owner"]
    assert len(owner["ID"]) == 64


def test_bucket_tags_round_trip(s3: Any, bucket: str) -> None:
    tags = [{"Key": "team", "Value": "ml"}, {"Key": "cost", "Value": "42"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags


def test_bucket_without_tags_is_no_such_tag_set(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_tagging(Bucket=bucket)
    assert (error_code(caught), status(caught)) == ("NoSuchTagSet", 404)


def test_deleted_bucket_tags_are_gone(s3: Any, bucket: str) -> None:
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_code(caught) == "NoSuchTagSet"


def test_duplicate_bucket_tag_keys_are_invalid(s3: Any, bucket: str) -> None:
    tags = [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert error_code(caught) == "InvalidTag"


def test_versioning_is_off_until_enabled(s3: Any, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_unimplemented_bucket_subresource_is_not_implemented(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_policy(Bucket=bucket)
    assert (error_code(caught), status(caught)) == ("NotImplemented", 501)
