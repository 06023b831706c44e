"""S3 operation handlers: one per operation, named as botocore's snake_case operation.

Each translates the request shape into domain values, makes one domain call, and shapes the
result; the rules live in the domain modules.
"""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.s3 import S3, lifecycle_rules, shapes, tagging
from tule.services.s3.buckets import US_EAST_1
from tule.services.s3.copy import CopyDirectives, parse_copy_source
from tule.services.s3.listing import Cursor, max_keys
from tule.services.s3.upload_handlers import (
    abort_multipart_upload,
    complete_multipart_upload,
    create_multipart_upload,
    list_multipart_uploads,
    list_parts,
    upload_part,
    upload_part_copy,
)
from tule.services.s3.versions import WriteConditions

Request = dict[str, Any]
Output = dict[str, Any]

# Multipart operations live in their own module; importing them here registers them.
__all__ = [
    "abort_multipart_upload",
    "complete_multipart_upload",
    "create_multipart_upload",
    "list_multipart_uploads",
    "list_parts",
    "upload_part",
    "upload_part_copy",
]


def _s3(ctx: RequestContext) -> S3:
    return ctx.service


# -- buckets ----------------------------------------------------------------------------------


def create_bucket(ctx: RequestContext, request: Request) -> Output:
    config = request.get("CreateBucketConfiguration") or {}
    bucket = _s3(ctx).buckets.create(
        request["Bucket"], ctx.region, config.get("LocationConstraint")
    )
    return {"Location": f"/{bucket.name}"}


def delete_bucket(ctx: RequestContext, request: Request) -> Output:
    _s3(ctx).buckets.delete(request["Bucket"])
    return {}


def list_buckets(ctx: RequestContext, request: Request) -> Output:
    s3 = _s3(ctx)
    found, token = s3.buckets.list(
        request.get("Prefix"),
        request.get("MaxBuckets"),
        request.get("ContinuationToken"),
        request.get("BucketRegion"),
    )
    return {
        "Buckets": [
            {"Name": b.name, "CreationDate": shapes.dt(b.created), "BucketRegion": b.region}
            for b in found
        ],
        "Owner": shapes.owner(s3.account_id),
        "ContinuationToken": token,
        "Prefix": request.get("Prefix"),
    }


def head_bucket(ctx: RequestContext, request: Request) -> Output:
    return {"BucketRegion": _s3(ctx).buckets.require(request["Bucket"]).region}


def get_bucket_location(ctx: RequestContext, request: Request) -> Output:
    region = _s3(ctx).buckets.require(request["Bucket"]).region
    # us-east-1 buckets answer an empty LocationConstraint (spec §9.3).
    return {"LocationConstraint": None if region == US_EAST_1 else region}


def put_bucket_tagging(ctx: RequestContext, request: Request) -> Output:
    tags = (request.get("Tagging") or {}).get("TagSet") or []
    _s3(ctx).buckets.put_tags(request["Bucket"], tags)
    return {}


def get_bucket_tagging(ctx: RequestContext, request: Request) -> Output:
    return {"TagSet": tagging.to_tag_list(_s3(ctx).buckets.tags(request["Bucket"]))}


def delete_bucket_tagging(ctx: RequestContext, request: Request) -> Output:
    _s3(ctx).buckets.delete_tags(request["Bucket"])
    return {}


def put_bucket_versioning(ctx: RequestContext, request: Request) -> Output:
    status = (request.get("VersioningConfiguration") or {}).get("Status")
    _s3(ctx).buckets.set_versioning(request["Bucket"], status)
    return {}


def get_bucket_versioning(ctx: RequestContext, request: Request) -> Output:
    return {"Status": _s3(ctx).buckets.require(request["Bucket"]).versioning}


def put_bucket_lifecycle_configuration(ctx: RequestContext, request: Request) -> Output:
    config = request.get("LifecycleConfiguration") or {}
    min_size = request.get("TransitionDefaultMinimumObjectSize")
    _s3(ctx).buckets.put_lifecycle(request["Bucket"], config.get("Rules") or [], min_size)
    return {"TransitionDefaultMinimumObjectSize": min_size or lifecycle_rules.DEFAULT_MIN_SIZE}


def get_bucket_lifecycle_configuration(ctx: RequestContext, request: Request) -> Output:
    bucket = _s3(ctx).buckets.lifecycle(request["Bucket"])
    return {
        "Rules": lifecycle_rules.to_output(bucket.lifecycle or []),
        "TransitionDefaultMinimumObjectSize": bucket.lifecycle_min_size
        or lifecycle_rules.DEFAULT_MIN_SIZE,
    }


def delete_bucket_lifecycle(ctx: RequestContext, request: Request) -> Output:
    _s3(ctx).buckets.delete_lifecycle(request["Bucket"])
    return {}


# -- objects ----------------------------------------------------------------------------------


def put_object(ctx: RequestContext, request: Request) -> Output:
    version = _s3(ctx).objects.put(
        request["Bucket"],
        request["Key"],
        request.get("Body") or b"",
        shapes.attributes(request),
        content_md5=request.get("ContentMD5"),
        checksum=shapes.expectation(request),
        conditions=WriteConditions(request.get("IfNoneMatch"), request.get("IfMatch")),
    )
    return {
        "ETag": version.etag,
        **shapes.version_member(version),
        **shapes.encryption(version.attrs),
        **shapes.checksum_members(
            version.checksum_algorithm, version.checksum, version.checksum_type
        ),
    }


def _read(ctx: RequestContext, request: Request, with_body: bool) -> Output:
    s3 = _s3(ctx)
    read = s3.objects.get(
        request["Bucket"],
        request["Key"],
        version_id=request.get("VersionId"),
        conditions=shapes.preconditions(request),
        range_header=request.get("Range"),
        part_number=request.get("PartNumber"),
        with_body=with_body,
    )
    out = shapes.object_output(read, request, s3.clock.time())
    if read.range is not None:
        ctx.response_status = 206
    if with_body:
        out["Body"] = read.body
    return out


def get_object(ctx: RequestContext, request: Request) -> Output:
    return _read(ctx, request, with_body=True)


def head_object(ctx: RequestContext, request: Request) -> Output:
    return _read(ctx, request, with_body=False)


def delete_object(ctx: RequestContext, request: Request) -> Output:
    deletion = _s3(ctx).objects.delete(request["Bucket"], request["Key"], request.get("VersionId"))
    out: Output = {}
    if deletion.delete_marker:
        out["DeleteMarker"] = True
    if deletion.version_id is not None:
        out["VersionId"] = deletion.version_id
    return out


def delete_objects(ctx: RequestContext, request: Request) -> Output:
    delete = request.get("Delete") or {}
    targets = [(o["Key"], o.get("VersionId")) for o in delete.get("Objects") or []]
    outcomes = _s3(ctx).objects.delete_many(request["Bucket"], targets)
    deleted, failed = [], []
    for o in outcomes:
        if o.error is not None:
            entry = {"Key": o.key, "Code": o.error.code, "Message": o.error.message}
            failed.append({**entry, "VersionId": o.requested_version})
            continue
        d = o.deletion
        entry = {"Key": o.key}
        if o.requested_version is not None:
            entry["VersionId"] = o.requested_version
        if d is not None and d.delete_marker:
            entry["DeleteMarker"] = True
            entry["DeleteMarkerVersionId"] = d.version_id
        deleted.append(entry)
    quiet = bool(delete.get("Quiet"))
    return {"Deleted": None if quiet else deleted, "Errors": failed or None}


def copy_object(ctx: RequestContext, request: Request) -> Output:
    result = _s3(ctx).copier.copy(
        request["Bucket"],
        request["Key"],
        parse_copy_source(request["CopySource"]),
        shapes.attributes(request),
        CopyDirectives(
            request.get("MetadataDirective") or "COPY",
            request.get("TaggingDirective") or "COPY",
            request.get("StorageClass") is not None,
        ),
        source_conditions=shapes.preconditions(request, "CopySource"),
        conditions=WriteConditions(request.get("IfNoneMatch"), request.get("IfMatch")),
        checksum_algorithm=request.get("ChecksumAlgorithm"),
    )
    v = result.version
    return {
        "CopyObjectResult": {
            "ETag": v.etag,
            "LastModified": shapes.dt(v.last_modified),
            **shapes.checksum_members(v.checksum_algorithm, v.checksum, v.checksum_type),
        },
        "CopySourceVersionId": result.source_version_id,
        **shapes.version_member(v),
        **shapes.encryption(v.attrs),
    }


def list_objects_v2(ctx: RequestContext, request: Request) -> Output:
    s3, enc = _s3(ctx), request.get("EncodingType")
    prefix, delimiter = request.get("Prefix") or "", request.get("Delimiter")
    token, start_after = request.get("ContinuationToken"), request.get("StartAfter")
    cursor = Cursor.decode(token) if token else (Cursor(start_after) if start_after else None)
    limit = max_keys(request.get("MaxKeys"))
    page = s3.listing.objects(request["Bucket"], prefix, delimiter, limit, cursor)
    owner = shapes.owner(s3.account_id) if request.get("FetchOwner") else None
    return {
        "Name": request["Bucket"],
        "Prefix": shapes.encode_key(prefix, enc),
        "Delimiter": shapes.encode_key(delimiter, enc),
        "MaxKeys": limit,
        "KeyCount": len(page.entries),
        "IsTruncated": page.truncated,
        "ContinuationToken": token,
        "NextContinuationToken": page.last.encode() if page.truncated and page.last else None,
        "StartAfter": shapes.encode_key(start_after, enc),
        "EncodingType": enc,
        "Contents": [shapes.listed_object(v, enc, owner) for v in page.items] or None,
        "CommonPrefixes": [{"Prefix": shapes.encode_key(p, enc)} for p in page.common_prefixes]
        or None,
    }


def list_objects(ctx: RequestContext, request: Request) -> Output:
    s3, enc = _s3(ctx), request.get("EncodingType")
    prefix, delimiter, marker = (
        request.get("Prefix") or "",
        request.get("Delimiter"),
        request.get("Marker"),
    )
    limit = max_keys(request.get("MaxKeys"))
    page = s3.listing.objects(
        request["Bucket"], prefix, delimiter, limit, Cursor(marker) if marker else None
    )
    # S3 sends NextMarker only with a delimiter; clients otherwise resume after the last Key.
    next_marker = page.last.key if page.truncated and delimiter and page.last else None
    return {
        "Name": request["Bucket"],
        "Prefix": shapes.encode_key(prefix, enc),
        "Delimiter": shapes.encode_key(delimiter, enc),
        "Marker": shapes.encode_key(marker or "", enc),
        "NextMarker": shapes.encode_key(next_marker, enc),
        "MaxKeys": limit,
        "IsTruncated": page.truncated,
        "EncodingType": enc,
        "Contents": [shapes.listed_object(v, enc, shapes.owner(s3.account_id)) for v in page.items]
        or None,
        "CommonPrefixes": [{"Prefix": shapes.encode_key(p, enc)} for p in page.common_prefixes]
        or None,
    }


def list_object_versions(ctx: RequestContext, request: Request) -> Output:
    s3, enc = _s3(ctx), request.get("EncodingType")
    prefix, delimiter = request.get("Prefix") or "", request.get("Delimiter")
    key_marker, version_marker = request.get("KeyMarker"), request.get("VersionIdMarker")
    cursor = Cursor(key_marker, version_marker or None) if key_marker else None
    limit = max_keys(request.get("MaxKeys"))
    page = s3.listing.versions(request["Bucket"], prefix, delimiter, limit, cursor)
    owner = shapes.owner(s3.account_id)
    versions, markers = [], []
    for entry in page.items:
        v = entry.version
        common = {
            "Key": shapes.encode_key(v.key, enc),
            "VersionId": v.version_id,
            "IsLatest": entry.is_latest,
            "LastModified": shapes.dt(v.last_modified),
            "Owner": owner,
        }
        if v.delete_marker:
            markers.append(common)
        else:
            listed = shapes.listed_object(v, enc, owner)
            versions.append({**listed, **common})
    last = page.last if page.truncated else None
    return {
        "Name": request["Bucket"],
        "Prefix": shapes.encode_key(prefix, enc),
        "Delimiter": shapes.encode_key(delimiter, enc),
        "KeyMarker": shapes.encode_key(key_marker or "", enc),
        "VersionIdMarker": version_marker or "",
        "NextKeyMarker": shapes.encode_key(last.key, enc) if last else None,
        "NextVersionIdMarker": last.version if last else None,
        "MaxKeys": limit,
        "IsTruncated": page.truncated,
        "EncodingType": enc,
        "Versions": versions or None,
        "DeleteMarkers": markers or None,
        "CommonPrefixes": [{"Prefix": shapes.encode_key(p, enc)} for p in page.common_prefixes]
        or None,
    }


def put_object_tagging(ctx: RequestContext, request: Request) -> Output:
    tags = (request.get("Tagging") or {}).get("TagSet") or []
    version = _s3(ctx).objects.put_tags(
        request["Bucket"], request["Key"], request.get("VersionId"), tags
    )
    return shapes.version_member(version)


def get_object_tagging(ctx: RequestContext, request: Request) -> Output:
    version = _s3(ctx).objects.tags(request["Bucket"], request["Key"], request.get("VersionId"))
    return {"TagSet": tagging.to_tag_list(version.attrs.tags), **shapes.version_member(version)}


def delete_object_tagging(ctx: RequestContext, request: Request) -> Output:
    version = _s3(ctx).objects.delete_tags(
        request["Bucket"], request["Key"], request.get("VersionId")
    )
    return shapes.version_member(version)


def restore_object(ctx: RequestContext, request: Request) -> Output:
    days = (request.get("RestoreRequest") or {}).get("Days")
    already = _s3(ctx).restorer.restore(
        request["Bucket"], request["Key"], request.get("VersionId"), days
    )
    # 202 Accepted starts a restore; 200 OK when a restored copy already exists.
    ctx.response_status = 200 if already else 202
    return {}
