"""Lifecycle configuration and the lifecycle engine, with a clock the tests move."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import error_code, status

from tule.clock import ManualClock
from tule.testing import TuleServer

BIG = b"x" * (200 * 1024)  # above the 128 KiB default minimum for transitions


def _rule(**fields: Any) -> dict[str, Any]:
    return {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}, **fields}


def _put_lifecycle(s3: Any, bucket: str, *rules: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)}, **kw
    )


def _run(server: TuleServer) -> Any:
    return server.app.domains["s3"].run_lifecycle()


# -- configuration -------------------------------------------------------------------------


def test_configuration_round_trips(s3: Any, bucket: str) -> None:
    rule = _rule(
        Filter={"And": {"Prefix": "logs/", "Tags": [{"Key": "t", "Value": "v"}]}},
        Transitions=[
            {"Days": 30, "StorageClass": "STANDARD_IA"},
            {"Days": 90, "StorageClass": "GLACIER"},
        ],
        Expiration={"Days": 365},
        NoncurrentVersionExpiration={"NoncurrentDays": 10, "NewerNoncurrentVersions": 2},
    )
    answer = _put_lifecycle(s3, bucket, rule)
    assert answer["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert got["Rules"] == [rule]


def test_date_rules_round_trip(s3: Any, bucket: str) -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    _put_lifecycle(s3, bucket, _rule(Expiration={"Date": when}))
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert got["Expiration"]["Date"] == when


def test_missing_configuration_is_no_such_lifecycle_configuration(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert (error_code(caught), status(caught)) == ("NoSuchLifecycleConfiguration", 404)


def test_deleted_configuration_is_gone(s3: Any, bucket: str) -> None:
    _put_lifecycle(s3, bucket, _rule(Expiration={"Days": 1}))
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(caught) == "NoSuchLifecycleConfiguration"


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        (_rule(Expiration={"Days": 0}), "InvalidArgument"),
        (_rule(Transitions=[{"Days": 10, "StorageClass": "STANDARD_IA"}]), "InvalidArgument"),
        (_rule(Transitions=[{"Days": 29, "StorageClass": "ONEZONE_IA"}]), "InvalidArgument"),
        (
            _rule(
                Transitions=[
                    {"Days": 30, "StorageClass": "STANDARD_IA"},
                    {"Days": 40, "StorageClass": "GLACIER"},
                ]
            ),
            "InvalidArgument",
        ),
        (
            _rule(Transitions=[{"Days": 60, "StorageClass": "GLACIER"}], Expiration={"Days": 30}),
            "InvalidArgument",
        ),
        (_rule(Expiration={"Date": datetime(2030, 1, 1, 12, tzinfo=UTC)}), "InvalidArgument"),
        (_rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": 0}), "InvalidArgument"),
        (_rule(NoncurrentVersionExpiration={"NoncurrentDays": 0}), "InvalidArgument"),
        (_rule(), "InvalidRequest"),
        ({"ID": "r", "Status": "Enabled", "Expiration": {"Days": 1}}, "MalformedXML"),
        (
            _rule(Filter={"Prefix": "a", "ObjectSizeGreaterThan": 5}, Expiration={"Days": 1}),
            "MalformedXML",
        ),
        (_rule(Expiration={"Days": 1, "ExpiredObjectDeleteMarker": True}), "MalformedXML"),
    ],
)
def test_invalid_rules_are_refused(s3: Any, bucket: str, rule: dict, code: str) -> None:
    with pytest.raises(ClientError) as caught:
        _put_lifecycle(s3, bucket, rule)
    assert (error_code(caught), status(caught)) == (code, 400)


def test_duplicate_rule_ids_are_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        _put_lifecycle(s3, bucket, _rule(Expiration={"Days": 1}), _rule(Expiration={"Days": 2}))
    assert error_code(caught) == "InvalidArgument"


def test_rule_without_id_gets_one(s3: Any, bucket: str) -> None:
    _put_lifecycle(s3, bucket, {"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 3}})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"]


# -- the engine ----------------------------------------------------------------------------


@pytest.fixture
def tbucket(timed: TuleServer) -> tuple[TuleServer, Any, str]:
    s3 = timed.client("s3")
    s3.create_bucket(Bucket="aging")
    return timed, s3, "aging"


def test_transition_to_standard_ia_after_30_days(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    _put_lifecycle(s3, bucket, _rule(Transitions=[{"Days": 30, "StorageClass": "STANDARD_IA"}]))
    s3.put_object(Bucket=bucket, Key="old.bin", Body=BIG)
    clock.advance(days=29)
    _run(server)
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="old.bin")
    clock.advance(days=2)
    assert _run(server).transitioned == 1
    assert s3.head_object(Bucket=bucket, Key="old.bin")["StorageClass"] == "STANDARD_IA"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert listed["StorageClass"] == "STANDARD_IA"
    assert s3.get_object(Bucket=bucket, Key="old.bin")["Body"].read() == BIG


def test_due_time_rounds_up_to_midnight_utc(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    _put_lifecycle(s3, bucket, _rule(Expiration={"Days": 1}))
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")  # created 15:06:40 UTC
    clock.advance(days=1)  # creation + 1 day, but before the next midnight
    _run(server)
    s3.head_object(Bucket=bucket, Key="k")
    clock.advance(9 * 3600)  # past midnight
    _run(server)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_small_objects_do_not_transition_by_default(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    _put_lifecycle(s3, bucket, _rule(Transitions=[{"Days": 30, "StorageClass": "STANDARD_IA"}]))
    s3.put_object(Bucket=bucket, Key="small", Body=b"tiny")
    clock.advance(days=31)
    _run(server)
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="small")


def test_size_filter_lets_small_objects_transition(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    rule = _rule(
        Filter={"ObjectSizeGreaterThan": 0}, Transitions=[{"Days": 0, "StorageClass": "GLACIER"}]
    )
    _put_lifecycle(s3, bucket, rule)
    s3.put_object(Bucket=bucket, Key="small", Body=b"tiny")
    clock.advance(days=1)
    _run(server)
    assert s3.head_object(Bucket=bucket, Key="small")["StorageClass"] == "GLACIER"


def test_expiration_deletes_the_object(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    _put_lifecycle(s3, bucket, _rule(Expiration={"Days": 7}))
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    clock.advance(days=8)
    assert _run(server).expired == 1
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(caught) == "NoSuchKey"


def test_expiration_by_date(tbucket: tuple[TuleServer, Any, str], clock: ManualClock) -> None:
    server, s3, bucket = tbucket
    _put_lifecycle(s3, bucket, _rule(Expiration={"Date": datetime(2025, 7, 1, tzinfo=UTC)}))
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    _run(server)
    s3.head_object(Bucket=bucket, Key="k")
    clock.advance(days=16)  # now 2025-07-01T15:06Z
    _run(server)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_filters_choose_objects(tbucket: tuple[TuleServer, Any, str], clock: ManualClock) -> None:
    server, s3, bucket = tbucket
    rule = _rule(
        Filter={
            "And": {
                "Prefix": "logs/",
                "Tags": [{"Key": "tmp", "Value": "1"}],
                "ObjectSizeLessThan": 100,
            }
        },
        Expiration={"Days": 1},
    )
    _put_lifecycle(s3, bucket, rule)
    s3.put_object(Bucket=bucket, Key="logs/match", Body=b"x", Tagging="tmp=1")
    s3.put_object(Bucket=bucket, Key="logs/untagged", Body=b"x")
    s3.put_object(Bucket=bucket, Key="logs/too-big", Body=b"x" * 200, Tagging="tmp=1")
    s3.put_object(Bucket=bucket, Key="data/other", Body=b"x", Tagging="tmp=1")
    clock.advance(days=3)
    _run(server)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["data/other", "logs/too-big", "logs/untagged"]


def test_disabled_rules_do_nothing(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    _put_lifecycle(s3, bucket, {**_rule(Expiration={"Days": 1}), "Status": "Disabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    clock.advance(days=10)
    _run(server)
    s3.head_object(Bucket=bucket, Key="k")


def test_versioned_expiration_adds_a_delete_marker_then_noncurrent_expiry(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    _put_lifecycle(
        s3,
        bucket,
        _rule(Expiration={"Days": 5}, NoncurrentVersionExpiration={"NoncurrentDays": 10}),
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    clock.advance(days=6)
    _run(server)
    versions = s3.list_object_versions(Bucket=bucket)
    assert len(versions["DeleteMarkers"]) == 1 and len(versions["Versions"]) == 1
    clock.advance(days=11)
    _run(server)
    versions = s3.list_object_versions(Bucket=bucket)
    assert "Versions" not in versions and len(versions["DeleteMarkers"]) == 1


def test_newer_noncurrent_versions_are_kept(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rule = _rule(NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 1})
    _put_lifecycle(s3, bucket, rule)
    ids = [
        s3.put_object(Bucket=bucket, Key="k", Body=str(i).encode())["VersionId"] for i in range(4)
    ]
    clock.advance(days=3)
    _run(server)
    remaining = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert remaining == [ids[3], ids[2]]  # the current one and the newest noncurrent one


def test_noncurrent_transition(tbucket: tuple[TuleServer, Any, str], clock: ManualClock) -> None:
    server, s3, bucket = tbucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rule = _rule(
        NoncurrentVersionTransitions=[{"NoncurrentDays": 30, "StorageClass": "STANDARD_IA"}]
    )
    _put_lifecycle(s3, bucket, rule)
    old = s3.put_object(Bucket=bucket, Key="k", Body=BIG)["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=BIG)
    clock.advance(days=31)
    assert _run(server).noncurrent_transitioned == 1
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=old)["StorageClass"] == "STANDARD_IA"
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="k")


def test_expired_object_delete_marker_is_removed(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    _put_lifecycle(
        s3,
        bucket,
        _rule(
            Expiration={"ExpiredObjectDeleteMarker": True},
            NoncurrentVersionExpiration={"NoncurrentDays": 1},
        ),
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")
    clock.advance(days=2)
    _run(server)  # the noncurrent version expires; the marker is then alone
    _run(server)
    assert set(s3.list_object_versions(Bucket=bucket)) & {"Versions", "DeleteMarkers"} == set()


def test_stale_multipart_uploads_are_aborted(
    tbucket: tuple[TuleServer, Any, str], clock: ManualClock
) -> None:
    server, s3, bucket = tbucket
    _put_lifecycle(s3, bucket, _rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": 2}))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"x")
    clock.advance(days=1)
    _run(server)
    assert len(s3.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 1
    clock.advance(days=2)
    assert _run(server).uploads_aborted == 1
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_background_sweeper_applies_rules(tmp_path: Path, clock: ManualClock) -> None:
    with TuleServer(tmp_path / "sweep", clock=clock, lifecycle_interval_s=0.05) as server:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="swept")
        _put_lifecycle(s3, "swept", _rule(Expiration={"Days": 1}))
        s3.put_object(Bucket="swept", Key="k", Body=b"x")
        clock.advance(days=2)
        deadline = time.monotonic() + 10
        while "Contents" in s3.list_objects_v2(Bucket="swept"):
            assert time.monotonic() < deadline, "the sweeper never expired the object"
            time.sleep(0.05)
