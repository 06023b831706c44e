"""Object bodies: small ones inline in the metadata store, the others as files in the blob store.

Every version, part and completed upload names its bytes by a body id. Two kinds exist, told
apart by the id's shape:

- a **blob** (32 hex digits): a file in the `BlobStore`, written and flushed before the record
  that names it is committed;
- an **inline body** (`i` + 32 hex digits): the bytes, base64 in a record `d/<id>` of the
  metadata store, for unencrypted bodies of at most `inline_max` bytes. Its record is written
  in the same atomic batch as the record that names it, so one metadata commit (one WAL fsync,
  shared with concurrent writers) makes a small PUT durable: no file to create and flush, no
  directory to flush, no file to unlink on overwrite. This is what MinIO does with `xl.meta`.
  The data sits under its own key, so listings, which read `o/`/`v/`, never read it.

The lifecycle of an id: `write` returns it; an inline body's bytes wait in memory until the
commit that names it takes `records([id])` into its batch. A commit that drops ids puts
`deletions(ids)` into its batch (inline records go with the change that drops them), and after
the commit calls `discard(ids)`, which hands blobs to a background deleter: the request does not
wait for unlinks (a crash before they run leaves orphan files that the start-up collection
removes). A write that is never committed is `discard`ed too.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import queue
import re
import secrets
import threading
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from tule.metadata.base import Delete, MetadataStore, Put
from tule.storage.base import BlobInfo, BlobStore, BlobTooLarge, Hasher, iter_chunks

log = logging.getLogger("tule.s3")

DATA_PREFIX = "d/"
# Chosen by measurement on the dev VM (PutObject/GetObject through the dispatcher, fsync on,
# inline against file bodies of the same size). 4 KiB: inline PUTs 1.3-3x faster, GETs the
# same. 16 KiB: inline PUTs 1.5x faster serially and within 10% with 8 writers, GETs ~30%
# slower (base64 decoding). From 32 KiB on, inline loses with 8 writers (up to 40%; every byte
# goes through the one commit, base64-grown, and again through the checkpoint) and GETs halve.
INLINE_MAX = 16 * 1024
# A finished file handed over by an in-process writer (`adopt`: an Athena result) stays inline up
# to this size: a flush of the file and one of its directory fewer before the writer's answer,
# for a record a few pages larger. PUT bodies arrive as a stream of unknown length and keep the
# lower bound.
ADOPT_INLINE_MAX = 64 * 1024
_INLINE_ID = re.compile(r"i[0-9a-f]{32}\Z")
_STOP = ""


def is_inline(body_id: str) -> bool:
    return _INLINE_ID.match(body_id) is not None


def data_key(body_id: str) -> str:
    return DATA_PREFIX + body_id


class Bodies:
    """Reads and writes object bodies of either kind; see the module docstring."""

    def __init__(
        self, store: MetadataStore, blobs: BlobStore, *, inline_max: int = INLINE_MAX
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.inline_max = inline_max
        self._pending: dict[str, bytes] = {}  # inline bodies written but not yet committed
        self._pending_lock = threading.Lock()
        self._doomed: queue.Queue[str] = queue.Queue()
        self._deleter = threading.Thread(target=self._delete_loop, name="s3-deleter", daemon=True)
        self._deleter.start()

    # -- writing ------------------------------------------------------------------------------

    def write(
        self,
        data: BinaryIO | bytes | Iterable[bytes],
        *,
        encrypt: bool = False,
        hashers: Iterable[Hasher] = (),
        max_size: int | None = None,
        inline_max: int | None = None,
    ) -> BlobInfo:
        """Store the bytes as a new body: inline when small and not encrypted (its record is
        then written by the commit that takes `records`), else as a durable blob. `inline_max`
        overrides the store's bound for this body."""
        limit = self.inline_max if inline_max is None else inline_max
        if encrypt or limit <= 0:
            return self.blobs.write(data, encrypt=encrypt, hashers=hashers, max_size=max_size)
        source = iter_chunks(data)
        head: list[bytes] = []
        size = 0
        for chunk in source:
            head.append(chunk)
            size += len(chunk)
            if size > limit:
                # Too big after all: the blob store takes what was read and the rest.
                return self.blobs.write(chain(head, source), hashers=hashers, max_size=max_size)
        body = b"".join(head)
        if max_size is not None and size > max_size:
            raise BlobTooLarge(f"blob exceeds the maximum size of {max_size} bytes")
        for hasher in hashers:
            hasher.update(body)
        body_id = "i" + secrets.token_hex(16)
        with self._pending_lock:
            self._pending[body_id] = body
        return BlobInfo(body_id, size, hashlib.md5(body, usedforsecurity=False).hexdigest())

    def adopt(self, path: Path, *, encrypt: bool = False) -> BlobInfo:
        """Take the finished file at `path` over as a new body (the file is gone afterwards):
        inline up to `ADOPT_INLINE_MAX` (when the store keeps bodies inline at all), else moved
        into the blob store rather than copied."""
        limit = max(self.inline_max, ADOPT_INLINE_MAX) if self.inline_max > 0 else 0
        if encrypt or os.stat(path).st_size <= limit:
            with open(path, "rb") as data:
                info = self.write(data, encrypt=encrypt, inline_max=limit)
            os.unlink(path)
            return info
        return self.blobs.adopt(path)

    def concat(self, body_ids: list[str], *, encrypt: bool = False) -> BlobInfo:
        """A new body made of the given ones in order (completing a multipart upload)."""
        pieces = chain.from_iterable(self.read(body_id) for body_id in body_ids)
        return self.write(pieces, encrypt=encrypt)

    def records(self, body_ids: Iterable[str | None]) -> list[Put]:
        """The writes that store these new inline bodies, for the batch that commits them."""
        out = []
        with self._pending_lock:
            for body_id in body_ids:
                body = self._pending.pop(body_id, None) if body_id else None
                if body is not None:
                    out.append(Put(data_key(body_id), {"data": base64.b64encode(body).decode()}))
        return out

    @staticmethod
    def deletions(body_ids: Iterable[str | None]) -> list[Delete]:
        """The writes that remove these committed inline bodies, for the batch that drops
        them (blobs go after the commit, by `discard`)."""
        return [Delete(data_key(b)) for b in body_ids if b and is_inline(b)]

    def discard(self, body_ids: Iterable[str | None]) -> None:
        """Forget bodies no committed record names: uncommitted inline ones are dropped from
        memory, blobs are queued for deletion (see the module docstring)."""
        for body_id in body_ids:
            if not body_id:
                continue
            if is_inline(body_id):
                with self._pending_lock:
                    self._pending.pop(body_id, None)
            else:
                self._doomed.put(body_id)

    # -- reading ------------------------------------------------------------------------------

    def read(self, body_id: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes `start` .. `end` (exclusive; None: to the end). Raises FileNotFoundError
        at once when the body is gone (its record was replaced meanwhile)."""
        if not is_inline(body_id):
            return self.blobs.read(body_id, start, end)
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid byte range {start}..{end}")
        rec = self.store.get(data_key(body_id))
        if rec is None:
            raise FileNotFoundError(body_id)
        body = base64.b64decode(rec["data"])
        return iter((body[start:end],))

    # -- housekeeping -------------------------------------------------------------------------

    def collect_garbage(self, referenced: set[str]) -> int:
        """Delete blobs and inline records that no record references (what a crash between
        writing a blob and committing its record leaves, or a deletion the crash cut short).
        Run before serving; returns how many went."""
        removed = 0
        list_ids = getattr(self.blobs, "blob_ids", None)
        if list_ids is not None:
            orphans = [blob_id for blob_id in list_ids() if blob_id not in referenced]
            for blob_id in orphans:
                self._delete_blob(blob_id)
            removed += len(orphans)
        after = None
        while True:
            keys = self.store.list_keys(DATA_PREFIX, start_after=after, limit=1000)
            if not keys:
                break
            after = keys[-1]
            dead = [key for key in keys if key[len(DATA_PREFIX) :] not in referenced]
            self.store.batch([Delete(key) for key in dead])
            removed += len(dead)
        return removed

    def drain(self) -> None:
        """Wait until every blob handed to `discard` so far is deleted (tests, shutdown)."""
        self._doomed.join()

    def close(self) -> None:
        """Finish the deletions queued so far, then stop the deleter."""
        if self._deleter.is_alive():
            self._doomed.put(_STOP)
            self._deleter.join()

    def _delete_loop(self) -> None:
        while True:
            blob_id = self._doomed.get()
            try:
                if blob_id == _STOP:
                    return
                self._delete_blob(blob_id)
            finally:
                self._doomed.task_done()

    def _delete_blob(self, blob_id: str) -> None:
        try:
            self.blobs.delete(blob_id)
        except (OSError, ValueError):
            # The next start-up's collection removes it.
            log.warning("could not delete blob %s", blob_id, exc_info=True)
