"""Tag sets of buckets and objects, with S3's limits (S3 user guide, "Categorizing your
storage using tags"; "Using cost allocation S3 bucket tags")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

from tule.errors import AwsError
from tule.services.s3 import errors

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256


def tag_set(pairs: Iterable[Mapping[str, str]], *, limit: int) -> dict[str, str]:
    """A TagSet (`[{Key, Value}]`) checked against S3's rules, as a dict."""
    tags: dict[str, str] = {}
    for pair in pairs:
        key, value = pair.get("Key", ""), pair.get("Value", "")
        if key in tags:
            raise errors.invalid_tag("Cannot provide multiple Tags with the same key")
        if not key or len(key) > MAX_KEY_CHARS:
            raise errors.invalid_tag("The TagKey you have provided is invalid")
        if len(value) > MAX_VALUE_CHARS:
            raise errors.invalid_tag("The TagValue you have provided is invalid")
        if key.lower().startswith("aws:"):
            raise errors.invalid_tag("System tags cannot be added/updated by requester")
        tags[key] = value
    if len(tags) > limit:
        if limit == MAX_OBJECT_TAGS:
            raise AwsError("BadRequest", "Object tags cannot be greater than 10", 400)
        raise errors.invalid_tag("Bucket tag count cannot be greater than 50")
    return tags


def from_header(header: str | None) -> dict[str, str]:
    """The `x-amz-tagging` header: tags as a URL query string (`k1=v1&k2=v2`)."""
    if not header:
        return {}
    pairs = parse_qsl(header, keep_blank_values=True)
    return tag_set(({"Key": k, "Value": v} for k, v in pairs), limit=MAX_OBJECT_TAGS)


def to_tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def to_header(tags: Mapping[str, str]) -> str:
    return urlencode(list(tags.items()))
