"""Where S3's records live in the metadata store, and the shared means to read them safely.

Key layout (metadata keys order by UTF-8 bytes, as S3 orders object keys):

    b/{bucket}                          Bucket
    o/{bucket}/{key}                    the current version of a key, when it is a live object
    v/{bucket}/{key}\\0{sort_key}        every other version: noncurrent ones and delete markers
    u/{bucket}/{key}\\0{upload_id}       MultipartUpload in progress
    p/{upload_id}/{part:05d}            Part of an upload
    d/{body_id}                         the bytes of a small body stored inline (see `bodies`)

Listing objects reads only `o/`, so it never meets delete markers or old versions; listing
versions merges `o/` and `v/`. `sort_key`s sort newest first, and a version's id is its sort key
(except the `null` version), so a version is one point lookup away.

Object keys appear only inside metadata keys; bodies have random ids, so no key can reach the
filesystem.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence

from tule.clock import Clock
from tule.metadata.base import Delete, MetadataStore, Put, Record
from tule.services.s3.bodies import INLINE_MAX, Bodies
from tule.services.s3.models import NULL_VERSION, Bucket, ObjectVersion
from tule.storage.base import BlobStore

_LOCK_STRIPES = 1024
_OBJECTS = ("o/", "v/")  # the key prefixes of object records, bucket name next
_VERSION_ID = re.compile(r"[0-9a-f]{32}\Z")
_MAX_SEQ = (1 << 64) - 1
# Greater than every key that starts with a given prefix and fits in S3's 1024-byte key limit:
# used to list "strictly after everything under this prefix".
PAST_PREFIX = "\U0010ffff" * 256


class State:
    """The S3 store: metadata records, object bodies, the clock, and per-key write locks."""

    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        *,
        inline_max: int = INLINE_MAX,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.bodies = Bodies(store, blobs, inline_max=inline_max)
        self.clock = clock
        # One pool per kind, always taken in the order bucket -> upload -> key, so two stripes
        # shared by unrelated names can never deadlock.
        self._stripes = {
            kind: [threading.Lock() for _ in range(_LOCK_STRIPES)]
            for kind in ("bucket", "upload", "key")
        }
        self._seq_lock = threading.Lock()
        self._last_seq = 0
        self._buckets: dict[str, Bucket] = {}
        self._buckets_lock = threading.Lock()
        self._generation = 0
        # bucket -> how many committed changes its objects or settings have seen (this run).
        self._changes: dict[str, int] = {}
        self._changes_lock = threading.Lock()

    # -- keys ---------------------------------------------------------------------------------

    @staticmethod
    def bucket_key(name: str) -> str:
        return f"b/{name}"

    @staticmethod
    def object_key(bucket: str, key: str) -> str:
        return f"o/{bucket}/{key}"

    @staticmethod
    def version_key(bucket: str, key: str, sort_key: str) -> str:
        return f"v/{bucket}/{key}\0{sort_key}"

    @staticmethod
    def upload_key(bucket: str, key: str, upload_id: str) -> str:
        return f"u/{bucket}/{key}\0{upload_id}"

    @staticmethod
    def part_key(upload_id: str, part_number: int) -> str:
        return f"p/{upload_id}/{part_number:05d}"

    # -- time, ids, locks ---------------------------------------------------------------------

    def now(self) -> float:
        """The clock, at the millisecond precision S3 reports."""
        return round(self.clock.time(), 3)

    def new_sort_key(self) -> str:
        """A fresh version sort key: newer keys sort first; unique even within a microsecond."""
        with self._seq_lock:
            seq = max(self._last_seq + 1, int(self.clock.time() * 1_000_000))
            self._last_seq = seq
        return f"{_MAX_SEQ - seq:016x}{os.urandom(8).hex()}"

    @staticmethod
    def is_version_id(value: str) -> bool:
        return value == NULL_VERSION or _VERSION_ID.match(value) is not None

    def lock_key(self, bucket: str, key: str) -> threading.Lock:
        """The lock serializing read-modify-write of one object key (striped: cheap, bounded)."""
        return self._stripes["key"][hash((bucket, key)) % _LOCK_STRIPES]

    def lock_upload(self, upload_id: str) -> threading.Lock:
        """The lock serializing changes to one multipart upload (parts, completion, abort)."""
        return self._stripes["upload"][hash(upload_id) % _LOCK_STRIPES]

    def lock_bucket(self, name: str) -> threading.Lock:
        """The lock serializing changes to one bucket record (creation, settings, deletion)."""
        return self._stripes["bucket"][hash(name) % _LOCK_STRIPES]

    # -- buckets (cached: bucket records change rarely and are read by every request) ---------

    def bucket(self, name: str) -> Bucket | None:
        cached = self._buckets.get(name)
        if cached is not None:
            return cached
        generation = self._generation
        rec = self.store.get(self.bucket_key(name))
        if rec is None:
            return None
        bucket = Bucket.from_record(rec)
        with self._buckets_lock:
            # Cache only if no bucket write happened while we read (it could be newer).
            if generation == self._generation:
                self._buckets[name] = bucket
        return bucket

    def save_bucket(self, bucket: Bucket) -> None:
        with self._buckets_lock:
            self._generation += 1
            self.store.put(self.bucket_key(bucket.name), bucket.to_record())
            self._buckets[bucket.name] = bucket
        self.changed([bucket.name])

    def forget_bucket(self, name: str) -> None:
        with self._buckets_lock:
            self._generation += 1
            self.store.delete(self.bucket_key(name))
            self._buckets.pop(name, None)
        self.changed([name])

    # -- change counters ----------------------------------------------------------------------

    def bucket_generation(self, name: str) -> int:
        """Goes up after every committed change to the bucket's objects or settings, before
        the change's caller returns: two equal readings mean every listing and object of the
        bucket read in between is still current (what a cache of them checks)."""
        return self._changes.get(name, 0)

    def changed(self, buckets: Iterable[str]) -> None:
        """Count a committed change to each bucket (call after the commit)."""
        names = set(buckets)
        if not names:
            return  # an upload's parts, an inline body's deletion: no object record changed
        with self._changes_lock:
            for name in names:
                self._changes[name] = self._changes.get(name, 0) + 1

    # -- versions -----------------------------------------------------------------------------

    def current(self, bucket: str, key: str) -> ObjectVersion | None:
        rec = self.store.get(self.object_key(bucket, key))
        return ObjectVersion.from_record(rec) if rec is not None else None

    def other_versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        """The key's noncurrent versions and delete markers, newest first."""
        prefix = f"v/{bucket}/{key}\0"
        found = (ObjectVersion.from_record(rec) for _, rec in self.scan(prefix))
        # A key that itself contains NUL could share the prefix; the record knows its key.
        return [v for v in found if v.key == key]

    def version(self, bucket: str, key: str, version_id: str) -> ObjectVersion | None:
        """One version by id, current or not (delete markers included)."""
        current = self.current(bucket, key)
        if current is not None and current.version_id == version_id:
            return current
        if version_id != NULL_VERSION:
            rec = self.store.get(self.version_key(bucket, key, version_id))
            return ObjectVersion.from_record(rec) if rec is not None else None
        return next(
            (v for v in self.other_versions(bucket, key) if v.version_id == version_id), None
        )

    def latest_is_delete_marker(self, bucket: str, key: str) -> bool:
        if self.current(bucket, key) is not None:
            return False
        others = self.other_versions(bucket, key)
        return bool(others) and others[0].delete_marker

    # -- scanning -----------------------------------------------------------------------------

    def scan(
        self, prefix: str, start_after: str | None = None, page: int = 1000
    ) -> Iterator[tuple[str, Record]]:
        """Every record under `prefix` after `start_after`, in key order, fetched page by page."""
        after = start_after
        while True:
            result = self.store.list(prefix, start_after=after, limit=page)
            yield from result.items
            if result.next_after is None:
                return
            after = result.next_after

    def has_any(self, prefix: str) -> bool:
        return bool(self.store.list(prefix, limit=1).items)

    def write(self, ops: Sequence[Put | Delete]) -> None:
        """Commit the writes atomically, then count the buckets whose object records changed."""
        try:
            if len(ops) == 1 and isinstance(ops[0], Put):
                self.store.put(ops[0].key, ops[0].value)
            elif len(ops) == 1:
                self.store.delete(ops[0].key)
            elif ops:
                self.store.batch(list(ops))
        finally:
            # Object records ("o/<bucket>/..." current, "v/<bucket>/..." noncurrent); counted
            # even if the commit failed, which only makes a cache look again.
            self.changed(op.key[2 : op.key.index("/", 2)] for op in ops if op.key[:2] in _OBJECTS)

    # -- bodies -------------------------------------------------------------------------------

    def collect_garbage(self) -> int:
        """Delete bodies that no record references: what a crash between writing a blob and
        committing its record leaves behind. Run before serving; returns how many went."""
        referenced = {
            rec["blob_id"]
            for prefix in ("o/", "v/", "p/")
            for _, rec in self.scan(prefix)
            if rec.get("blob_id")
        }
        return self.bodies.collect_garbage(referenced)

    def close(self) -> None:
        """Finish pending blob deletions, then close the stores."""
        self.bodies.close()
        self.store.close()
        self.blobs.close()
