"""Local copies of the S3 objects DuckDB cannot read in place, shared by every query.

Most objects are plain files in S3's blob store and DuckDB reads them where they lie. Small
bodies (kept inline in S3's metadata) and encrypted ones are not, so a query copies them to a
local file first. A copy is named by the identity of the stored body it holds (`S3.object_body`),
which a later write of the same key never reuses: a copy can be kept and shared by later queries
without ever going stale, and because its path, size and modification time stay the same, the
engine's described-files and view caches (see `tule.engines.duckdb_shared`) serve it too. Before
this, every query over a small table copied it afresh, then described the copy and made a view
of it: about a third of a short TPC-H query's time beyond DuckDB's own.

The folder is emptied when the server starts (copies are only a cache). It holds at most
`max_bytes`; beyond that the least recently used copies go, but never one used in the last
`grace_s` seconds, the longest a query runs (Athena's default DML timeout is 30 minutes), so a
running query never loses a file it is reading.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

MAX_BYTES = 256 << 20
GRACE_S = 30 * 60.0


class ObjectCopies:
    """Copies of S3 object bodies under `folder`, one file per stored body."""

    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int = MAX_BYTES,
        grace_s: float = GRACE_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.max_bytes = max_bytes
        self.grace_s = grace_s
        self._now = now
        self._lock = threading.Lock()
        self._used: OrderedDict[str, tuple[float, int]] = OrderedDict()  # name -> (last use, size)
        self._bytes = 0

    def path(self, s3: Any, bucket: str, key: str) -> Path:
        """A local file holding the current bytes of `bucket/key`."""
        attempts = 3
        while True:
            body = s3.object_body(bucket, key)
            # Every empty body is the same (empty) file.
            name = body.identity or "empty"
            with self._lock:
                if name in self._used:
                    self._touch(name, self._used[name][1])
                    return self.folder / name
            try:
                return self._write(name, body.chunks)
            except FileNotFoundError:
                # Overwritten between naming the body and reading it: look again.
                attempts -= 1
                if not attempts:
                    raise

    def keep(self, names: Iterable[str]) -> bool:
        """Whether every named copy is still here, each marked as just used: for a caller
        that remembered copies rather than asking `path` again."""
        names = tuple(names)  # looked at twice
        with self._lock:
            if any(name not in self._used for name in names):
                return False
            for name in names:
                self._touch(name, self._used[name][1])
            return True

    def _write(self, name: str, chunks: Any) -> Path:
        # Written under a private name, then renamed: a query never sees a partial copy, and two
        # queries copying the same body at once both end with the same complete file.
        target = self.folder / name
        partial = self.folder / f".{uuid.uuid4().hex}.partial"
        size = 0
        try:
            with open(partial, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        with self._lock:
            self._touch(name, size)
            self._evict()
        return target

    def _touch(self, name: str, size: int) -> None:
        previous = self._used.pop(name, None)
        if previous is not None:
            self._bytes -= previous[1]
        self._used[name] = (self._now(), size)
        self._bytes += size

    def _evict(self) -> None:
        cutoff = self._now() - self.grace_s
        while self._bytes > self.max_bytes and self._used:
            name, (used, size) = next(iter(self._used.items()))
            if used > cutoff:
                return
            del self._used[name]
            self._bytes -= size
            (self.folder / name).unlink(missing_ok=True)
