"""RestoreObject: a temporary readable copy of an archived (GLACIER/DEEP_ARCHIVE) object.

AWS takes minutes to hours to restore; tule completes a restore at once (the header says
`ongoing-request="false"` from the first HEAD), because nothing is actually archived offline
and waiting would only slow tests and pipelines. The copy expires `Days` later, rounded up to
midnight UTC, by the injectable clock; the first request answers 202 Accepted, a repeat while
the copy is readable answers 200 OK and moves the expiry (S3 API reference, RestoreObject).
"""

from __future__ import annotations

from tule.services.s3 import errors
from tule.services.s3.conditions import http_date
from tule.services.s3.models import ARCHIVE_CLASSES, DAY_S, ObjectVersion, midnight_after
from tule.services.s3.objects import Objects


class Restorer:
    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    def restore(self, bucket_name: str, key: str, version_id: str | None, days: int | None) -> bool:
        """Restore the object; returns whether a restored copy already existed."""
        bucket = self.objects.buckets.require(bucket_name)
        if days is None or days < 1:
            raise errors.malformed_xml()
        now = self.objects.state.clock.time()
        was_restored = False

        def change(version: ObjectVersion) -> ObjectVersion:
            nonlocal was_restored
            if version.storage_class not in ARCHIVE_CLASSES:
                raise errors.invalid_object_state(
                    version.storage_class,
                    "Restore is not allowed for the object's current storage class",
                )
            was_restored = version.restore_expiry is not None and version.restore_expiry > now
            version.restore_expiry = midnight_after(now + days * DAY_S)
            return version

        self.objects.versions.update(bucket, key, version_id, change)
        return was_restored


def restore_header(version: ObjectVersion, now: float) -> str | None:
    """The `x-amz-restore` header of an archived object with a restored copy."""
    expiry = version.restore_expiry
    if version.storage_class not in ARCHIVE_CLASSES or expiry is None or expiry <= now:
        return None
    return f'ongoing-request="false", expiry-date="{http_date(expiry)}"'
