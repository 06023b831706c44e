"""S3: buckets and objects with real bytes on disk, durable across restarts and crashes.

`S3` is the domain the handlers call. It opens the blob store (`<data_dir>/blobs`) and the
SQLite metadata store (`<data_dir>/s3.db`, which also holds small bodies inline: see `bodies`),
removes bodies a crash left unreferenced, and runs the lifecycle engine every
`settings.lifecycle_interval_s` seconds on a daemon thread (tests call `run_lifecycle()`
directly after moving a ManualClock).

Its parts, one concept each: `buckets`, `objects`, `copier`, `restorer`, `listing`,
`multipart`, `lifecycle` (see their modules).

The in-process API other tule services use (never HTTP); errors are S3's `AwsError`s
(`NoSuchBucket`, `NoSuchKey`):

- `list_objects(bucket, prefix)` yields `ObjectSummary(key, size, etag)` in key order;
- `read_object(bucket, key)` yields the current version's bytes in chunks;
- `object_body(bucket, key)` is the same bytes with an identity naming that stored body
  (`ObjectBody`): a later write of the key, even of the same bytes, has another identity, so a
  copy kept under it never goes stale;
- `write_object(bucket, key, body, content_type=None)` stores a file object or bytes as a new
  object (durably, as PutObject does) and returns its ETag;
- `object_file(bucket, key)` is the file holding the current version's bytes when they sit
  on disk as a plain file (engines such as DuckDB then read it in place), else None (small
  bodies kept inline, encrypted bodies, archived objects): read those with `read_object`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tule.clock import Clock
from tule.metadata.sqlite import SqliteStore
from tule.services.base import ServiceEnv
from tule.services.s3.bodies import is_inline
from tule.services.s3.buckets import Buckets
from tule.services.s3.copy import Copier
from tule.services.s3.errors import invalid_object_state
from tule.services.s3.lifecycle import LifecycleEngine, LifecycleReport
from tule.services.s3.listing import MAX_KEYS, Cursor, Listing
from tule.services.s3.models import ObjectAttributes
from tule.services.s3.multipart import Multipart
from tule.services.s3.objects import Objects
from tule.services.s3.restore import Restorer
from tule.services.s3.state import State
from tule.services.s3.versions import Versions
from tule.storage.filesystem import FilesystemBlobStore

log = logging.getLogger("tule.s3")

__all__ = ["S3", "ObjectBody", "ObjectSummary"]


@dataclass(frozen=True)
class ObjectSummary:
    """One current object of a listing."""

    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class ObjectBody:
    """The current version's bytes, and the identity of the stored body they come from (None
    for an empty body, which is stored nowhere)."""

    identity: str | None
    chunks: Iterator[bytes]


class S3:
    """The S3 domain of one tule instance."""

    def __init__(self, env: ServiceEnv) -> None:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        self.account_id = env.settings.account_id
        blobs = FilesystemBlobStore(env.data_dir / "blobs", fsync=env.fsync)
        store = SqliteStore(str(env.data_dir / "s3.db"), fsync=env.fsync)
        self.state = State(store, blobs, env.clock)
        collected = self.state.collect_garbage()
        if collected:
            log.info("removed %d unreferenced bodies left by an earlier crash", collected)
        self.buckets = Buckets(self.state)
        self.versions = Versions(self.state)
        self.objects = Objects(self.state, self.buckets, self.versions, self.account_id)
        self.copier = Copier(self.objects)
        self.restorer = Restorer(self.objects)
        self.listing = Listing(self.state, self.buckets)
        self.multipart = Multipart(self.state, self.buckets, self.objects, self.copier)
        self.buckets.before_delete.append(self.multipart.abort_all)
        self.lifecycle = LifecycleEngine(self.state, self.buckets, self.versions, self.multipart)
        self._lifecycle_lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = env.settings.lifecycle_interval_s
        self._sweeper: threading.Thread | None = None
        if self._interval > 0:
            self._sweeper = threading.Thread(target=self._sweep, name="s3-lifecycle", daemon=True)
            self._sweeper.start()

    @property
    def clock(self) -> Clock:
        return self.state.clock

    # -- the in-process API for other services ------------------------------------------------

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectSummary]:
        """Every current object under `prefix`, in key order, a page at a time."""
        cursor: Cursor | None = None
        while True:
            page = self.listing.objects(bucket, prefix, None, MAX_KEYS, cursor)
            for version in page.items:
                yield ObjectSummary(version.key, version.size, version.etag)
            if not page.truncated:
                return
            cursor = page.last

    def read_object(self, bucket: str, key: str) -> Iterator[bytes]:
        """The bytes of the current version of `key`."""
        body = self.objects.get(bucket, key).body
        if isinstance(body, bytes | bytearray):
            yield bytes(body)
        elif body is not None:
            yield from body

    def generation(self, bucket: str) -> int:
        """Goes up with every committed change to the bucket's objects or settings: two equal
        readings mean every listing, object and body of it read in between is still current."""
        return self.state.bucket_generation(bucket)

    def object_body(self, bucket: str, key: str) -> ObjectBody:
        """The bytes of the current version of `key`, named by their stored body. The bytes
        are read only when iterated (a caller that already holds a copy skips them); if the key
        was overwritten meanwhile and its old body deleted, iterating raises FileNotFoundError,
        never yields other bytes."""
        version = self.objects.get(bucket, key, with_body=False).version
        if not self.objects.readable(version):
            raise invalid_object_state(version.storage_class)
        blob_id = version.blob_id

        def chunks() -> Iterator[bytes]:
            if blob_id is not None:
                yield from self.state.bodies.read(blob_id)

        return ObjectBody(blob_id, chunks())

    def write_object(
        self, bucket: str, key: str, body: BinaryIO | bytes, content_type: str | None = None
    ) -> str:
        """Store `body` as a new current version of `key`; returns its ETag."""
        attrs = ObjectAttributes(content_type=content_type or "binary/octet-stream")
        return self.objects.put(bucket, key, body, attrs).etag

    def write_objects(
        self, bucket: str, objects: Sequence[tuple[str, BinaryIO | bytes | Path, str]]
    ) -> list[str]:
        """Store several (key, body, content type) as new current versions in one commit: all
        of them become visible (and durable) together. Returns their ETags. A `Path` body is a
        finished file that S3 takes over: moved into its storage when it can be, else copied,
        and removed either way (a caller writes it beside the data directory to avoid a copy)."""
        items = [
            (key, body, ObjectAttributes(content_type=content_type))
            for key, body, content_type in objects
        ]
        return [version.etag for version in self.objects.put_many(bucket, items)]

    def object_file(self, bucket: str, key: str) -> Path | None:
        """The current version's body file if it is a plain file on disk (see the docstring).
        The file is immutable; an overwrite deletes it soon after, so open it promptly."""
        version = self.objects.get(bucket, key, with_body=False).version
        blob_id = version.blob_id
        if blob_id is None or is_inline(blob_id) or not self.objects.readable(version):
            return None
        local_path = getattr(self.state.blobs, "local_path", None)
        if local_path is None:
            return None
        try:
            found: Path | None = local_path(blob_id)
        except FileNotFoundError:
            return None
        return found

    def run_lifecycle(self) -> LifecycleReport:
        """Apply every enabled lifecycle rule now (one run at a time)."""
        with self._lifecycle_lock:
            return self.lifecycle.run()

    def _sweep(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_lifecycle()
            except Exception:
                log.exception("lifecycle run failed")

    def close(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=30)
        self.state.close()
