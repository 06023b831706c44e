"""What survives a restart, and what the start-up collection removes."""

from __future__ import annotations

from pathlib import Path

from tule.clock import ManualClock
from tule.config import Settings
from tule.services.base import ServiceEnv
from tule.services.s3 import S3
from tule.services.s3.bodies import INLINE_MAX
from tule.services.s3.models import ObjectAttributes
from tule.testing import TuleServer


def test_objects_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with TuleServer(data) as first:
        s3 = first.client("s3")
        s3.create_bucket(Bucket="durable")
        s3.put_bucket_versioning(Bucket="durable", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="durable", Key="k", Body=b"v1", Metadata={"a": "b"})
        s3.put_object(Bucket="durable", Key="k", Body=b"v2")
        s3.put_object(Bucket="durable", Key="secret", Body=b"s", ServerSideEncryption="AES256")
        upload = s3.create_multipart_upload(Bucket="durable", Key="mp")["UploadId"]
        s3.upload_part(Bucket="durable", Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
    with TuleServer(data) as second:
        s3 = second.client("s3")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["durable"]
        assert s3.get_bucket_versioning(Bucket="durable")["Status"] == "Enabled"
        assert s3.get_object(Bucket="durable", Key="k")["Body"].read() == b"v2"
        assert len(s3.list_object_versions(Bucket="durable", Prefix="k")["Versions"]) == 2
        assert s3.get_object(Bucket="durable", Key="secret")["Body"].read() == b"s"
        parts = s3.list_parts(Bucket="durable", Key="mp", UploadId=upload)["Parts"]
        assert [p["Size"] for p in parts] == [4]


# Above the inline limit, so these bodies are files (inline bodies: test_s3_bodies).
BIG = b"x" * (INLINE_MAX + 1)


def _blob_count(server: TuleServer) -> int:
    server.app.domains["s3"].state.bodies.drain()  # blobs are deleted after the response
    data = server.settings.data_dir
    return sum(1 for p in (data / "s3" / "blobs" / "blobs").rglob("*") if p.is_file())


def test_overwrites_and_deletes_remove_old_blobs(tule: TuleServer) -> None:
    s3 = tule.client("s3")
    s3.create_bucket(Bucket="tidy")
    s3.put_object(Bucket="tidy", Key="k", Body=BIG)
    s3.put_object(Bucket="tidy", Key="k", Body=BIG + b"2")
    assert _blob_count(tule) == 1
    s3.delete_object(Bucket="tidy", Key="k")
    assert _blob_count(tule) == 0


def test_completing_an_upload_removes_the_part_blobs(tule: TuleServer) -> None:
    s3 = tule.client("s3")
    s3.create_bucket(Bucket="tidy")
    upload = s3.create_multipart_upload(Bucket="tidy", Key="k")["UploadId"]
    etag = s3.upload_part(Bucket="tidy", Key="k", UploadId=upload, PartNumber=1, Body=BIG)["ETag"]
    s3.upload_part(Bucket="tidy", Key="k", UploadId=upload, PartNumber=2, Body=BIG + b"unused")
    s3.complete_multipart_upload(
        Bucket="tidy",
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert _blob_count(tule) == 1


def test_startup_removes_unreferenced_blobs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = ServiceEnv(Settings(data_dir=data, lifecycle_interval_s=0), ManualClock(), data / "s3")
    domain = S3(env)
    domain.buckets.create("gc-bucket", "us-east-1", None)
    kept = domain.objects.put("gc-bucket", "kept", BIG, ObjectAttributes())
    orphan = domain.state.blobs.write(b"written, then the process died")  # no record points here
    domain.close()
    restarted = S3(env)
    ids = set(restarted.state.blobs.blob_ids())  # type: ignore[attr-defined]
    assert ids == {kept.blob_id} and orphan.blob_id not in ids
    assert restarted.objects.get("gc-bucket", "kept").body == BIG
    restarted.close()
