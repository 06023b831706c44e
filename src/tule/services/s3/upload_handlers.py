"""S3 multipart-upload handlers (re-exported by `handlers`, where the registry finds them)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tule.context import RequestContext
from tule.services.s3 import S3, shapes
from tule.services.s3.copy import parse_copy_source
from tule.services.s3.multipart import CompletedPart
from tule.services.s3.versions import WriteConditions

Request = dict[str, Any]
Output = dict[str, Any]


def _s3(ctx: RequestContext) -> S3:
    return ctx.service


def create_multipart_upload(ctx: RequestContext, request: Request) -> Output:
    upload = _s3(ctx).multipart.create(
        request["Bucket"],
        request["Key"],
        shapes.attributes(request),
        request.get("ChecksumAlgorithm"),
        request.get("ChecksumType"),
    )
    return {
        "Bucket": request["Bucket"],
        "Key": upload.key,
        "UploadId": upload.upload_id,
        "ChecksumAlgorithm": upload.checksum_algorithm,
        "ChecksumType": upload.checksum_type,
        **shapes.encryption(upload.attrs),
    }


def upload_part(ctx: RequestContext, request: Request) -> Output:
    part, upload = _s3(ctx).multipart.upload_part(
        request["Bucket"],
        request["Key"],
        request["UploadId"],
        request["PartNumber"],
        request.get("Body") or b"",
        content_md5=request.get("ContentMD5"),
        checksum=shapes.expectation(request),
    )
    return {
        "ETag": part.etag,
        **shapes.checksum_members(part.checksum_algorithm, part.checksum),
        **shapes.encryption(upload.attrs),
    }


def upload_part_copy(ctx: RequestContext, request: Request) -> Output:
    part, source_version = _s3(ctx).multipart.upload_part_copy(
        request["Bucket"],
        request["Key"],
        request["UploadId"],
        request["PartNumber"],
        parse_copy_source(request["CopySource"]),
        shapes.preconditions(request, "CopySource"),
        request.get("CopySourceRange"),
    )
    return {
        "CopyPartResult": {
            "ETag": part.etag,
            "LastModified": shapes.dt(part.last_modified),
            **shapes.checksum_members(part.checksum_algorithm, part.checksum),
        },
        "CopySourceVersionId": source_version,
    }


def complete_multipart_upload(ctx: RequestContext, request: Request) -> Output:
    listed = (request.get("MultipartUpload") or {}).get("Parts") or []
    parts = [
        CompletedPart(
            p.get("PartNumber", 0),
            p.get("ETag", ""),
            {
                name: p[f"Checksum{name}"]
                for name in shapes.checksums.ALGORITHMS
                if p.get(f"Checksum{name}")
            },
        )
        for p in listed
    ]
    version = _s3(ctx).multipart.complete(
        request["Bucket"],
        request["Key"],
        request["UploadId"],
        parts,
        WriteConditions(request.get("IfNoneMatch"), request.get("IfMatch")),
    )
    return {
        "Location": f"http://{ctx.host}/{request['Bucket']}/{quote(version.key)}",
        "Bucket": request["Bucket"],
        "Key": version.key,
        "ETag": version.etag,
        **shapes.version_member(version),
        **shapes.encryption(version.attrs),
        **shapes.checksum_members(
            version.checksum_algorithm, version.checksum, version.checksum_type
        ),
    }


def abort_multipart_upload(ctx: RequestContext, request: Request) -> Output:
    _s3(ctx).multipart.abort(request["Bucket"], request["Key"], request["UploadId"])
    return {}


def list_parts(ctx: RequestContext, request: Request) -> Output:
    s3 = _s3(ctx)
    page = s3.multipart.list_parts(
        request["Bucket"],
        request["Key"],
        request["UploadId"],
        request.get("MaxParts"),
        request.get("PartNumberMarker"),
    )
    owner = shapes.owner(s3.account_id)
    return {
        "Bucket": request["Bucket"],
        "Key": request["Key"],
        "UploadId": request["UploadId"],
        "PartNumberMarker": request.get("PartNumberMarker") or 0,
        "NextPartNumberMarker": page.next_marker if page.truncated else None,
        "MaxParts": request.get("MaxParts") or 1000,
        "IsTruncated": page.truncated,
        "Parts": [shapes.part_output(p) for p in page.parts] or None,
        "Initiator": owner,
        "Owner": owner,
        "StorageClass": page.upload.attrs.storage_class,
        "ChecksumAlgorithm": page.upload.checksum_algorithm,
        "ChecksumType": page.upload.checksum_type,
    }


def list_multipart_uploads(ctx: RequestContext, request: Request) -> Output:
    s3, enc = _s3(ctx), request.get("EncodingType")
    prefix, delimiter = request.get("Prefix") or "", request.get("Delimiter")
    page = s3.multipart.list_uploads(
        request["Bucket"],
        prefix,
        delimiter,
        request.get("MaxUploads"),
        request.get("KeyMarker"),
        request.get("UploadIdMarker"),
    )
    owner = shapes.owner(s3.account_id)
    last = page.last if page.truncated else None
    return {
        "Bucket": request["Bucket"],
        "KeyMarker": shapes.encode_key(request.get("KeyMarker") or "", enc),
        "UploadIdMarker": request.get("UploadIdMarker") or "",
        "NextKeyMarker": shapes.encode_key(last.key, enc) if last else None,
        "NextUploadIdMarker": last.version if last else None,
        "Prefix": shapes.encode_key(prefix, enc),
        "Delimiter": shapes.encode_key(delimiter, enc),
        "MaxUploads": request.get("MaxUploads") or 1000,
        "IsTruncated": page.truncated,
        "EncodingType": enc,
        "Uploads": [shapes.upload_output(u, owner, enc) for u in page.items] or None,
        "CommonPrefixes": [{"Prefix": shapes.encode_key(p, enc)} for p in page.common_prefixes]
        or None,
    }
