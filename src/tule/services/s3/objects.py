"""Objects: PutObject, GetObject/HeadObject, DeleteObject(s), object tags.

A PUT streams the request body into storage (hashing it on the way for the ETag and any
checksum), verifies what the client promised, then commits one record: no listing, no scan, one
metadata commit per PUT (which also carries a small body's bytes, see `bodies`). A GET looks
the record up and streams the body in 1 MiB chunks (small objects go out as one piece).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tule.errors import AwsError
from tule.services.s3 import errors, names, tagging
from tule.services.s3.buckets import Buckets
from tule.services.s3.checksums import Expectation, check_content_md5, verify_content_md5
from tule.services.s3.conditions import ByteRange, Preconditions, check_read, parse_range
from tule.services.s3.models import ARCHIVE_CLASSES, Bucket, ObjectAttributes, ObjectVersion
from tule.services.s3.state import State
from tule.services.s3.versions import Deletion, Versions, WriteConditions
from tule.storage.base import BlobTooLarge

# Bodies up to this size are sent as one bytes value rather than a stream of chunks.
INLINE_BODY = 1 << 20
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
MAX_DELETE_KEYS = 1000
_OPEN_ATTEMPTS = 3


@dataclass(frozen=True)
class ObjectRead:
    """A GET/HEAD answer: the version, the byte range served (None: all), and the body."""

    version: ObjectVersion
    range: ByteRange | None
    body: bytes | Iterator[bytes] | None
    part_count: int | None = None

    @property
    def content_length(self) -> int:
        return self.range.length if self.range else self.version.size


@dataclass(frozen=True)
class DeleteOutcome:
    """One key of a DeleteObjects request: what happened, or the error it met."""

    key: str
    requested_version: str | None
    deletion: Deletion | None = None
    error: AwsError | None = None


class Objects:
    """Object reads and writes."""

    def __init__(self, state: State, buckets: Buckets, versions: Versions, account: str) -> None:
        self.state = state
        self.buckets = buckets
        self.versions = versions
        self.account = account

    # -- writing ------------------------------------------------------------------------------

    def put(
        self,
        bucket_name: str,
        key: str,
        body: BinaryIO | bytes,
        attrs: ObjectAttributes,
        *,
        content_md5: str | None = None,
        checksum: Expectation | None = None,
        conditions: WriteConditions | None = None,
    ) -> ObjectVersion:
        bucket = self.buckets.require(bucket_name)
        names.check_key(key)
        expected_md5 = check_content_md5(content_md5)
        self.check_encryption(attrs, bucket)
        if conditions and conditions.if_none_match is not None:
            if conditions.if_none_match.strip() != "*":
                raise AwsError(
                    "NotImplemented",
                    "A header you provided implies functionality that is not implemented",
                    501,
                    fields={"Header": "If-None-Match"},
                )
            # Fail before storing anything; the commit checks again under the key's lock.
            if self.state.current(bucket.name, key) is not None:
                raise errors.precondition_failed("If-None-Match")
        checksum = checksum or Expectation({})
        version = self.store_bytes(key, body, attrs, checksum, expected_md5)
        return self.versions.commit(bucket, version, conditions)

    def put_many(
        self,
        bucket_name: str,
        items: Sequence[tuple[str, BinaryIO | bytes | Path, ObjectAttributes]],
    ) -> list[ObjectVersion]:
        """PutObject of several keys of one bucket, made current together in one commit. A
        `Path` body is a finished file the store takes over (see `Bodies.adopt`)."""
        bucket = self.buckets.require(bucket_name)
        for key, _, attrs in items:
            names.check_key(key)
            self.check_encryption(attrs, bucket)
        stored: list[ObjectVersion] = []
        try:
            for key, body, attrs in items:
                stored.append(self.store_bytes(key, body, attrs, Expectation({})))
        except BaseException:
            self.state.bodies.discard([version.blob_id for version in stored])
            raise
        self.versions.commit_many(bucket, stored)
        return stored

    def store_bytes(
        self,
        key: str,
        data: BinaryIO | bytes | Iterator[bytes] | Path,
        attrs: ObjectAttributes,
        checksum: Expectation,
        expected_md5: bytes | None = None,
    ) -> ObjectVersion:
        """Store the bytes as a new body (see `bodies`) and describe them as a new, uncommitted
        version: committing it makes it durable; the caller discards it if it is not committed.
        A `Path` is a finished file of an in-process writer, taken over whole."""
        try:
            if isinstance(data, Path):
                info = self.state.bodies.adopt(data, encrypt=attrs.encrypted)
            else:
                info = self.state.bodies.write(
                    data,
                    encrypt=attrs.encrypted,
                    hashers=checksum.hashers,
                    max_size=errors.MAX_PUT_SIZE,
                )
        except BlobTooLarge:
            raise errors.entity_too_large(errors.MAX_PUT_SIZE + 1) from None
        try:
            verify_content_md5(expected_md5, info.md5_hex)
            stored = checksum.finish()
        except BaseException:
            self.state.bodies.discard([info.blob_id])
            raise
        return ObjectVersion(
            key=key,
            version_id="",
            sort_key="",  # assigned when committed
            attrs=attrs,
            blob_id=info.blob_id,
            size=info.size,
            etag=f'"{info.md5_hex}"',
            last_modified=self.state.now(),
            checksum_algorithm=stored.algorithm if stored else None,
            checksum=stored.value if stored else None,
            checksum_type=stored.type if stored else None,
        )

    def check_encryption(self, attrs: ObjectAttributes, bucket: Bucket) -> None:
        """Validate SSE settings; name the AWS managed key when aws:kms names none."""
        if attrs.sse is None:
            if attrs.kms_key_id is not None:
                raise errors.invalid_argument(
                    "Server Side Encryption with AWS KMS managed key requires HTTP header "
                    "x-amz-server-side-encryption : aws:kms",
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    attrs.kms_key_id,
                )
            return
        if attrs.sse not in SSE_ALGORITHMS:
            raise errors.invalid_argument(
                "The encryption method specified is not supported",
                "x-amz-server-side-encryption",
                attrs.sse,
            )
        if attrs.sse == "AES256":
            attrs.kms_key_id = None
        elif attrs.kms_key_id is None:
            attrs.kms_key_id = f"arn:aws:kms:{bucket.region}:{self.account}:alias/aws/s3"

    # -- reading ------------------------------------------------------------------------------

    def get(
        self,
        bucket_name: str,
        key: str,
        *,
        version_id: str | None = None,
        conditions: Preconditions | None = None,
        range_header: str | None = None,
        part_number: int | None = None,
        with_body: bool = True,
    ) -> ObjectRead:
        """GetObject (`with_body`) or HeadObject."""
        bucket = self.buckets.require(bucket_name)
        if part_number is not None and range_header is not None:
            raise errors.invalid_request(
                "Cannot specify both Range header and partNumber query parameter"
            )

        def prepare(version: ObjectVersion) -> ByteRange | None:
            # Archived objects can be HEADed but not read until restored (spec §9.6).
            if with_body and not self.readable(version):
                raise errors.invalid_object_state(version.storage_class)
            check_read(conditions or Preconditions(), version.etag, version.last_modified)
            if part_number is not None:
                return _part_range(version, part_number)
            return parse_range(range_header, version.size)

        version, rng, body = self.open(bucket, key, version_id, prepare, with_body)
        if body is not None and (rng.length if rng else version.size) <= INLINE_BODY:
            body = b"".join(body)
        parts = None
        if part_number is not None and version.parts:
            parts = len(version.parts)
        return ObjectRead(version, rng, body, parts)

    def readable(self, version: ObjectVersion) -> bool:
        if version.storage_class not in ARCHIVE_CLASSES:
            return True
        expiry = version.restore_expiry
        return expiry is not None and expiry > self.state.clock.time()

    def open(
        self,
        bucket: Bucket,
        key: str,
        version_id: str | None,
        prepare: Callable[[ObjectVersion], ByteRange | None],
        with_body: bool = True,
    ) -> tuple[ObjectVersion, ByteRange | None, Iterator[bytes] | None]:
        """Find a version, let `prepare` check it and pick the range, and open its bytes.

        An overwrite deletes the old body with or soon after its commit, so a reader that found
        the old record may find its body gone: it then simply looks again (a blob file stays
        readable once opened, an inline body is read whole at once)."""
        for attempt in range(_OPEN_ATTEMPTS):
            version = self.versions.find(bucket, key, version_id)
            rng = prepare(version)
            if not with_body:
                return version, rng, None
            start, end = (rng.start, rng.end + 1) if rng else (0, None)
            assert version.blob_id is not None
            try:
                return version, rng, self.state.bodies.read(version.blob_id, start, end)
            except FileNotFoundError:
                if attempt == _OPEN_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    # -- deleting -----------------------------------------------------------------------------

    def delete(self, bucket_name: str, key: str, version_id: str | None = None) -> Deletion:
        """DeleteObject: 204 whether or not the key existed (S3 API reference)."""
        bucket = self.buckets.require(bucket_name)
        if version_id is not None:
            return self.versions.delete_version(bucket, key, version_id)
        return self.versions.delete(bucket, key)

    def delete_many(
        self, bucket_name: str, targets: list[tuple[str, str | None]]
    ) -> list[DeleteOutcome]:
        """DeleteObjects: up to 1000 keys, each succeeding or failing on its own."""
        bucket = self.buckets.require(bucket_name)
        if not targets or len(targets) > MAX_DELETE_KEYS:
            raise errors.malformed_xml()
        outcomes = []
        for key, version_id in targets:
            try:
                if version_id is not None:
                    deletion = self.versions.delete_version(bucket, key, version_id)
                else:
                    deletion = self.versions.delete(bucket, key)
                outcomes.append(DeleteOutcome(key, version_id, deletion))
            except AwsError as err:
                outcomes.append(DeleteOutcome(key, version_id, error=err))
        return outcomes

    # -- tags ---------------------------------------------------------------------------------

    def put_tags(
        self, bucket_name: str, key: str, version_id: str | None, tag_list: list[dict[str, str]]
    ) -> ObjectVersion:
        bucket = self.buckets.require(bucket_name)
        tags = tagging.tag_set(tag_list, limit=tagging.MAX_OBJECT_TAGS)

        def change(version: ObjectVersion) -> ObjectVersion:
            version.attrs.tags = tags
            return version

        return self.versions.update(bucket, key, version_id, change)

    def tags(self, bucket_name: str, key: str, version_id: str | None) -> ObjectVersion:
        bucket = self.buckets.require(bucket_name)
        return self.versions.find(bucket, key, version_id)

    def delete_tags(self, bucket_name: str, key: str, version_id: str | None) -> ObjectVersion:
        return self.put_tags(bucket_name, key, version_id, [])


def _part_range(version: ObjectVersion, part_number: int) -> ByteRange | None:
    """The bytes of one part (GetObject `partNumber`); a non-multipart object is one part."""
    sizes = version.parts or [version.size]
    if part_number < 1 or part_number > len(sizes):
        raise errors.invalid_part_number()
    start = sum(sizes[: part_number - 1])
    if version.size == 0:
        return None
    return ByteRange(start, start + sizes[part_number - 1] - 1, version.size)
