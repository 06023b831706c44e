"""Each bucket's change counter (`S3.generation`) moves with every committed change to its
objects or settings, and with nothing else: Athena keeps table bindings while it stands still."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tule.testing import TuleServer


def _moves(server: TuleServer, bucket: str, action: Callable[[], Any]) -> bool:
    domain = server.app.domains["s3"]
    before = domain.generation(bucket)
    action()
    return bool(domain.generation(bucket) != before)


def test_every_kind_of_object_change_moves_the_counter(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    put = lambda: s3.put_object(Bucket=bucket, Key="a", Body=b"1")  # noqa: E731
    assert _moves(server, bucket, put)
    assert _moves(server, bucket, put)  # an overwrite
    assert _moves(
        server, bucket, lambda: s3.copy_object(Bucket=bucket, Key="b", CopySource=f"{bucket}/a")
    )
    tags = {"TagSet": [{"Key": "k", "Value": "v"}]}
    assert _moves(
        server, bucket, lambda: s3.put_object_tagging(Bucket=bucket, Key="a", Tagging=tags)
    )
    assert _moves(server, bucket, lambda: s3.delete_object(Bucket=bucket, Key="b"))

    def multipart() -> None:
        upload = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
        part = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload, PartNumber=1, Body=b"x")
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="m",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )

    assert _moves(server, bucket, multipart)
    versioning = {"Status": "Enabled"}
    assert _moves(
        server,
        bucket,
        lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=versioning),
    )


def test_reads_and_other_buckets_leave_the_counter_alone(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.create_bucket(Bucket=f"{bucket}-other")
    reads = lambda: (  # noqa: E731
        s3.get_object(Bucket=bucket, Key="a")["Body"].read(),
        s3.list_objects_v2(Bucket=bucket),
        s3.head_object(Bucket=bucket, Key="a"),
        s3.put_object(Bucket=f"{bucket}-other", Key="a", Body=b"2"),
    )
    assert not _moves(server, bucket, reads)


def test_a_bucket_never_written_reads_zero(server: TuleServer) -> None:
    assert server.app.domains["s3"].generation("no-such-bucket-here") == 0
