"""Object bodies of both kinds: small ones inline in the metadata commit, the others in files.

Either kind must be invisible to clients (same bytes, ranges, copies, multipart), an inline
body's record must go in the same commit that drops it, and the start-up collection must remove
what a crash leaves of either kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tule.clock import ManualClock
from tule.config import Settings
from tule.metadata.base import Put
from tule.services.base import ServiceEnv
from tule.services.s3 import S3
from tule.services.s3.bodies import DATA_PREFIX, INLINE_MAX, is_inline
from tule.services.s3.models import ObjectAttributes
from tule.testing import TuleServer

MiB = 1024 * 1024


def _body(size: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(size))


def _state(server: TuleServer) -> Any:
    return server.app.domains["s3"].state


def _body_id(server: TuleServer, bucket: str, key: str) -> str:
    return _state(server).current(bucket, key).blob_id


def _stored(server: TuleServer, body_id: str) -> bool:
    """Whether the body still exists, in whichever kind of storage holds it."""
    state = _state(server)
    if is_inline(body_id):
        return state.store.get(DATA_PREFIX + body_id) is not None
    state.bodies.drain()
    return body_id in set(state.blobs.blob_ids())


@pytest.mark.parametrize("size", [0, 1, 4096, INLINE_MAX, INLINE_MAX + 1, 300_000])
def test_bodies_round_trip_whole_and_by_range(
    server: TuleServer, s3: Any, bucket: str, size: int
) -> None:
    data = _body(size)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert is_inline(_body_id(server, bucket, "k")) == (size <= INLINE_MAX)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == size
    if size > 10:
        ranges = (("bytes=0-9", data[:10]), ("bytes=5-", data[5:]), ("bytes=-7", data[-7:]))
        for rng, want in ranges:
            got = s3.get_object(Bucket=bucket, Key="k", Range=rng)
            assert got["Body"].read() == want
            assert got["ContentLength"] == len(want)


def test_encrypted_bodies_are_never_inline(server: TuleServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"small secret", ServerSideEncryption="AES256")
    assert not is_inline(_body_id(server, bucket, "k"))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"small secret"


@pytest.mark.parametrize("size", [100, INLINE_MAX + 100])
def test_copies_of_either_kind_outlive_their_source(
    server: TuleServer, s3: Any, bucket: str, size: int
) -> None:
    data = _body(size, seed=3)
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert _body_id(server, bucket, "dst") != _body_id(server, bucket, "src")
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == data


def test_multipart_mixes_inline_and_file_parts(server: TuleServer, s3: Any, bucket: str) -> None:
    big, tail = _body(5 * MiB + 10, seed=1), _body(1000, seed=2)
    s3.put_object(Bucket=bucket, Key="big-src", Body=big)
    s3.put_object(Bucket=bucket, Key="small-src", Body=tail)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "big-src"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "small-src"},
    )["CopyPartResult"]["ETag"]
    # Uploaded but left out of the object: completion removes it all the same.
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=3, Body=b"unused")
    parts = [_state(server).store.get(f"p/{upload}/{n:05d}")["blob_id"] for n in (1, 2, 3)]
    assert [is_inline(p) for p in parts] == [False, True, True]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first},
                {"PartNumber": 2, "ETag": second},  # a small last part: inline
            ]
        },
    )
    want = big[: 5 * MiB] + tail
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == want
    got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MiB - 2}-{5 * MiB + 1}")
    assert got["Body"].read() == want[5 * MiB - 2 : 5 * MiB + 2]
    assert not any(_stored(server, p) for p in parts)  # the parts went with the completion


def test_a_small_multipart_object_is_inline(server: TuleServer, s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"one")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag["ETag"]}]},
    )
    assert is_inline(_body_id(server, bucket, "mp"))
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"one"


def test_overwrite_and_delete_remove_the_inline_record(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    first = _body_id(server, bucket, "k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    second = _body_id(server, bucket, "k")
    assert not _stored(server, first) and _stored(server, second)
    s3.put_object(Bucket=bucket, Key="k", Body=_body(INLINE_MAX + 1))  # replaced by a file
    third = _body_id(server, bucket, "k")
    assert not _stored(server, second) and _stored(server, third)
    s3.put_object(Bucket=bucket, Key="k", Body=b"small again")  # a file replaced by inline
    fourth = _body_id(server, bucket, "k")
    assert not _stored(server, third)
    s3.delete_object(Bucket=bucket, Key="k")
    assert not _stored(server, fourth)


def test_versions_keep_their_inline_records_until_deleted(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = []
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key="k", Body=body)
        ids.append(_body_id(server, bucket, "k"))
    s3.delete_object(Bucket=bucket, Key="k")  # a delete marker keeps both versions
    assert all(_stored(server, i) for i in ids)
    versions = s3.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]
    for version in versions:
        s3.delete_object(Bucket=bucket, Key="k", VersionId=version["VersionId"])
    assert not any(_stored(server, i) for i in ids)


def test_suspended_versioning_replaces_the_null_inline_body(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"null v1")
    null_v1 = _body_id(server, bucket, "k")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"null v2")
    assert not _stored(server, null_v1)
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null v2"


def test_reuploaded_and_aborted_parts_drop_their_inline_records(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part_key = f"p/{upload}/00001"
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"a")
    first = _state(server).store.get(part_key)["blob_id"]
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"b")
    second = _state(server).store.get(part_key)["blob_id"]
    assert not _stored(server, first) and _stored(server, second)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)
    assert not _stored(server, second)


def test_listings_never_read_inline_data(
    server: TuleServer, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"small")
    store = _state(server).store
    read: list[str] = []
    real_get, real_list = store.get, store.list

    def get(key: str) -> Any:
        read.append(key)
        return real_get(key)

    def listing(prefix: str, **kwargs: Any) -> Any:
        page = real_list(prefix, **kwargs)
        read.extend(key for key, _ in page.items)
        return page

    monkeypatch.setattr(store, "get", get)
    monkeypatch.setattr(store, "list", listing)
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 3
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 3
    assert read and not [key for key in read if key.startswith(DATA_PREFIX)]


def _domain(data: Path) -> S3:
    settings = Settings(data_dir=data, lifecycle_interval_s=0)
    return S3(ServiceEnv(settings, ManualClock(), data / "s3"))


def test_startup_removes_orphan_inline_records(tmp_path: Path) -> None:
    domain = _domain(tmp_path)
    domain.buckets.create("gc-bucket", "us-east-1", None)
    kept = domain.objects.put("gc-bucket", "kept", b"referenced", ObjectAttributes())
    orphan = DATA_PREFIX + "i" + "ab" * 16
    domain.state.store.put(orphan, {"data": "b3JwaGFu"})  # as if its commit's record were lost
    domain.close()
    restarted = _domain(tmp_path)
    try:
        assert restarted.state.store.get(orphan) is None
        assert restarted.state.store.list_keys(DATA_PREFIX) == [DATA_PREFIX + kept.blob_id]
        assert restarted.objects.get("gc-bucket", "kept").body == b"referenced"
    finally:
        restarted.close()


def test_blob_deletions_cut_short_by_a_crash_are_finished_at_startup(tmp_path: Path) -> None:
    domain = _domain(tmp_path)
    domain.buckets.create("gc-bucket", "us-east-1", None)
    old = domain.objects.put("gc-bucket", "k", _body(INLINE_MAX + 1), ObjectAttributes())
    domain.state.bodies.close()  # the deleter stops, as if the process died before it ran
    new = domain.objects.put("gc-bucket", "k", _body(INLINE_MAX + 2), ObjectAttributes())
    assert old.blob_id in set(domain.state.blobs.blob_ids())
    domain.state.store.close()  # no orderly shutdown beyond this
    restarted = _domain(tmp_path)
    try:
        assert set(restarted.state.blobs.blob_ids()) == {new.blob_id}
    finally:
        restarted.close()


def test_inline_records_are_committed_with_their_version(tmp_path: Path) -> None:
    domain = _domain(tmp_path)
    domain.buckets.create("batch-bucket", "us-east-1", None)
    batches: list[list[str]] = []
    real_batch = domain.state.store.batch

    def batch(ops: list[Any]) -> None:
        batches.append([op.key for op in ops if isinstance(op, Put)])
        real_batch(ops)

    domain.state.store.batch = batch  # type: ignore[method-assign]
    try:
        version = domain.objects.put("batch-bucket", "k", b"tiny", ObjectAttributes())
        assert batches == [["o/batch-bucket/k", DATA_PREFIX + version.blob_id]]  # one atomic commit
    finally:
        domain.close()
