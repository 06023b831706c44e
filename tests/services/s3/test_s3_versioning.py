"""Versioned buckets through boto3: versions, delete markers, suspension, version reads."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import error_code, status


@pytest.fixture
def versioned(s3: Any, bucket: str) -> str:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def test_each_put_creates_a_readable_version(s3: Any, versioned: str) -> None:
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=versioned, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"two"
    old = s3.get_object(Bucket=versioned, Key="k", VersionId=v1)
    assert (old["Body"].read(), old["VersionId"]) == (b"one", v1)
    assert s3.head_object(Bucket=versioned, Key="k")["VersionId"] == v2


def test_unversioned_bucket_sends_no_version_id(s3: Any, bucket: str) -> None:
    assert "VersionId" not in s3.put_object(Bucket=bucket, Key="k", Body=b"x")


def test_delete_adds_a_delete_marker_and_hides_the_key(s3: Any, versioned: str) -> None:
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"one")["VersionId"]
    answer = s3.delete_object(Bucket=versioned, Key="k")
    assert answer["DeleteMarker"] is True
    marker = answer["VersionId"]
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k")
    assert error_code(caught) == "NoSuchKey"
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket=versioned)
    assert s3.get_object(Bucket=versioned, Key="k", VersionId=v1)["Body"].read() == b"one"
    listed = s3.list_object_versions(Bucket=versioned)
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(v1, False)]


def test_removing_the_delete_marker_restores_the_object(s3: Any, versioned: str) -> None:
    s3.put_object(Bucket=versioned, Key="k", Body=b"one")
    marker = s3.delete_object(Bucket=versioned, Key="k")["VersionId"]
    answer = s3.delete_object(Bucket=versioned, Key="k", VersionId=marker)
    assert answer["DeleteMarker"] is True and answer["VersionId"] == marker
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"one"


def test_deleting_the_current_version_promotes_the_previous(s3: Any, versioned: str) -> None:
    s3.put_object(Bucket=versioned, Key="k", Body=b"one")
    v2 = s3.put_object(Bucket=versioned, Key="k", Body=b"two")["VersionId"]
    s3.delete_object(Bucket=versioned, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"one"
    versions = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert len(versions) == 1 and versions[0]["IsLatest"]


def test_get_of_a_delete_marker_version_is_method_not_allowed(s3: Any, versioned: str) -> None:
    s3.put_object(Bucket=versioned, Key="k", Body=b"one")
    marker = s3.delete_object(Bucket=versioned, Key="k")["VersionId"]
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k", VersionId=marker)
    assert (error_code(caught), status(caught)) == ("MethodNotAllowed", 405)


def test_unknown_version_is_no_such_version(s3: Any, versioned: str) -> None:
    s3.put_object(Bucket=versioned, Key="k", Body=b"one")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k", VersionId="0" * 32)
    assert (error_code(caught), status(caught)) == ("NoSuchVersion", 404)


def test_malformed_version_id_is_invalid_argument(s3: Any, versioned: str) -> None:
    s3.put_object(Bucket=versioned, Key="k", Body=b"one")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k", VersionId="not a version")
    assert error_code(caught) == "InvalidArgument"


def test_objects_from_before_versioning_are_the_null_version(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"old"
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert len(ids) == 2 and ids[1] == "null"


def test_suspended_versioning_overwrites_the_null_version(s3: Any, versioned: str) -> None:
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=versioned, Key="k", Body=b"null one")
    s3.put_object(Bucket=versioned, Key="k", Body=b"null two")
    versions = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [v["VersionId"] for v in versions] == ["null", v1]
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"null two"


def test_delete_objects_with_versions_reports_markers(s3: Any, versioned: str) -> None:
    v1 = s3.put_object(Bucket=versioned, Key="a", Body=b"1")["VersionId"]
    s3.put_object(Bucket=versioned, Key="b", Body=b"2")
    answer = s3.delete_objects(
        Bucket=versioned, Delete={"Objects": [{"Key": "a", "VersionId": v1}, {"Key": "b"}]}
    )
    by_key = {d["Key"]: d for d in answer["Deleted"]}
    assert by_key["a"]["VersionId"] == v1 and "DeleteMarker" not in by_key["a"]
    assert by_key["b"]["DeleteMarker"] is True and by_key["b"]["DeleteMarkerVersionId"]
    with pytest.raises(ClientError):
        s3.get_object(Bucket=versioned, Key="a", VersionId=v1)


def test_list_object_versions_pages_by_key_and_version_marker(s3: Any, versioned: str) -> None:
    ids = {}
    for key in ("a", "b"):
        ids[key] = [
            s3.put_object(Bucket=versioned, Key=key, Body=b"x")["VersionId"] for _ in range(3)
        ]
    seen = []
    kwargs: dict[str, Any] = {}
    while True:
        page = s3.list_object_versions(Bucket=versioned, MaxKeys=2, **kwargs)
        seen += [(v["Key"], v["VersionId"]) for v in page["Versions"]]
        if not page["IsTruncated"]:
            break
        kwargs = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    expected = [(k, v) for k in ("a", "b") for v in reversed(ids[k])]  # newest first per key
    assert seen == expected


def test_versions_of_a_key_are_tagged_separately(s3: Any, versioned: str) -> None:
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"1", Tagging="v=1")["VersionId"]
    s3.put_object(Bucket=versioned, Key="k", Body=b"2", Tagging="v=2")
    tags = s3.get_object_tagging(Bucket=versioned, Key="k", VersionId=v1)
    assert (tags["TagSet"], tags["VersionId"]) == ([{"Key": "v", "Value": "1"}], v1)


def test_concurrent_writes_to_one_key_keep_every_version(s3: Any, versioned: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def put(i: int) -> str:
        return s3.put_object(Bucket=versioned, Key="hot", Body=str(i).encode())["VersionId"]

    with ThreadPoolExecutor(8) as pool:
        written = set(pool.map(put, range(40)))
    listed = s3.list_object_versions(Bucket=versioned, Prefix="hot")["Versions"]
    assert {v["VersionId"] for v in listed} == written
    assert sum(v["IsLatest"] for v in listed) == 1
    assert listed[0]["IsLatest"]  # newest first
