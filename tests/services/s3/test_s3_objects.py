"""Objects through boto3: PUT/GET/HEAD/DELETE, metadata, digests, checksums, conditions,
ranges, tags and server-side encryption."""

from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import blob_file, error_code, status

from tule.testing import TuleServer

BODY = b"0123456789" * 10


def test_put_then_get_returns_the_bytes_and_md5_etag(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    assert put["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == BODY
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == len(BODY)
    assert got["AcceptRanges"] == "bytes"


def test_overwrite_replaces_the_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_empty_object_round_trips(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'


def test_content_type_defaults_to_binary_octet_stream(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "binary/octet-stream"


def test_content_headers_and_user_metadata_round_trip(s3: Any, bucket: str) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket,
        Key="k",
        Body=b"x",
        ContentType="text/csv",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="a.csv"',
        ContentEncoding="identity",
        ContentLanguage="fi",
        Expires=expires,
        Metadata={"Owner": "Ada", "run-id": "7"},
    )
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ContentType"] == "text/csv"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == 'attachment; filename="a.csv"'
    assert head["ContentEncoding"] == "identity"
    assert head["ContentLanguage"] == "fi"
    assert head["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    # Metadata names are lower-cased, as HTTP headers are.
    assert head["Metadata"] == {"owner": "Ada", "run-id": "7"}


def test_storage_class_header_is_sent_only_when_not_standard(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="std", Body=b"x")
    s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="std")
    assert s3.head_object(Bucket=bucket, Key="ia")["StorageClass"] == "STANDARD_IA"


@pytest.mark.parametrize(
    "key",
    [
        "a/b/c.txt",
        "with space.txt",
        "plus+sign",
        "100%.csv",
        "ünïcødé/日本語",
        "a//b",
        "dir/",
        "?q=1&x#y",
    ],
)
def test_keys_with_any_utf8_round_trip(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


def test_dot_dot_keys_stay_inside_the_store(server: TuleServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="../../escape", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="../../escape")["Body"].read() == b"x"
    data_dir = server.settings.data_dir
    assert not (data_dir.parent / "escape").exists()
    assert not any(p.name == "escape" for p in data_dir.rglob("*"))
    assert blob_file(server, bucket, "../../escape").is_relative_to(data_dir)


def test_key_longer_than_1024_bytes_is_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="é" * 513, Body=b"x")  # 1026 UTF-8 bytes
    assert error_code(caught) == "KeyTooLongError"
    s3.put_object(Bucket=bucket, Key="é" * 512, Body=b"x")  # exactly 1024 bytes


def test_get_missing_key_is_no_such_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="missing")
    assert (error_code(caught), status(caught)) == ("NoSuchKey", 404)
    assert caught.value.response["Error"]["Key"] == "missing"


def test_head_missing_key_is_bare_404(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="missing")
    assert (error_code(caught), status(caught)) == ("404", 404)


def test_delete_removes_the_object_and_answers_204(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    answer = s3.delete_object(Bucket=bucket, Key="k")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_deleting_a_missing_key_still_answers_204(s3: Any, bucket: str) -> None:
    assert s3.delete_object(Bucket=bucket, Key="never")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects_deletes_each_and_reports(s3: Any, bucket: str) -> None:
    for key in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "never"}]}
    )
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["a", "b", "never"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_quiet_delete_objects_lists_only_errors(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    answer = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "not-a-version"}],
            "Quiet": True,
        },
    )
    assert "Deleted" not in answer
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("b", "InvalidArgument")]


def test_delete_objects_refuses_more_than_1000_keys(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]}
        )
    assert error_code(caught) == "MalformedXML"


def test_matching_content_md5_is_accepted(s3: Any, bucket: str) -> None:
    md5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()
    s3.put_object(Bucket=bucket, Key="k", Body=BODY, ContentMD5=md5)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY


def test_wrong_content_md5_is_bad_digest_and_stores_nothing(s3: Any, bucket: str) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=BODY, ContentMD5=wrong)
    assert (error_code(caught), status(caught)) == ("BadDigest", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_malformed_content_md5_is_invalid_digest(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=BODY, ContentMD5="bm90LW1kNQ==")
    assert error_code(caught) == "InvalidDigest"


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_checksum_is_stored_and_echoed_only_with_checksum_mode(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumAlgorithm="SHA256")
    plain = s3.head_object(Bucket=bucket, Key="k")
    assert "ChecksumSHA256" not in plain
    checked = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert checked["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == BODY  # botocore validates the echoed checksum while reading


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_every_checksum_algorithm_verifies(s3: Any, bucket: str, algorithm: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumAlgorithm=algorithm)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"]
    assert got["Body"].read() == BODY


def test_crc32_matches_the_standard_crc32(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumCRC32=_crc32(BODY))
    assert s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")[
        "ChecksumCRC32"
    ] == _crc32(BODY)


def test_wrong_checksum_is_bad_digest(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumCRC32=_crc32(b"other"))
    assert (error_code(caught), status(caught)) == ("BadDigest", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_malformed_checksum_is_invalid_request(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumCRC32="AAAAAAAA")
    assert error_code(caught) == "InvalidRequest"


def test_if_none_match_star_refuses_to_overwrite(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert (error_code(caught), status(caught)) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_put_if_match_writes_only_over_that_etag(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"first")["ETag"]
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfMatch='"0000"')
    assert error_code(caught) == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


# -- conditional reads ---------------------------------------------------------------------


@pytest.fixture
def stored(s3: Any, bucket: str) -> dict[str, Any]:
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    return s3.head_object(Bucket=bucket, Key="k")


def _get(s3: Any, bucket: str, **kw: Any) -> int:
    try:
        return int(
            s3.get_object(Bucket=bucket, Key="k", **kw)["ResponseMetadata"]["HTTPStatusCode"]
        )
    except ClientError as err:
        return int(err.response["ResponseMetadata"]["HTTPStatusCode"])


def test_if_match_passes_on_the_etag_and_fails_otherwise(
    s3: Any, bucket: str, stored: dict
) -> None:
    assert _get(s3, bucket, IfMatch=stored["ETag"]) == 200
    assert _get(s3, bucket, IfMatch="*") == 200
    assert _get(s3, bucket, IfMatch='"other"') == 412


def test_if_none_match_on_the_etag_is_not_modified(s3: Any, bucket: str, stored: dict) -> None:
    assert _get(s3, bucket, IfNoneMatch=stored["ETag"]) == 304
    assert _get(s3, bucket, IfNoneMatch='"other"') == 200


def test_if_modified_since(s3: Any, bucket: str, stored: dict) -> None:
    modified = stored["LastModified"]
    assert _get(s3, bucket, IfModifiedSince=modified) == 304
    assert _get(s3, bucket, IfModifiedSince=modified - timedelta(seconds=5)) == 200


def test_if_unmodified_since(s3: Any, bucket: str, stored: dict) -> None:
    modified = stored["LastModified"]
    assert _get(s3, bucket, IfUnmodifiedSince=modified) == 200
    assert _get(s3, bucket, IfUnmodifiedSince=modified - timedelta(seconds=5)) == 412


def test_if_match_true_overrides_failing_if_unmodified_since(
    s3: Any, bucket: str, stored: dict
) -> None:
    past = stored["LastModified"] - timedelta(days=1)
    assert _get(s3, bucket, IfMatch=stored["ETag"], IfUnmodifiedSince=past) == 200


def test_if_none_match_false_overrides_if_modified_since(
    s3: Any, bucket: str, stored: dict
) -> None:
    past = stored["LastModified"] - timedelta(days=1)
    assert _get(s3, bucket, IfNoneMatch=stored["ETag"], IfModifiedSince=past) == 304


def test_failed_condition_on_head_is_bare_412(s3: Any, bucket: str, stored: dict) -> None:
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="k", IfMatch='"other"')
    assert status(caught) == 412


# -- ranges --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected", "content_range"),
    [
        ("bytes=0-9", BODY[0:10], "bytes 0-9/100"),
        ("bytes=95-", BODY[95:], "bytes 95-99/100"),
        ("bytes=-3", BODY[-3:], "bytes 97-99/100"),
        ("bytes=90-500", BODY[90:], "bytes 90-99/100"),
        ("bytes=-500", BODY, "bytes 0-99/100"),
    ],
)
def test_range_get_answers_206_with_content_range(
    s3: Any, bucket: str, stored: dict, header: str, expected: bytes, content_range: str
) -> None:
    got = s3.get_object(Bucket=bucket, Key="k", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == content_range
    assert got["ContentLength"] == len(expected)
    assert got["Body"].read() == expected


def test_range_starting_past_the_end_is_invalid_range(s3: Any, bucket: str, stored: dict) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="k", Range="bytes=100-")
    assert (error_code(caught), status(caught)) == ("InvalidRange", 416)
    assert caught.value.response["Error"]["ActualObjectSize"] == "100"


def test_unparseable_range_returns_the_whole_object(s3: Any, bucket: str, stored: dict) -> None:
    got = s3.get_object(Bucket=bucket, Key="k", Range="bytes=9-2")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == BODY


def test_ranged_get_does_not_echo_the_whole_object_checksum(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumAlgorithm="CRC32")
    got = s3.get_object(Bucket=bucket, Key="k", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumCRC32" not in got
    assert got["Body"].read() == BODY[:10]


def test_response_overrides_replace_headers(s3: Any, bucket: str, stored: dict) -> None:
    got = s3.get_object(
        Bucket=bucket,
        Key="k",
        ResponseContentType="text/plain",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-cache",
        ResponseContentLanguage="en",
        ResponseContentEncoding="identity",
    )
    assert got["ContentType"] == "text/plain"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "en"
    assert got["ContentEncoding"] == "identity"


def test_part_number_of_a_single_part_object_is_the_whole_object(
    s3: Any, bucket: str, stored: dict
) -> None:
    got = s3.get_object(Bucket=bucket, Key="k", PartNumber=1)
    assert got["Body"].read() == BODY
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert status(caught) == 416


def test_large_object_streams_back_intact(s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * 20_000  # 5 MB: several 1 MiB chunks
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == data
    part = s3.get_object(Bucket=bucket, Key="big", Range="bytes=1048570-3145730")
    assert part["Body"].read() == data[1048570:3145731]


# -- tags ----------------------------------------------------------------------------------


def test_tagging_header_sets_tags_and_tag_count(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="team=ml&stage=raw%20data")
    tags = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert tags == [{"Key": "team", "Value": "ml"}, {"Key": "stage", "Value": "raw data"}]
    assert (
        s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-tagging-count"
        ]
        == "2"
    )


def test_object_tags_can_be_replaced_and_deleted(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "b", "Value": "2"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "b", "Value": "2"}]
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


def test_more_than_ten_object_tags_are_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    with pytest.raises(ClientError) as caught:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tags})
    assert status(caught) == 400


def test_tagging_a_missing_object_is_no_such_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert error_code(caught) == "NoSuchKey"


# -- server-side encryption ----------------------------------------------------------------


def test_sse_s3_object_is_encrypted_on_disk(server: TuleServer, s3: Any, bucket: str) -> None:
    secret = b"the plaintext must never touch the disk " * 50
    put = s3.put_object(Bucket=bucket, Key="k", Body=secret, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    on_disk = blob_file(server, bucket, "k").read_bytes()
    assert len(on_disk) > len(secret) and secret[:40] not in on_disk
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == secret
    assert got["ServerSideEncryption"] == "AES256"
    assert got["ETag"] == f'"{hashlib.md5(secret).hexdigest()}"'


def test_sse_kms_echoes_the_key_and_encrypts(server: TuleServer, s3: Any, bucket: str) -> None:
    secret = b"kms protected bytes " * 20
    put = s3.put_object(
        Bucket=bucket, Key="k", Body=secret, ServerSideEncryption="aws:kms", SSEKMSKeyId="my-key"
    )
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", "my-key")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", "my-key")
    assert secret[:20] not in blob_file(server, bucket, "k").read_bytes()
    assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=5-24")["Body"].read() == secret[5:25]


def test_kms_without_key_id_uses_the_aws_managed_key(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms")
    assert put["SSEKMSKeyId"].endswith(":alias/aws/s3")


def test_unencrypted_objects_are_stored_and_reported_plain(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    body = b"plain bytes on disk " * 10_000  # above the inline limit: a file
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="k")
    assert blob_file(server, bucket, "k").read_bytes() == body


def test_range_and_part_number_together_are_invalid(s3: Any, bucket: str, stored: dict) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="k", Range="bytes=0-1", PartNumber=1)
    assert error_code(caught) == "InvalidRequest"


def test_concurrent_overwrites_leave_one_whole_object_and_one_body(
    server: TuleServer, s3: Any, bucket: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # Sizes on both sides of the inline limit, so inline bodies and files replace each other.
    bodies = [bytes([i]) * (1000 + i * 12_000) for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: s3.put_object(Bucket=bucket, Key="hot", Body=b), bodies))
    assert s3.get_object(Bucket=bucket, Key="hot")["Body"].read() in bodies
    # Every replaced body was removed: no file or inline record lacks a record naming it.
    state = server.app.domains["s3"].state
    state.bodies.drain()
    referenced = {
        rec.get("blob_id") for prefix in ("o/", "v/", "p/") for _, rec in state.scan(prefix)
    }
    assert set(state.blobs.blob_ids()) <= referenced
    inline = {key.removeprefix("d/") for key in state.store.list_keys("d/")}
    assert inline <= referenced
    assert state.current(bucket, "hot").blob_id in referenced
