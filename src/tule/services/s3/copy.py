"""Server-side copies: CopyObject, and the source side of UploadPartCopy.

The copy source header is `<bucket>/<url-encoded key>[?versionId=<id>]` (an optional leading
`/`); botocore percent-encodes the key, so a `?` inside a key arrives as `%3F` and the first
literal `?` starts the version parameter. A copy rewrites the bytes into a new blob, so the new
object's ETag is the MD5 of its bytes (spec §9.5).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, unquote

from tule.services.s3 import errors, names
from tule.services.s3.checksums import Expectation
from tule.services.s3.conditions import (
    ByteRange,
    Preconditions,
    check_copy_source,
    parse_copy_range,
)
from tule.services.s3.models import ObjectAttributes, ObjectVersion
from tule.services.s3.objects import Objects
from tule.services.s3.versions import WriteConditions


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class CopyDirectives:
    """How the new object's attributes are chosen: copied from the source or given anew."""

    metadata_directive: str = "COPY"  # COPY | REPLACE
    tagging_directive: str = "COPY"
    storage_class_given: bool = False  # an explicit x-amz-storage-class makes a self-copy legal


@dataclass(frozen=True)
class CopyResult:
    version: ObjectVersion
    source_version_id: str | None


def parse_copy_source(header: str) -> CopySource:
    """Decode `x-amz-copy-source`."""
    path, _, query = header.partition("?")
    version_id = None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "versionId":
            version_id = value
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise errors.invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            "x-amz-copy-source",
            header,
        )
    return CopySource(bucket, key, version_id)


class Copier:
    """Copies between objects (and from objects into multipart parts)."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    def open_source(
        self, source: CopySource, conditions: Preconditions, byte_range: str | None = None
    ) -> tuple[ObjectVersion, ByteRange | None, Iterator[bytes]]:
        """The source version and its bytes (or a range of them), once its checks pass."""
        bucket = self.objects.buckets.require(source.bucket)

        def prepare(version: ObjectVersion) -> ByteRange | None:
            if not self.objects.readable(version):
                raise errors.invalid_object_state(
                    version.storage_class,
                    "The source object of the COPY operation is not in the active tier and is "
                    "only stored in Amazon S3 Glacier.",
                )
            check_copy_source(conditions, version.etag, version.last_modified)
            return parse_copy_range(byte_range, version.size) if byte_range else None

        version, rng, body = self.objects.open(bucket, source.key, source.version_id, prepare)
        assert body is not None
        return version, rng, body

    def copy(
        self,
        bucket_name: str,
        key: str,
        source: CopySource,
        requested: ObjectAttributes,
        directives: CopyDirectives,
        *,
        source_conditions: Preconditions | None = None,
        conditions: WriteConditions | None = None,
        checksum_algorithm: str | None = None,
    ) -> CopyResult:
        bucket = self.objects.buckets.require(bucket_name)
        names.check_key(key)
        for directive in (directives.metadata_directive, directives.tagging_directive):
            if directive not in ("COPY", "REPLACE"):
                raise errors.invalid_argument(
                    "Unknown metadata directive.", "x-amz-metadata-directive", directive
                )
        self_copy = (bucket_name, key) == (source.bucket, source.key)
        if (
            self_copy
            and directives.metadata_directive != "REPLACE"
            and not directives.storage_class_given
            and requested.sse is None
        ):
            raise errors.invalid_request(
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect "
                "location or encryption attributes."
            )
        src, _, body = self.open_source(source, source_conditions or Preconditions())
        attrs = _new_attributes(src.attrs, requested, directives)
        self.objects.check_encryption(attrs, bucket)
        # The copy keeps the source's checksum algorithm (recomputed over the whole object).
        checksum = Expectation({}, checksum_algorithm or src.checksum_algorithm)
        try:
            version = self.objects.store_bytes(key, body, attrs, checksum)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        committed = self.objects.versions.commit(bucket, version, conditions)
        source_version = src.version_id if src.version_id != "null" else None
        return CopyResult(committed, source_version)


def _new_attributes(
    source: ObjectAttributes, requested: ObjectAttributes, directives: CopyDirectives
) -> ObjectAttributes:
    """COPY keeps the source's content headers and metadata; REPLACE takes the request's.
    Storage class and encryption always come from the request (S3 API reference, CopyObject)."""
    if directives.metadata_directive == "REPLACE":
        attrs = replace(requested, metadata=dict(requested.metadata), tags={})
    else:
        attrs = replace(
            source,
            metadata=dict(source.metadata),
            storage_class=requested.storage_class,
            sse=requested.sse,
            kms_key_id=requested.kms_key_id,
        )
    attrs.tags = dict(source.tags if directives.tagging_directive == "COPY" else requested.tags)
    return attrs
