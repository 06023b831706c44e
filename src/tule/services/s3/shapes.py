"""Translation between botocore's S3 shapes and the domain's values, for the handlers.

Requests become `ObjectAttributes`, checksum expectations and conditions; domain records
become output members (header-bound members the gateway turns into headers, others XML).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tule.services.s3 import checksums, tagging
from tule.services.s3.checksums import Expectation
from tule.services.s3.conditions import Preconditions
from tule.services.s3.models import (
    NULL_VERSION,
    STANDARD,
    MultipartUpload,
    ObjectAttributes,
    ObjectVersion,
    Part,
)
from tule.services.s3.objects import ObjectRead
from tule.services.s3.restore import restore_header

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_RESPONSE_OVERRIDES = {
    "ResponseCacheControl": "CacheControl",
    "ResponseContentDisposition": "ContentDisposition",
    "ResponseContentEncoding": "ContentEncoding",
    "ResponseContentLanguage": "ContentLanguage",
    "ResponseContentType": "ContentType",
    "ResponseExpires": "Expires",
}


def dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def owner(account_id: str) -> dict[str, str]:
    """The bucket owner: a canonical user id (64 hex digits) derived from the account."""
    return {"ID": hashlib.sha256(account_id.encode()).hexdigest(), "DisplayName": "tule"}


def _content_encoding(value: str | None) -> str | None:
    # `aws-chunked` describes the upload's framing, not the object: S3 drops it (S3 API
    # reference, "Signature Calculations for the Authorization Header: Transferring Payload in
    # Multiple Chunks").
    if value is None:
        return None
    kept = [v.strip() for v in value.split(",") if v.strip() and v.strip() != "aws-chunked"]
    return ",".join(kept) or None


def attributes(request: Mapping[str, Any]) -> ObjectAttributes:
    """What PutObject, CopyObject (REPLACE) and CreateMultipartUpload set on an object."""
    expires = request.get("Expires")
    return ObjectAttributes(
        content_type=request.get("ContentType"),
        cache_control=request.get("CacheControl"),
        content_disposition=request.get("ContentDisposition"),
        content_encoding=_content_encoding(request.get("ContentEncoding")),
        content_language=request.get("ContentLanguage"),
        expires=expires.timestamp() if isinstance(expires, datetime) else None,
        metadata=dict(request.get("Metadata") or {}),
        storage_class=request.get("StorageClass") or STANDARD,
        sse=request.get("ServerSideEncryption"),
        kms_key_id=request.get("SSEKMSKeyId"),
        tags=tagging.from_header(request.get("Tagging")),
    )


def expectation(request: Mapping[str, Any]) -> Expectation:
    """The checksum a request claims (`x-amz-checksum-*`) and the algorithm it names."""
    claims = {
        name: request[f"Checksum{name}"]
        for name in checksums.ALGORITHMS
        if request.get(f"Checksum{name}")
    }
    algorithm = request.get("ChecksumAlgorithm")
    return Expectation(claims, algorithm.upper() if algorithm else None)


def preconditions(request: Mapping[str, Any], prefix: str = "") -> Preconditions:
    """`If-*` (or, with prefix `CopySource`, `x-amz-copy-source-if-*`) headers."""
    return Preconditions(
        if_match=request.get(f"{prefix}IfMatch"),
        if_none_match=request.get(f"{prefix}IfNoneMatch"),
        if_modified_since=request.get(f"{prefix}IfModifiedSince"),
        if_unmodified_since=request.get(f"{prefix}IfUnmodifiedSince"),
    )


def encryption(attrs: ObjectAttributes) -> dict[str, Any]:
    """SSE response headers. Only objects stored encrypted echo them: tule does not pretend
    plaintext blobs are encrypted (AWS has echoed AES256 for every object since 2023)."""
    out: dict[str, Any] = {}
    if attrs.sse is not None:
        out["ServerSideEncryption"] = attrs.sse
        if attrs.kms_key_id is not None:
            out["SSEKMSKeyId"] = attrs.kms_key_id
    return out


def checksum_members(
    algorithm: str | None, value: str | None, checksum_type: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if algorithm and value:
        out[f"Checksum{algorithm}"] = value
        if checksum_type:
            out["ChecksumType"] = checksum_type
    return out


def version_member(version: ObjectVersion) -> dict[str, str]:
    return {} if version.version_id == NULL_VERSION else {"VersionId": version.version_id}


def object_output(read: ObjectRead, request: Mapping[str, Any], now: float) -> dict[str, Any]:
    """GetObject/HeadObject output members (the body is added by the handler)."""
    v, a = read.version, read.version.attrs
    out: dict[str, Any] = {
        "ETag": v.etag,
        "LastModified": dt(v.last_modified),
        "ContentLength": read.content_length,
        "AcceptRanges": "bytes",
        "ContentType": a.content_type or DEFAULT_CONTENT_TYPE,
        "CacheControl": a.cache_control,
        "ContentDisposition": a.content_disposition,
        "ContentEncoding": a.content_encoding,
        "ContentLanguage": a.content_language,
        "Expires": dt(a.expires),
        "Metadata": a.metadata or None,
        **version_member(v),
        **encryption(a),
    }
    if a.storage_class != STANDARD:
        out["StorageClass"] = a.storage_class  # S3 omits the header for STANDARD
    if a.tags:
        out["TagCount"] = len(a.tags)
    if read.part_count:
        out["PartsCount"] = read.part_count
    restore = restore_header(v, now)
    if restore:
        out["Restore"] = restore
    if read.range is not None:
        out["ContentRange"] = read.range.content_range
    elif request.get("ChecksumMode") == "ENABLED":
        # Whole-object checksums only describe whole-object responses.
        out.update(checksum_members(v.checksum_algorithm, v.checksum, v.checksum_type))
    for override, member in _RESPONSE_OVERRIDES.items():
        if request.get(override) is not None:
            out[member] = request[override]
    return {k: value for k, value in out.items() if value is not None}


def encode_key(value: str | None, encoding: str | None) -> str | None:
    """A key-like value as a listing returns it: percent-encoded with `EncodingType=url`."""
    if value is None or encoding != "url":
        return value
    return quote(value, safe="/")


def listed_object(
    v: ObjectVersion, encoding: str | None, owner_of: dict[str, str] | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Key": encode_key(v.key, encoding),
        "LastModified": dt(v.last_modified),
        "ETag": v.etag,
        "Size": v.size,
        "StorageClass": v.storage_class,
    }
    if v.checksum_algorithm:
        out["ChecksumAlgorithm"] = [v.checksum_algorithm]
        out["ChecksumType"] = v.checksum_type
    if owner_of is not None:
        out["Owner"] = owner_of
    return out


def part_output(part: Part) -> dict[str, Any]:
    return {
        "PartNumber": part.part_number,
        "LastModified": dt(part.last_modified),
        "ETag": part.etag,
        "Size": part.size,
        **checksum_members(part.checksum_algorithm, part.checksum),
    }


def upload_output(
    upload: MultipartUpload, owner_of: dict[str, str], encoding: str | None
) -> dict[str, Any]:
    out = {
        "UploadId": upload.upload_id,
        "Key": encode_key(upload.key, encoding),
        "Initiated": dt(upload.initiated),
        "StorageClass": upload.attrs.storage_class,
        "Owner": owner_of,
        "Initiator": owner_of,
    }
    if upload.checksum_algorithm:
        out["ChecksumAlgorithm"] = upload.checksum_algorithm
        out["ChecksumType"] = upload.checksum_type
    return out
