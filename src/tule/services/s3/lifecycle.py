"""The lifecycle engine: applies every enabled rule of every bucket, by the injectable clock.

S3 evaluates rules asynchronously, once a day; an action is due at the first midnight UTC
after creation + Days (S3 user guide, "Setting lifecycle configuration": object age is rounded
up to the next midnight UTC), or from a rule's Date on. `run()` performs every due action
at once: transitions (a storage-class change), expirations (a delete, or a delete marker in
a versioned bucket), noncurrent-version transitions and expirations (counted from when a
version became noncurrent, keeping `NewerNoncurrentVersions`), removal of expired delete
markers, and aborting stale multipart uploads. Each action is an ordinary atomic change
under the key's lock, so it interleaves safely with requests.

Since September 2024 objects under 128 KiB do not transition unless the rule filters on object
size, or the configuration says `varies_by_storage_class` and the target is GLACIER or
DEEP_ARCHIVE (S3 user guide, "Transitioning objects": minimum object size).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import groupby

from tule.errors import AwsError
from tule.services.s3 import lifecycle_rules
from tule.services.s3.buckets import Buckets
from tule.services.s3.lifecycle_rules import Rule
from tule.services.s3.models import DAY_S, Bucket, ObjectVersion, midnight_after
from tule.services.s3.multipart import Multipart
from tule.services.s3.state import State
from tule.services.s3.versions import Versions

log = logging.getLogger("tule.s3.lifecycle")

MIN_TRANSITION_SIZE = 128 * 1024
# The transition waterfall: lifecycle only moves objects down it, never back up.
_CLASS_ORDER = {
    "STANDARD": 0,
    "REDUCED_REDUNDANCY": 0,
    "INTELLIGENT_TIERING": 1,
    "STANDARD_IA": 2,
    "ONEZONE_IA": 3,
    "GLACIER_IR": 4,
    "GLACIER": 5,
    "DEEP_ARCHIVE": 6,
}
_SMALL_OBJECT_CLASSES = ("GLACIER", "DEEP_ARCHIVE")


@dataclass
class LifecycleReport:
    """What one run did."""

    transitioned: int = 0
    expired: int = 0
    noncurrent_transitioned: int = 0
    noncurrent_expired: int = 0
    delete_markers_removed: int = 0
    uploads_aborted: int = 0


def _due(start: float, days: int) -> float:
    return midnight_after(start + days * DAY_S)


class LifecycleEngine:
    def __init__(
        self, state: State, buckets: Buckets, versions: Versions, multipart: Multipart
    ) -> None:
        self.state = state
        self.buckets = buckets
        self.versions = versions
        self.multipart = multipart

    def run(self) -> LifecycleReport:
        report = LifecycleReport()
        now = self.state.clock.time()
        for bucket in self.buckets.all():
            for stored in bucket.lifecycle or []:
                rule = lifecycle_rules.parse(stored)
                if rule.enabled:
                    try:
                        self._apply(bucket, rule, now, report)
                    except AwsError:
                        # The bucket went away or changed mid-run; the next run catches up.
                        log.debug("lifecycle rule %s skipped", rule.id, exc_info=True)
        return report

    def _apply(self, bucket: Bucket, rule: Rule, now: float, report: LifecycleReport) -> None:
        for _, rec in list(self.state.scan(f"o/{bucket.name}/{rule.prefix}")):
            version = ObjectVersion.from_record(rec)
            if _matches(rule, version):
                self._current(bucket, rule, version, now, report)
        if bucket.versioning is not None:
            self._noncurrent(bucket, rule, now, report)
        if rule.abort_after_days is not None:
            for upload in self.multipart.stale_uploads(bucket.name, rule.prefix):
                if _due(upload.initiated, rule.abort_after_days) <= now:
                    self.multipart.abort(bucket.name, upload.key, upload.upload_id)
                    report.uploads_aborted += 1

    def _current(
        self,
        bucket: Bucket,
        rule: Rule,
        version: ObjectVersion,
        now: float,
        report: LifecycleReport,
    ) -> None:
        expires = (
            rule.expiration_days is not None
            and _due(version.last_modified, rule.expiration_days) <= now
        ) or (rule.expiration_date is not None and rule.expiration_date <= now)
        if expires:
            # Unversioned: the object goes; versioned: a delete marker makes it noncurrent.
            self.versions.delete(bucket, version.key)
            report.expired += 1
            return
        due = [
            t.storage_class
            for t in rule.transitions
            if (t.days is not None and _due(version.last_modified, t.days) <= now)
            or (t.date is not None and t.date <= now)
        ]
        target = _deepest(due, version.storage_class)
        may = target is not None and self._may_transition(bucket, rule, version, target)
        if may and target is not None and self._set_class(bucket, version, target):
            report.transitioned += 1

    def _noncurrent(self, bucket: Bucket, rule: Rule, now: float, report: LifecycleReport) -> None:
        records = [
            ObjectVersion.from_record(rec)
            for _, rec in self.state.scan(f"v/{bucket.name}/{rule.prefix}")
        ]
        for key, group in groupby(records, key=lambda v: v.key):
            versions = list(group)  # newest first
            has_current = self.state.current(bucket.name, key) is not None
            if (
                rule.expired_object_delete_marker
                and not has_current
                and len(versions) == 1
                and versions[0].delete_marker
            ):
                # The marker is all that is left of the key: it has expired.
                self.versions.delete_version(bucket, key, versions[0].version_id)
                report.delete_markers_removed += 1
                continue
            noncurrent = [v for v in versions if not v.delete_marker and _matches(rule, v)]
            for rank, version in enumerate(noncurrent):
                since = version.noncurrent_since or version.last_modified
                days = rule.noncurrent_expiration_days
                if (
                    days is not None
                    and rank >= rule.noncurrent_newer_versions
                    and _due(since, days) <= now
                ):
                    self.versions.delete_version(bucket, key, version.version_id)
                    report.noncurrent_expired += 1
                    continue
                due = [
                    t.storage_class
                    for t in rule.noncurrent_transitions
                    if rank >= t.newer_versions and _due(since, t.days) <= now
                ]
                target = _deepest(due, version.storage_class)
                may = target is not None and self._may_transition(bucket, rule, version, target)
                if may and target is not None and self._set_class(bucket, version, target):
                    report.noncurrent_transitioned += 1

    def _may_transition(
        self, bucket: Bucket, rule: Rule, version: ObjectVersion, target: str
    ) -> bool:
        if rule.has_size_filter or version.size >= MIN_TRANSITION_SIZE:
            return True
        mode = bucket.lifecycle_min_size or lifecycle_rules.DEFAULT_MIN_SIZE
        return mode == "varies_by_storage_class" and target in _SMALL_OBJECT_CLASSES

    def _set_class(self, bucket: Bucket, version: ObjectVersion, target: str) -> bool:
        """Change one version's class, unless it changed since it was read."""
        changed = False

        def change(latest: ObjectVersion) -> ObjectVersion:
            nonlocal changed
            if latest.sort_key == version.sort_key:
                latest.attrs.storage_class = target
                changed = True
            return latest

        try:
            self.versions.update(bucket, version.key, version.version_id, change)
        except AwsError:
            return False  # deleted meanwhile
        return changed


def _matches(rule: Rule, version: ObjectVersion) -> bool:
    if not version.key.startswith(rule.prefix):
        return False
    if any(version.attrs.tags.get(k) != v for k, v in rule.tags.items()):
        return False
    if rule.size_greater_than is not None and not version.size > rule.size_greater_than:
        return False
    return rule.size_less_than is None or version.size < rule.size_less_than


def _deepest(classes: list[str], current: str) -> str | None:
    """The furthest class down the waterfall among those due, if below the current one."""
    if not classes:
        return None
    target = max(classes, key=lambda c: _CLASS_ORDER.get(c, 0))
    if _CLASS_ORDER.get(target, 0) <= _CLASS_ORDER.get(current, 0):
        return None
    return target
