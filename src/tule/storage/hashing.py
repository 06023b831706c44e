"""Hashing beside writing: a large blob's digests are computed on a helper thread.

Every blob is hashed as it is written (MD5 for the ETag, plus the checksum the client sent).
MD5 runs at ~600 MB/s on the dev VM, slower than receiving or writing the same bytes, and
hashlib and awscrt release the GIL on large buffers, so a second thread doing the hashing
lets it overlap the receiving and writing done by the request's thread. On the 2-vCPU dev VM,
where the client competes for the same cores, 64 MiB PUTs gained ~5% (paired runs); hashing is
~40% of the server's CPU for such a PUT, so more cores gain more. Small blobs are hashed in
line: a thread costs more than hashing them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable

from tule.storage.base import Hasher

# Hash in line up to this many bytes; start the helper thread past it.
INLINE_BYTES = 4 << 20
# Chunks waiting for the helper; past this the writer waits, so memory stays bounded.
_BACKLOG = 16
_END: object = object()


class Hashing:
    """Feeds every chunk to all `hashers`, in order; `finish` returns once all are fed."""

    def __init__(self, hashers: Iterable[Hasher], inline_bytes: int = INLINE_BYTES) -> None:
        self._hashers = list(hashers)
        self._inline_left = inline_bytes
        self._queue: queue.Queue[object] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def update(self, chunk: bytes) -> None:
        if self._queue is None and len(chunk) <= self._inline_left:
            self._inline_left -= len(chunk)
            for hasher in self._hashers:
                hasher.update(chunk)
            return
        if self._queue is None:
            self._queue = queue.Queue(_BACKLOG)
            self._thread = threading.Thread(target=self._run, name="blob-hashing", daemon=True)
            self._thread.start()
        if chunk:
            self._queue.put(chunk)

    def finish(self) -> None:
        """Wait until every chunk is hashed; re-raise what a hasher raised."""
        self._stop()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the helper (the write failed; the digests are not wanted)."""
        self._stop()

    def _stop(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(_END)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not _END:
            if self._error is not None:
                continue  # keep draining so the writer never blocks on a full queue
            try:
                for hasher in self._hashers:
                    hasher.update(chunk)  # type: ignore[arg-type]
            except BaseException as exc:
                self._error = exc
