"""Multipart uploads: create, upload (or copy) parts, complete, abort, list (spec §9.5).

Each part is its own durable body (a blob, or inline when small: see `bodies`) with a record
under the upload. Completing checks the client's part list (ascending numbers, known parts,
matching ETags, every part but the last at least 5 MiB), concatenates the parts into the
object's body, and commits, in one batch, the new object version together with the removal of
the upload and its part records (inline parts included); part blobs go afterwards. The ETag is
the MD5 of the parts' binary MD5s, then `-<part count>`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, BinaryIO

from tule.metadata.base import Delete, Put
from tule.services.s3 import checksums, errors, names
from tule.services.s3.buckets import Buckets
from tule.services.s3.checksums import COMPOSITE, FULL_OBJECT, Expectation, check_content_md5
from tule.services.s3.conditions import Preconditions, etag_matches
from tule.services.s3.copy import Copier, CopySource
from tule.services.s3.listing import Cursor, Walk, walk
from tule.services.s3.models import MultipartUpload, ObjectAttributes, ObjectVersion, Part
from tule.services.s3.objects import Objects
from tule.services.s3.state import PAST_PREFIX, State
from tule.services.s3.versions import WriteConditions

MAX_PART_NUMBER = 10_000
MAX_LISTED = 1000
# Algorithms whose parts can be combined into a whole-object checksum (S3 user guide,
# "Checking object integrity": full object checksums for multipart uploads).
_FULL_OBJECT_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")


@dataclass(frozen=True)
class CompletedPart:
    """One entry of the client's CompleteMultipartUpload list."""

    part_number: int
    etag: str
    checksums: dict[str, str]


@dataclass(frozen=True)
class PartsPage:
    upload: MultipartUpload
    parts: list[Part]
    truncated: bool
    next_marker: int | None


class Multipart:
    """Multipart uploads of one S3 store."""

    def __init__(self, state: State, buckets: Buckets, objects: Objects, copier: Copier) -> None:
        self.state = state
        self.buckets = buckets
        self.objects = objects
        self.copier = copier

    def create(
        self,
        bucket_name: str,
        key: str,
        attrs: ObjectAttributes,
        checksum_algorithm: str | None = None,
        checksum_type: str | None = None,
    ) -> MultipartUpload:
        bucket = self.buckets.require(bucket_name)
        names.check_key(key)
        self.objects.check_encryption(attrs, bucket)
        algorithm = checksum_algorithm.upper() if checksum_algorithm else None
        if algorithm is not None and algorithm not in checksums.ALGORITHMS:
            raise errors.invalid_request(f"Checksum algorithm {algorithm} is not supported.")
        if algorithm is not None and checksum_type is None:
            checksum_type = FULL_OBJECT if algorithm == "CRC64NVME" else COMPOSITE
        if checksum_type == FULL_OBJECT and algorithm not in _FULL_OBJECT_ALGORITHMS:
            raise errors.invalid_request(
                f"The FULL_OBJECT checksum type cannot be used with the {algorithm} checksum "
                "algorithm."
            )
        if checksum_type == COMPOSITE and algorithm == "CRC64NVME":
            raise errors.invalid_request(
                "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
            )
        now = self.state.now()
        # Upload ids sort by initiation time, the order ListMultipartUploads gives per key.
        upload_id = f"{int(now * 1000):012x}{secrets.token_hex(20)}"
        upload = MultipartUpload(key, upload_id, now, attrs, algorithm, checksum_type)
        self.state.store.put(self.state.upload_key(bucket.name, key, upload_id), upload.to_record())
        return upload

    def upload(self, bucket_name: str, key: str, upload_id: str) -> MultipartUpload:
        """The upload, or `NoSuchUpload`."""
        self.buckets.require(bucket_name)
        rec = self.state.store.get(self.state.upload_key(bucket_name, key, upload_id))
        if rec is None:
            raise errors.no_such_upload(upload_id)
        return MultipartUpload.from_record(rec)

    def upload_part(
        self,
        bucket_name: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: BinaryIO | bytes | Iterator[bytes],
        *,
        content_md5: str | None = None,
        checksum: Expectation | None = None,
    ) -> tuple[Part, MultipartUpload]:
        """UploadPart; returns the part and the upload it belongs to."""
        _check_part_number(part_number)
        upload = self.upload(bucket_name, key, upload_id)
        expected_md5 = check_content_md5(content_md5)
        if (checksum is None or checksum.algorithm is None) and upload.checksum_algorithm:
            # Parts of an upload created with an algorithm carry that checksum (S3 computes it
            # when the client sends none), so completion can combine them.
            checksum = Expectation({}, upload.checksum_algorithm)
        blob = self.objects.store_bytes(
            key, body, upload.attrs, checksum or Expectation({}), expected_md5
        )
        part = Part(
            part_number,
            blob.blob_id or "",
            blob.size,
            blob.etag,
            blob.last_modified,
            blob.checksum_algorithm,
            blob.checksum,
        )
        self._save_part(bucket_name, key, upload_id, part)
        return part, upload

    def upload_part_copy(
        self,
        bucket_name: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: CopySource,
        source_conditions: Preconditions,
        copy_range: str | None,
    ) -> tuple[Part, str | None]:
        """UploadPartCopy; returns the part and the source's version id (if versioned)."""
        _check_part_number(part_number)
        upload = self.upload(bucket_name, key, upload_id)
        src, _, body = self.copier.open_source(source, source_conditions, copy_range)
        try:
            blob = self.objects.store_bytes(
                key, body, upload.attrs, Expectation({}, upload.checksum_algorithm)
            )
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        part = Part(
            part_number,
            blob.blob_id or "",
            blob.size,
            blob.etag,
            blob.last_modified,
            blob.checksum_algorithm,
            blob.checksum,
        )
        self._save_part(bucket_name, key, upload_id, part)
        return part, (src.version_id if src.version_id != "null" else None)

    def _save_part(self, bucket_name: str, key: str, upload_id: str, part: Part) -> None:
        st = self.state
        part_key = st.part_key(upload_id, part.part_number)
        replaced: list[str | None] = []
        try:
            with st.lock_upload(upload_id):
                if st.store.get(st.upload_key(bucket_name, key, upload_id)) is None:
                    raise errors.no_such_upload(upload_id)  # aborted or completed meanwhile
                old = st.store.get(part_key)
                replaced = [old.get("blob_id")] if old is not None else []  # uploaded again
                ops: list[Put | Delete] = [Put(part_key, part.to_record())]
                ops += st.bodies.records([part.blob_id])
                ops += st.bodies.deletions(replaced)
                st.write(ops)
        except BaseException:
            st.bodies.discard([part.blob_id])
            raise
        st.bodies.discard(replaced)

    def complete(
        self,
        bucket_name: str,
        key: str,
        upload_id: str,
        requested: list[CompletedPart],
        conditions: WriteConditions | None = None,
    ) -> ObjectVersion:
        bucket = self.buckets.require(bucket_name)
        st = self.state
        with st.lock_upload(upload_id):
            upload = self.upload(bucket_name, key, upload_id)
            stored = {p.part_number: p for p in self._parts(upload_id)}
            chosen = _choose_parts(upload_id, requested, stored)
            checksum = _object_checksum(upload, chosen)
            digests = b"".join(bytes.fromhex(p.etag.strip('"')) for p in chosen)
            etag = f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(chosen)}"'
            info = st.bodies.concat([p.blob_id for p in chosen], encrypt=upload.attrs.encrypted)
            version = ObjectVersion(
                key=key,
                version_id="",
                sort_key="",  # assigned when committed
                attrs=upload.attrs,
                blob_id=info.blob_id,
                size=info.size,
                etag=etag,
                last_modified=st.now(),
                checksum_algorithm=upload.checksum_algorithm if checksum else None,
                checksum=checksum,
                checksum_type=upload.checksum_type if checksum else None,
                parts=[p.size for p in chosen],
            )
            cleanup: list[Put | Delete] = [Delete(st.upload_key(bucket_name, key, upload_id))]
            cleanup += [Delete(st.part_key(upload_id, n)) for n in stored]
            return self.objects.versions.commit(
                bucket,
                version,
                conditions,
                also=cleanup,
                also_discard=[p.blob_id for p in stored.values()],
            )

    def abort(self, bucket_name: str, key: str, upload_id: str) -> None:
        st = self.state
        with st.lock_upload(upload_id):
            self.upload(bucket_name, key, upload_id)
            parts = self._parts(upload_id)
            ops: list[Put | Delete] = [Delete(st.upload_key(bucket_name, key, upload_id))]
            ops += [Delete(st.part_key(upload_id, p.part_number)) for p in parts]
            ops += st.bodies.deletions(p.blob_id for p in parts)
            st.write(ops)
        st.bodies.discard(p.blob_id for p in parts)

    def abort_all(self, bucket_name: str) -> None:
        """Abort every upload of a bucket that is being deleted."""
        for _, rec in list(self.state.scan(f"u/{bucket_name}/")):
            upload = MultipartUpload.from_record(rec)
            self.abort(bucket_name, upload.key, upload.upload_id)

    def list_parts(
        self,
        bucket_name: str,
        key: str,
        upload_id: str,
        max_parts: int | None,
        marker: int | None,
    ) -> PartsPage:
        upload = self.upload(bucket_name, key, upload_id)
        limit = min(max_parts if max_parts is not None else MAX_LISTED, MAX_LISTED)
        after = self.state.part_key(upload_id, marker) if marker else None
        page = self.state.store.list(f"p/{upload_id}/", start_after=after, limit=limit)
        parts = [Part.from_record(rec) for _, rec in page.items]
        truncated = page.next_after is not None
        return PartsPage(upload, parts, truncated, parts[-1].part_number if parts else None)

    def list_uploads(
        self,
        bucket_name: str,
        prefix: str,
        delimiter: str | None,
        max_uploads: int | None,
        key_marker: str | None,
        upload_id_marker: str | None,
    ) -> Walk:
        """Uploads in progress by key, then initiation; items are MultipartUploads."""
        self.buckets.require(bucket_name)
        base = f"u/{bucket_name}/"
        limit = min(max_uploads if max_uploads is not None else MAX_LISTED, MAX_LISTED)
        cursor = Cursor(key_marker, upload_id_marker or None) if key_marker else None

        def source(at: Cursor | None) -> Iterator[tuple[str, str | None, Any]]:
            after = None
            if at is not None:
                if at.skip_prefix:
                    after = base + at.key + PAST_PREFIX
                elif at.version is not None:
                    after = self.state.upload_key(bucket_name, at.key, at.version)
                else:
                    after = base + at.key + "\0\U0010ffff"
            for _, rec in self.state.scan(base + prefix, after):
                upload = MultipartUpload.from_record(rec)
                yield upload.key, upload.upload_id, upload

        return walk(source, prefix, delimiter or None, cursor, limit)

    def stale_uploads(self, bucket_name: str, prefix: str) -> Iterator[MultipartUpload]:
        """Every upload under `prefix` (for lifecycle's AbortIncompleteMultipartUpload)."""
        for _, rec in list(self.state.scan(f"u/{bucket_name}/{prefix}")):
            yield MultipartUpload.from_record(rec)

    def _parts(self, upload_id: str) -> list[Part]:
        return [Part.from_record(rec) for _, rec in self.state.scan(f"p/{upload_id}/")]


def _check_part_number(part_number: int) -> None:
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise errors.invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
            "partNumber",
            part_number,
        )


def _choose_parts(
    upload_id: str, requested: list[CompletedPart], stored: dict[int, Part]
) -> list[Part]:
    """The stored parts the client's list names, checked as S3 checks them."""
    if not requested:
        raise errors.malformed_xml()
    numbers = [p.part_number for p in requested]
    if any(b <= a for a, b in pairwise(numbers)):
        raise errors.invalid_part_order(upload_id)
    chosen = []
    for want in requested:
        part = stored.get(want.part_number)
        if part is None or not etag_matches(want.etag, part.etag):
            raise errors.invalid_part(upload_id, want.part_number, want.etag)
        for algorithm, value in want.checksums.items():
            if part.checksum_algorithm == algorithm and part.checksum != value:
                raise errors.invalid_part(upload_id, want.part_number, want.etag)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < errors.MIN_PART_SIZE:
            raise errors.entity_too_small(part.size, part.part_number, part.etag)
    return chosen


def _object_checksum(upload: MultipartUpload, parts: list[Part]) -> str | None:
    """The completed object's checksum: COMPOSITE (checksum of the part checksums, `-N`) or
    FULL_OBJECT (the parts' CRCs combined), per the upload's checksum type."""
    algorithm = upload.checksum_algorithm
    if algorithm is None or any(p.checksum is None for p in parts):
        return None
    values = [p.checksum or "" for p in parts]
    if upload.checksum_type == FULL_OBJECT:
        return checksums.combine_full(
            algorithm, [(v, p.size) for v, p in zip(values, parts, strict=True)]
        )
    return checksums.composite(algorithm, values)
