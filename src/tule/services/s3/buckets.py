"""Buckets: creation rules, deletion, listing, location, tags and the versioning switch.

tule has a single account, so every existing bucket is owned by the caller: creating one that
exists is always 409 `BucketAlreadyOwnedByYou`, even in us-east-1 (where AWS's legacy behaviour
answers 200; the error is what every other region says, and it catches mistakes).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import replace

from tule.errors import AwsError
from tule.services.s3 import errors, lifecycle_rules, names, tagging
from tule.services.s3.models import Bucket
from tule.services.s3.state import State

US_EAST_1 = "us-east-1"
# Legacy LocationConstraint spellings S3 still accepts.
_LEGACY_CONSTRAINTS = {"EU": "eu-west-1"}


class Buckets:
    """Bucket records and the rules around them."""

    def __init__(self, state: State) -> None:
        self.state = state
        # Called with a bucket's name before it is deleted (multipart uploads are aborted).
        self.before_delete: list[Callable[[str], None]] = []

    def require(self, name: str) -> Bucket:
        """The bucket, or `NoSuchBucket`."""
        bucket = self.state.bucket(name)
        if bucket is None:
            raise errors.no_such_bucket(name)
        return bucket

    def create(self, name: str, request_region: str, constraint: str | None) -> Bucket:
        names.check_bucket_name(name)
        region = _bucket_region(request_region, constraint)
        with self.state.lock_bucket(name):
            if self.state.bucket(name) is not None:
                raise errors.bucket_already_owned_by_you(name)
            bucket = Bucket(name=name, region=region, created=self.state.now())
            self.state.save_bucket(bucket)
        return bucket

    def delete(self, name: str) -> None:
        st = self.state
        with st.lock_bucket(name):
            self.require(name)
            # Noncurrent versions and delete markers count: S3 wants a bucket with no versions.
            if st.has_any(f"o/{name}/") or st.has_any(f"v/{name}/"):
                raise errors.bucket_not_empty(name)
            for hook in self.before_delete:
                hook(name)
            st.forget_bucket(name)

    def list(
        self,
        prefix: str | None = None,
        max_buckets: int | None = None,
        continuation_token: str | None = None,
        region: str | None = None,
    ) -> tuple[list[Bucket], str | None]:
        """Buckets in name order, one page; the token for the next page (None at the end)."""
        after = _decode_token(continuation_token) if continuation_token else None
        limit = max_buckets or 10_000
        start = self.state.bucket_key(after) if after is not None else None
        found: list[Bucket] = []
        for _, rec in self.state.scan("b/" + (prefix or ""), start_after=start):
            bucket = Bucket.from_record(rec)
            if region and bucket.region != region:
                continue
            if len(found) == limit:
                return found, _encode_token(found[-1].name)
            found.append(bucket)
        return found, None

    def put_tags(self, name: str, tag_list: list[dict[str, str]]) -> None:
        tags = tagging.tag_set(tag_list, limit=tagging.MAX_BUCKET_TAGS)
        self._change(name, tags=tags)

    def tags(self, name: str) -> dict[str, str]:
        bucket = self.require(name)
        if bucket.tags is None:
            raise errors.no_such_tag_set(name)
        return bucket.tags

    def delete_tags(self, name: str) -> None:
        self._change(name, tags=None)

    def set_versioning(self, name: str, status: str | None) -> None:
        if status not in ("Enabled", "Suspended"):
            raise errors.malformed_xml()
        bucket = self.require(name)
        if status == "Suspended" and bucket.versioning is None:
            return  # suspending a never-versioned bucket leaves it unversioned, as in S3
        self._change(name, versioning=status)

    def put_lifecycle(self, name: str, rules: list[dict], min_size: str | None) -> None:
        """PutBucketLifecycleConfiguration: validate, then replace the whole configuration."""
        self.require(name)
        stored = lifecycle_rules.validate(rules, min_size)
        self._change(name, lifecycle=stored, lifecycle_min_size=min_size)

    def delete_lifecycle(self, name: str) -> None:
        self._change(name, lifecycle=None, lifecycle_min_size=None)

    def lifecycle(self, name: str) -> Bucket:
        bucket = self.require(name)
        if bucket.lifecycle is None:
            raise errors.no_such_lifecycle_configuration(name)
        return bucket

    def all(self) -> list[Bucket]:
        return [Bucket.from_record(rec) for _, rec in self.state.scan("b/")]

    def _change(self, name: str, **changes: object) -> Bucket:
        with self.state.lock_bucket(name):
            bucket = replace(self.require(name), **changes)  # type: ignore[arg-type]
            self.state.save_bucket(bucket)
        return bucket


def _bucket_region(request_region: str, constraint: str | None) -> str:
    """Where a new bucket lives (spec §9.7): outside us-east-1 the LocationConstraint must
    name the endpoint's region; us-east-1 takes none (or another region's, which AWS's
    global endpoint also accepts)."""
    constraint = _LEGACY_CONSTRAINTS.get(constraint or "", constraint) or None
    if request_region == US_EAST_1:
        if constraint == US_EAST_1:
            raise errors.invalid_location_constraint(constraint)
        return constraint or US_EAST_1
    if constraint != request_region:
        raise errors.illegal_location_constraint(constraint)
    return request_region


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise AwsError(
            "InvalidArgument", "The continuation token provided is incorrect", 400
        ) from None
