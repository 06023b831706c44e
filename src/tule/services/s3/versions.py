"""How a key's versions change: new current versions, deletions, delete markers, promotions.

Every change to a key happens under that key's lock as one atomic metadata commit (one `batch`
when several records move, e.g. the old current version into `v/` and the new one into `o/`).
Blobs are written, durably, before the commit that references them, and blobs a commit drops
are deleted only after it: a crash at any instant leaves the old or the new state, and at worst
an unreferenced blob that the start-up collection removes. Inline bodies (see `bodies`) travel
inside the commit itself: a new one's record is written, and a dropped one's removed, in the
same batch as the version records.

Versioning states follow the S3 user guide ("Using versioning in S3 buckets"):
- never enabled: one `null` version per key, replaced in place;
- Enabled: every write adds a version with a fresh id, deletes add delete markers;
- Suspended: writes and deletes replace the `null` version, keeping the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from tule.metadata.base import Delete, Put
from tule.services.s3 import errors
from tule.services.s3.conditions import etag_matches, http_date
from tule.services.s3.models import NULL_VERSION, Bucket, ObjectAttributes, ObjectVersion
from tule.services.s3.state import State


@dataclass(frozen=True)
class Deletion:
    """What a delete did: which version it removed or created, and whether that is a marker."""

    version_id: str | None
    delete_marker: bool


@dataclass(frozen=True)
class WriteConditions:
    """Conditional writes (PutObject/CompleteMultipartUpload `If-None-Match: *`, `If-Match`)."""

    if_none_match: str | None = None
    if_match: str | None = None


class Versions:
    """Atomic changes to the versions of keys."""

    def __init__(self, state: State) -> None:
        self.state = state

    def commit(
        self,
        bucket: Bucket,
        new: ObjectVersion,
        conditions: WriteConditions | None = None,
        *,
        also: Sequence[Put | Delete] = (),
        also_discard: Sequence[str] = (),
    ) -> ObjectVersion:
        """Make `new` (whose blob is already durable) the current version of its key.

        `also` are further writes committed atomically with it (a completed upload's records);
        `also_discard` are bodies it drops (removed with it, or after it). On a failed condition
        `new`'s body is discarded and nothing changes."""
        st = self.state
        try:
            with st.lock_key(bucket.name, new.key):
                current = st.current(bucket.name, new.key)
                _check_write_conditions(conditions, current, new.key)
                ops, garbage = self._staged(bucket, new, current, st.now())
                garbage.extend(also_discard)
                ops.extend(also)
                ops.extend(st.bodies.records([new.blob_id]))
                ops.extend(st.bodies.deletions(garbage))
                st.write(ops)
        except BaseException:
            st.bodies.discard([new.blob_id])
            raise
        st.bodies.discard(garbage)
        return new

    def commit_many(self, bucket: Bucket, new: Sequence[ObjectVersion]) -> None:
        """Make each of `new` (versions of distinct keys, blobs already durable) the current
        version of its key, all in one atomic commit: one metadata flush for several objects
        written together (a query's result file and its metadata file)."""
        st = self.state
        # Striped locks may be shared by keys: each taken once, in one global order.
        locks = {id(lock): lock for lock in (st.lock_key(bucket.name, v.key) for v in new)}
        garbage: list[str | None] = []
        try:
            if len({version.key for version in new}) != len(new):
                raise ValueError("commit_many takes one version per key")
            with ExitStack() as held:
                for _, lock in sorted(locks.items()):
                    held.enter_context(lock)
                ops: list[Put | Delete] = []
                now = st.now()
                for version in new:
                    current = st.current(bucket.name, version.key)
                    staged, dropped = self._staged(bucket, version, current, now)
                    ops.extend(staged)
                    garbage.extend(dropped)
                ops.extend(st.bodies.records([v.blob_id for v in new]))
                ops.extend(st.bodies.deletions(garbage))
                st.write(ops)
        except BaseException:
            st.bodies.discard([v.blob_id for v in new])
            raise
        st.bodies.discard(garbage)

    def _staged(
        self, bucket: Bucket, new: ObjectVersion, current: ObjectVersion | None, now: float
    ) -> tuple[list[Put | Delete], list[str | None]]:
        """The writes that make `new` its key's current version (under the key's lock), and
        the blobs they drop."""
        st = self.state
        ops, garbage = self._displace(bucket, new.key, current, now)
        # Ordered (and named) at commit, under the lock, so version order is commit order.
        new.sort_key = st.new_sort_key()
        new.version_id = new.sort_key if bucket.versioning == "Enabled" else NULL_VERSION
        ops.append(Put(st.object_key(bucket.name, new.key), new.to_record()))
        return ops, garbage

    def delete(self, bucket: Bucket, key: str) -> Deletion:
        """DeleteObject without a version id: remove the object, or add a delete marker."""
        st = self.state
        with st.lock_key(bucket.name, key):
            current = st.current(bucket.name, key)
            if bucket.versioning is None:
                if current is None:
                    return Deletion(None, False)
                ops: list[Put | Delete] = [Delete(st.object_key(bucket.name, key))]
                garbage: list[str | None] = [current.blob_id]
                marker = None
            else:
                now = st.now()
                ops, garbage = self._displace(bucket, key, current, now)
                sort_key = st.new_sort_key()
                marker = ObjectVersion(
                    key=key,
                    version_id=sort_key if bucket.versioning == "Enabled" else NULL_VERSION,
                    sort_key=sort_key,
                    attrs=ObjectAttributes(),
                    last_modified=now,
                    delete_marker=True,
                )
                if current is not None:
                    ops.append(Delete(st.object_key(bucket.name, key)))
                ops.append(Put(st.version_key(bucket.name, key, sort_key), marker.to_record()))
            st.write([*ops, *st.bodies.deletions(garbage)])
        st.bodies.discard(garbage)
        return Deletion(marker.version_id, True) if marker else Deletion(None, False)

    def delete_version(self, bucket: Bucket, key: str, version_id: str) -> Deletion:
        """DeleteObject with a version id: remove exactly that version (or marker) for good.

        When the removed version was the latest, the next newest becomes current again, as S3
        does when a delete marker is removed."""
        if not self.state.is_version_id(version_id):
            raise errors.invalid_version_id()
        st = self.state
        with st.lock_key(bucket.name, key):
            current = st.current(bucket.name, key)
            others = st.other_versions(bucket.name, key)
            if current is not None and current.version_id == version_id:
                target, ops = current, [Delete(st.object_key(bucket.name, key))]
                successors = others
            else:
                found = [v for v in others if v.version_id == version_id]
                if not found:
                    return Deletion(version_id, False)  # S3 answers 204 for absent versions
                target = found[0]
                ops = [Delete(st.version_key(bucket.name, key, target.sort_key))]
                was_latest = current is None and others[0] is target
                successors = [v for v in others if v is not target] if was_latest else []
            if successors and not successors[0].delete_marker:
                promoted = successors[0].copy(noncurrent_since=None)
                ops.append(Delete(st.version_key(bucket.name, key, promoted.sort_key)))
                ops.append(Put(st.object_key(bucket.name, key), promoted.to_record()))
            st.write([*ops, *st.bodies.deletions([target.blob_id])])
        st.bodies.discard([target.blob_id])
        return Deletion(version_id, target.delete_marker)

    def update(
        self,
        bucket: Bucket,
        key: str,
        version_id: str | None,
        change: Callable[[ObjectVersion], ObjectVersion],
    ) -> ObjectVersion:
        """Rewrite one version's record in place (tags, storage class, restore state).

        `change` may raise (an AwsError) to refuse; delete markers and missing versions raise
        NoSuchKey / NoSuchVersion / MethodNotAllowed as S3 does."""
        st = self.state
        with st.lock_key(bucket.name, key):
            target = self.find(bucket, key, version_id)
            updated = change(target.copy())
            current = st.current(bucket.name, key)
            if current is not None and current.sort_key == target.sort_key:
                record_key = st.object_key(bucket.name, key)
            else:
                record_key = st.version_key(bucket.name, key, target.sort_key)
            st.write([Put(record_key, updated.to_record())])
        return updated

    def find(self, bucket: Bucket, key: str, version_id: str | None) -> ObjectVersion:
        """The live version a read addresses, or the error S3 gives for it."""
        st = self.state
        if version_id is None:
            current = st.current(bucket.name, key)
            if current is None:
                marker = bucket.versioning is not None and st.latest_is_delete_marker(
                    bucket.name, key
                )
                raise errors.no_such_key(key, delete_marker=marker)
            return current
        if not st.is_version_id(version_id):
            raise errors.invalid_version_id()
        version = st.version(bucket.name, key, version_id)
        if version is None:
            raise errors.no_such_version(key, version_id)
        if version.delete_marker:
            raise errors.delete_marker_not_allowed(version_id, http_date(version.last_modified))
        return version

    def _displace(
        self, bucket: Bucket, key: str, current: ObjectVersion | None, now: float
    ) -> tuple[list[Put | Delete], list[str | None]]:
        """The writes that make room for a new latest version, and the blobs they drop."""
        st = self.state
        ops: list[Put | Delete] = []
        garbage: list[str | None] = []
        if current is not None:
            replaced = bucket.versioning is None or (
                bucket.versioning == "Suspended" and current.version_id == NULL_VERSION
            )
            if replaced:
                garbage.append(current.blob_id)
            else:
                moved = current.copy(noncurrent_since=now).to_record()
                ops.append(Put(st.version_key(bucket.name, key, current.sort_key), moved))
        if bucket.versioning == "Suspended":
            # The new write takes over the id `null`: any older null version goes.
            for old in st.other_versions(bucket.name, key):
                if old.version_id == NULL_VERSION:
                    ops.append(Delete(st.version_key(bucket.name, key, old.sort_key)))
                    garbage.append(old.blob_id)
        return ops, garbage


def _check_write_conditions(
    conditions: WriteConditions | None, current: ObjectVersion | None, key: str
) -> None:
    if conditions is None:
        return
    if conditions.if_none_match is not None and current is not None:
        # Conditional writes (2024): `If-None-Match: *` creates only if the key is absent.
        raise errors.precondition_failed("If-None-Match")
    if conditions.if_match is not None:
        if current is None:
            raise errors.no_such_key(key)
        if not etag_matches(conditions.if_match, current.etag):
            raise errors.precondition_failed("If-Match")
