"""S3's errors: one factory per AWS error code, with AWS's message, status and extra fields.

S3 puts request details (`BucketName`, `Key`, `UploadId`, ...) as extra elements of its XML
error body; botocore passes them through into `e.response["Error"]`.
"""

from __future__ import annotations

from tule.errors import AwsError

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PUT_SIZE = 5 * 1024 * 1024 * 1024


def no_such_bucket(bucket: str) -> AwsError:
    return AwsError(
        "NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": bucket}
    )


def no_such_key(key: str, *, delete_marker: bool = False) -> AwsError:
    # A GET whose latest version is a delete marker says so in a header (S3 user guide,
    # "Working with delete markers").
    headers = {"x-amz-delete-marker": "true"} if delete_marker else None
    return AwsError(
        "NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key}, headers=headers
    )


def no_such_version(key: str, version_id: str) -> AwsError:
    return AwsError(
        "NoSuchVersion",
        "The specified version does not exist.",
        404,
        fields={"Key": key, "VersionId": version_id},
    )


def invalid_version_id() -> AwsError:
    return AwsError("InvalidArgument", "Invalid version id specified", 400)


def delete_marker_not_allowed(version_id: str, last_modified: str) -> AwsError:
    # GET/HEAD of a delete marker by version id: 405 with the marker's headers.
    return AwsError(
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
        405,
        fields={"Method": "GET", "ResourceType": "DeleteMarker"},
        headers={
            "x-amz-delete-marker": "true",
            "x-amz-version-id": version_id,
            "last-modified": last_modified,
        },
    )


def bucket_already_owned_by_you(bucket: str) -> AwsError:
    return AwsError(
        "BucketAlreadyOwnedByYou",
        "Your previous request to create the named bucket succeeded and you already own it.",
        409,
        fields={"BucketName": bucket},
    )


def bucket_not_empty(bucket: str) -> AwsError:
    return AwsError(
        "BucketNotEmpty",
        "The bucket you tried to delete is not empty",
        409,
        fields={"BucketName": bucket},
    )


def invalid_bucket_name(bucket: str) -> AwsError:
    return AwsError(
        "InvalidBucketName",
        "The specified bucket is not valid.",
        400,
        fields={"BucketName": bucket},
    )


def illegal_location_constraint(constraint: str | None) -> AwsError:
    shown = constraint if constraint else "unspecified"
    return AwsError(
        "IllegalLocationConstraintException",
        f"The {shown} location constraint is incompatible for the region specific endpoint "
        "this request was sent to.",
        400,
    )


def invalid_location_constraint(constraint: str) -> AwsError:
    return AwsError(
        "InvalidLocationConstraint",
        "The specified location-constraint is not valid",
        400,
        fields={"LocationConstraint": constraint},
    )


def key_too_long(size: int) -> AwsError:
    return AwsError(
        "KeyTooLongError",
        "Your key is too long",
        400,
        fields={"MaxSizeAllowed": "1024", "Size": str(size)},
    )


def invalid_argument(message: str, name: str | None = None, value: object = None) -> AwsError:
    fields = {}
    if name is not None:
        fields = {"ArgumentName": name, "ArgumentValue": "" if value is None else str(value)}
    return AwsError("InvalidArgument", message, 400, fields=fields)


def invalid_request(message: str) -> AwsError:
    return AwsError("InvalidRequest", message, 400)


def malformed_xml() -> AwsError:
    return AwsError(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def invalid_digest(content_md5: str) -> AwsError:
    return AwsError(
        "InvalidDigest",
        "The Content-MD5 you specified was invalid.",
        400,
        fields={"Content-MD5": content_md5},
    )


def bad_digest(expected: str, calculated: str) -> AwsError:
    return AwsError(
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
        400,
        fields={"ExpectedDigest": expected, "CalculatedDigest": calculated},
    )


def bad_checksum(algorithm: str) -> AwsError:
    return AwsError(
        "BadDigest", f"The {algorithm} you specified did not match the calculated checksum.", 400
    )


def invalid_checksum_header(header: str) -> AwsError:
    return invalid_request(f"Value for {header} header is invalid.")


def entity_too_large(size: int) -> AwsError:
    return AwsError(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        400,
        fields={"ProposedSize": str(size), "MaxSizeAllowed": str(MAX_PUT_SIZE)},
    )


def precondition_failed(condition: str) -> AwsError:
    return AwsError(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        fields={"Condition": condition},
    )


def not_modified(etag: str, last_modified: str) -> AwsError:
    # 304 has no body; S3 still sends the validators so caches can refresh.
    return AwsError(
        "NotModified",
        "Not Modified",
        304,
        headers={"etag": etag, "last-modified": last_modified},
    )


def invalid_range(size: int, requested: str) -> AwsError:
    return AwsError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        fields={"RangeRequested": requested, "ActualObjectSize": str(size)},
        headers={"content-range": f"bytes */{size}"},
    )


def invalid_part_number() -> AwsError:
    return AwsError("InvalidPartNumber", "The requested partnumber is not satisfiable", 416)


def invalid_object_state(storage_class: str, message: str | None = None) -> AwsError:
    return AwsError(
        "InvalidObjectState",
        message or "The operation is not valid for the object's storage class",
        403,
        fields={"StorageClass": storage_class},
    )


def no_such_upload(upload_id: str) -> AwsError:
    return AwsError(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed.",
        404,
        fields={"UploadId": upload_id},
    )


def invalid_part(upload_id: str, part_number: int, etag: str) -> AwsError:
    return AwsError(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been "
        "uploaded, or the specified entity tag may not have matched the part's entity tag.",
        400,
        fields={"UploadId": upload_id, "PartNumber": str(part_number), "ETag": etag},
    )


def invalid_part_order(upload_id: str) -> AwsError:
    return AwsError(
        "InvalidPartOrder",
        "The list of parts was not in ascending order. The parts list must be specified in "
        "order by part number.",
        400,
        fields={"UploadId": upload_id},
    )


def entity_too_small(size: int, part_number: int, etag: str) -> AwsError:
    return AwsError(
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed size",
        400,
        fields={
            "ProposedSize": str(size),
            "MinSizeAllowed": str(MIN_PART_SIZE),
            "PartNumber": str(part_number),
            "ETag": etag,
        },
    )


def no_such_tag_set(bucket: str) -> AwsError:
    return AwsError("NoSuchTagSet", "The TagSet does not exist", 404, fields={"BucketName": bucket})


def invalid_tag(message: str) -> AwsError:
    return AwsError("InvalidTag", message, 400)


def no_such_lifecycle_configuration(bucket: str) -> AwsError:
    return AwsError(
        "NoSuchLifecycleConfiguration",
        "The lifecycle configuration does not exist",
        404,
        fields={"BucketName": bucket},
    )
