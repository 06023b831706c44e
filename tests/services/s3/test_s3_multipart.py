"""Multipart uploads through boto3, and the transfer manager on top of them."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3_helpers import error_code, status

MiB = 1024 * 1024
PART = b"p" * (5 * MiB)


def _upload(s3: Any, bucket: str, key: str = "k", **kw: Any) -> str:
    return s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)["UploadId"]


def _multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_upload_parts_and_complete(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket, ContentType="text/plain", Metadata={"m": "1"})
    bodies = [PART, b"tail"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=n, Body=body)["ETag"]
        for n, body in enumerate(bodies, 1)
    ]
    assert etags[1] == f'"{hashlib.md5(b"tail").hexdigest()}"'
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done["ETag"] == _multipart_etag(bodies)
    assert done["Key"] == "k" and done["Bucket"] == bucket
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == PART + b"tail"
    assert (got["ContentType"], got["Metadata"], got["ETag"]) == (
        "text/plain",
        {"m": "1"},
        done["ETag"],
    )
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_get_by_part_number_returns_that_part(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    e1 = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=PART)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=2, Body=b"end")["ETag"]
    parts = [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    second = s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert second["Body"].read() == b"end"
    assert second["PartsCount"] == 2
    assert second["ContentRange"] == f"bytes {len(PART)}-{len(PART) + 2}/{len(PART) + 3}"


def test_parts_out_of_order_are_invalid_part_order(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    etags = [
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=n, Body=PART)["ETag"]
        for n in (1, 2)
    ]
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1, "ETag": etags[0]}]
            },
        )
    assert (error_code(caught), status(caught)) == ("InvalidPartOrder", 400)


def test_unknown_part_or_wrong_etag_is_invalid_part(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"x")["ETag"]
    for parts in (
        [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}],
        [{"PartNumber": 1, "ETag": etag}, {"PartNumber": 2, "ETag": etag}],
    ):
        with pytest.raises(ClientError) as caught:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}
            )
        assert (error_code(caught), status(caught)) == ("InvalidPart", 400)
    # The upload survives a failed completion.
    assert len(s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)["Parts"]) == 1


def test_small_part_before_the_last_is_entity_too_small(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    etags = [
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=n, Body=b"small")["ETag"]
        for n in (1, 2)
    ]
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
            },
        )
    assert (error_code(caught), status(caught)) == ("EntityTooSmall", 400)
    assert caught.value.response["Error"]["MinSizeAllowed"] == str(5 * MiB)


def test_a_single_small_part_completes(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"tiny")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"tiny"


def test_part_numbers_outside_1_to_10000_are_refused(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    for number in (0, 10001):
        with pytest.raises(ClientError) as caught:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=number, Body=b"x")
        assert status(caught) == 400


def test_unknown_upload_is_no_such_upload(s3: Any, bucket: str) -> None:
    for call in (
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId="nope", PartNumber=1, Body=b"x"),
        lambda: s3.list_parts(Bucket=bucket, Key="k", UploadId="nope"),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId="nope"),
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId="nope",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
        ),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert (error_code(caught), status(caught)) == ("NoSuchUpload", 404)


def test_abort_discards_the_upload(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"x")
    assert (
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)
    assert error_code(caught) == "NoSuchUpload"


def test_reuploading_a_part_replaces_it(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"old")
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"new")[
        "ETag"
    ]
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, etag, 3)]


def test_list_parts_pages(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket)
    for n in range(1, 6):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=n, Body=b"x")
    first = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True and first["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3, 4, 5]
    assert rest["IsTruncated"] is False


def test_list_multipart_uploads_with_prefix_delimiter_and_markers(s3: Any, bucket: str) -> None:
    ids = {key: _upload(s3, bucket, key) for key in ("a/1", "a/2", "b", "c")}
    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["Key"] for u in listed["Uploads"]] == ["a/1", "a/2", "b", "c"]
    assert listed["Uploads"][0]["UploadId"] == ids["a/1"]
    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in grouped["Uploads"]] == ["b", "c"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/"]
    prefixed = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")
    assert [u["Key"] for u in prefixed["Uploads"]] == ["a/1", "a/2"]
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert page["IsTruncated"] is True
    rest = s3.list_multipart_uploads(
        Bucket=bucket, KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"]
    )
    assert [u["Key"] for u in rest["Uploads"]] == ["b", "c"]


def test_upload_part_copy_with_a_range(s3: Any, bucket: str) -> None:
    source = bytes(range(256)) * (24 * 1024)  # 6 MiB
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload = _upload(s3, bucket, "dst")
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes={5 * MiB}-{len(source) - 1}",
    )["CopyPartResult"]["ETag"]
    assert first == f'"{hashlib.md5(source[: 5 * MiB]).hexdigest()}"'
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="dst",
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]
        },
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source


def test_upload_part_copy_range_outside_the_source_is_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"12345")
    upload = _upload(s3, bucket, "dst")
    with pytest.raises(ClientError) as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=upload,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange="bytes=0-10",
        )
    assert (error_code(caught), status(caught)) == ("InvalidArgument", 400)


def test_full_object_crc_checksum_is_combined_from_parts(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket, ChecksumAlgorithm="CRC64NVME")
    bodies = [PART, b"rest of it"]
    parts = []
    for n, body in enumerate(bodies, 1):
        answer = s3.upload_part(
            Bucket=bucket,
            Key="k",
            UploadId=upload,
            PartNumber=n,
            Body=body,
            ChecksumAlgorithm="CRC64NVME",
        )
        parts.append(
            {
                "PartNumber": n,
                "ETag": answer["ETag"],
                "ChecksumCRC64NVME": answer["ChecksumCRC64NVME"],
            }
        )
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    assert done["ChecksumType"] == "FULL_OBJECT"
    single = s3.put_object(
        Bucket=bucket, Key="whole", Body=b"".join(bodies), ChecksumAlgorithm="CRC64NVME"
    )
    assert done["ChecksumCRC64NVME"] == single["ChecksumCRC64NVME"]
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(bodies)  # botocore validates the full-object CRC


def test_composite_checksum_has_part_count_suffix(s3: Any, bucket: str) -> None:
    upload = _upload(s3, bucket, ChecksumAlgorithm="SHA256")
    answer = s3.upload_part(
        Bucket=bucket,
        Key="k",
        UploadId=upload,
        PartNumber=1,
        Body=b"abc",
        ChecksumAlgorithm="SHA256",
    )
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload,
        MultipartUpload={
            "Parts": [
                {
                    "PartNumber": 1,
                    "ETag": answer["ETag"],
                    "ChecksumSHA256": answer["ChecksumSHA256"],
                }
            ]
        },
    )
    expected = base64.b64encode(hashlib.sha256(hashlib.sha256(b"abc").digest()).digest()).decode()
    assert done["ChecksumSHA256"] == f"{expected}-1"


def test_transfer_manager_round_trips_50_mib(s3: Any, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(50 * MiB))
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    s3.upload_file(str(source), bucket, "big/file.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big/file.bin")
    assert head["ContentLength"] == 50 * MiB
    assert head["ETag"].endswith('-7"')  # 6 parts of 8 MiB and one of 2 MiB
    target = tmp_path / "target.bin"
    s3.download_file(bucket, "big/file.bin", str(target), Config=config)
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )
