"""Bucket-name and object-key rules, as S3 enforces them (spec §9.7; S3 user guide,
"Bucket naming rules" and "Naming Amazon S3 objects")."""

from __future__ import annotations

import re

from tule.errors import AwsError
from tule.services.s3 import errors

MAX_KEY_BYTES = 1024

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}\Z")
# Prefixes and suffixes AWS reserves for access-point aliases, Object Lambda, directory
# buckets, S3 Tables and its documentation examples.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def is_valid_bucket_name(name: str) -> bool:
    """Whether `name` is a valid general-purpose bucket name."""
    return (
        _BUCKET.match(name) is not None
        and ".." not in name
        and _IPV4.match(name) is None
        and not name.startswith(_RESERVED_PREFIXES)
        and not name.endswith(_RESERVED_SUFFIXES)
    )


def check_bucket_name(name: str) -> None:
    """Raise `InvalidBucketName` unless `name` may name a new bucket."""
    if not is_valid_bucket_name(name):
        raise errors.invalid_bucket_name(name)


def check_key(key: str) -> None:
    """Raise unless `key` is a storable object key: any UTF-8, at most 1024 bytes.

    Keys live only in the metadata store (blobs have random names), so no key, however it is
    spelled (`../x`, `/`, `%2F`), can address anything on disk."""
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise AwsError("InvalidArgument", "Object key is not valid UTF-8", 400) from None
    if size == 0:
        raise AwsError("InvalidArgument", "Object key must not be empty", 400)
    if size > MAX_KEY_BYTES:
        raise errors.key_too_long(size)
