"""Blobs as files: one immutable file per blob, streamed into tmp/ and renamed into place.

Layout under the root:

    blobs/<first two hex digits of the id>/<id>   finished blobs (plain, or sealed: see
                                                  `encryption`), never visible half-written
    tmp/<id>                                      blobs being written; emptied on start-up
    master.key                                    created on first use of encryption

The fan-out keeps directories small; the temp directory sits on the same filesystem so the
final rename is atomic. Making it durable, and sharing flushes, is `durability`'s concern.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from tule.storage.base import CHUNK, BlobInfo, BlobStore, BlobTooLarge, Hasher, iter_chunks
from tule.storage.durability import WRITEBACK_STEP, commit, fsync_dir, start_writeback
from tule.storage.encryption import (
    HEADER_SIZE,
    KEY_SIZE,
    MAGIC,
    ChunkOpener,
    ChunkSealer,
    is_encrypted,
    load_or_create_master_key,
)
from tule.storage.hashing import Hashing

_BLOB_ID = re.compile(r"[0-9a-f]{32}\Z")
_FAN_OUT = [f"{i:02x}" for i in range(256)]


class FilesystemBlobStore(BlobStore):
    """Blobs under `root`. With `fsync`, `write` returns only once the blob survives power
    loss (see `durability` for how concurrent writes share flushes). `master_key` (32 bytes)
    seals encrypted blobs; without it, `root/master.key` is loaded or created when first
    needed.

    One store (one process) per root: opening a store clears `tmp/`, which would destroy the
    in-flight writes of another store on the same root."""

    def __init__(self, root: Path, *, fsync: bool = True, master_key: bytes | None = None) -> None:
        if master_key is not None and len(master_key) != KEY_SIZE:
            raise ValueError(f"master_key must be {KEY_SIZE} bytes")
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"
        self._master_key = master_key
        self._key_lock = threading.Lock()
        self._fsync = fsync
        self._make_layout()

    def _make_layout(self) -> None:
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._blobs.mkdir(exist_ok=True)
        # Leftovers of writes a crash interrupted: never renamed, so nothing refers to them.
        for entry in os.scandir(self._tmp):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        # Fan-out directories are made on first use (256 mkdirs up front are slow to start).
        self._fan_out_ready = {entry.name for entry in os.scandir(self._blobs) if entry.is_dir()}
        if self._fsync:
            # Also covers fan-out directories a crashed run made but never flushed.
            for directory in (self._blobs, self.root, self.root.parent):
                fsync_dir(directory)

    def _fan_out(self, blob_id: str) -> None:
        name = blob_id[:2]
        if name not in self._fan_out_ready:
            (self._blobs / name).mkdir(exist_ok=True)
            if self._fsync:
                # A blob renamed into a fan-out directory is only durable if the directory is.
                fsync_dir(self._blobs)
            self._fan_out_ready.add(name)

    # -- writing ------------------------------------------------------------------------------

    def write(
        self,
        data: BinaryIO | bytes | Iterable[bytes],
        *,
        encrypt: bool = False,
        hashers: Iterable[Hasher] = (),
        max_size: int | None = None,
    ) -> BlobInfo:
        """See `BlobStore.write`. A plaintext that itself starts with the encryption magic is
        stored encrypted (and reported so), so the format of a file is never ambiguous."""
        blob_id = secrets.token_hex(16)
        tmp, final = self._tmp / blob_id, self._path(blob_id)
        # Private like the master key: objects' content is no business of other local users.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            size, md5_hex, encrypted = self._fill(fd, data, encrypt, list(hashers), max_size)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        try:
            self._fan_out(blob_id)
            commit(fd, tmp, final, durable=self._fsync, data_synced=True)
        except BaseException:
            # The blob may or may not have been renamed; either way no one will learn its id.
            for path in (tmp, final):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            raise
        return BlobInfo(blob_id, size, md5_hex, encrypted)

    def adopt(self, path: Path) -> BlobInfo:
        """See `BlobStore.adopt`: a file on this store's filesystem is renamed into place (its
        bytes are read once, for the MD5, and never copied). One that starts like a sealed
        blob, or lies on another filesystem, is copied by `write`."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if self._fsync:
                # The file goes to disk while it is hashed; the flush then waits for less.
                start_writeback(fd, 0, 0)
            md5 = hashlib.md5(usedforsecurity=False)
            size = 0
            while chunk := os.read(fd, CHUNK):
                if size == 0 and is_encrypted(chunk[: len(MAGIC)]):
                    break  # stored sealed, so a blob's format is never ambiguous
                md5.update(chunk)
                size += len(chunk)
            else:
                blob_id = secrets.token_hex(16)
                self._fan_out(blob_id)
                try:
                    commit(fd, path, self._path(blob_id), durable=self._fsync)
                    return BlobInfo(blob_id, size, md5.hexdigest())
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                finally:
                    fd = -1  # `commit` closed it
        finally:
            if fd >= 0:
                os.close(fd)
        return super().adopt(path)

    def _fill(
        self,
        fd: int,
        data: BinaryIO | bytes | Iterable[bytes],
        encrypt: bool,
        hashers: list[Hasher],
        max_size: int | None,
    ) -> tuple[int, str, bool]:
        md5 = hashlib.md5(usedforsecurity=False)
        hashing = Hashing([md5, *hashers])
        sink: _PlainSink | _SealedSink | None = None
        head = b""  # the first bytes, held back until we know whether they look like MAGIC
        size = 0
        try:
            for chunk in iter_chunks(data):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(f"blob exceeds the maximum size of {max_size} bytes")
                hashing.update(chunk)
                if sink is None:
                    head += chunk
                    if len(head) < len(MAGIC):
                        continue
                    sink = self._sink(fd, encrypt or is_encrypted(head))
                    chunk, head = head, b""
                sink.write(chunk)
            if sink is None:
                sink = self._sink(fd, encrypt)
                sink.write(head)
            sink.finish()
            if self._fsync:
                # Flushed here, not by the commit, so the flush overlaps the hashing helpers'
                # last batches (see `hashing`) instead of following them.
                os.fdatasync(fd)
        except BaseException:
            hashing.abort()
            raise
        hashing.finish()
        return size, md5.hexdigest(), isinstance(sink, _SealedSink)

    def _sink(self, fd: int, encrypt: bool) -> _PlainSink | _SealedSink:
        out = _FileOut(fd, writeback=self._fsync)
        return _SealedSink(out, self._key()) if encrypt else _PlainSink(out)

    def concat(self, blob_ids: list[str], *, encrypt: bool = False) -> BlobInfo:
        def pieces() -> Iterator[bytes]:
            for blob_id in blob_ids:
                yield from self.read(blob_id)

        return self.write(pieces(), encrypt=encrypt)

    # -- reading ------------------------------------------------------------------------------

    def read(self, blob_id: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """See `BlobStore.read`; chunks are at most 1 MiB. Raises FileNotFoundError for a
        missing blob now (not on first iteration), and `BlobIntegrityError` when an encrypted
        blob fails authentication."""
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid byte range {start}..{end}")
        fd = os.open(self._path(blob_id), os.O_RDONLY | os.O_CLOEXEC)
        try:
            opener = self._opener(fd)
            size = opener.size if opener is not None else os.fstat(fd).st_size
            end = size if end is None else min(end, size)
            start = min(start, end)
            chunks = opener.read(fd, start, end) if opener else _read_plain(fd, start, end)
        except BaseException:
            os.close(fd)
            raise
        return _BlobReader(fd, chunks)

    def size(self, blob_id: str) -> int:
        fd = os.open(self._path(blob_id), os.O_RDONLY | os.O_CLOEXEC)
        try:
            opener = self._opener(fd)
            return opener.size if opener is not None else os.fstat(fd).st_size
        finally:
            os.close(fd)

    def local_path(self, blob_id: str) -> Path | None:
        """The blob's file if it is stored in plaintext; None if encrypted."""
        path = self._path(blob_id)
        with open(path, "rb") as f:
            return None if is_encrypted(f.read(len(MAGIC))) else path

    def _opener(self, fd: int) -> ChunkOpener | None:
        head = os.pread(fd, HEADER_SIZE, 0)
        if not is_encrypted(head):
            return None
        return ChunkOpener(self._key(), head, os.fstat(fd).st_size)

    # -- housekeeping -------------------------------------------------------------------------

    def delete(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(blob_id))

    def blob_ids(self) -> Iterator[str]:
        """Every stored blob id (for collecting blobs that no record points to)."""
        for name in _FAN_OUT:
            with contextlib.suppress(FileNotFoundError), os.scandir(self._blobs / name) as it:
                for entry in it:
                    if _BLOB_ID.match(entry.name):
                        yield entry.name

    def _path(self, blob_id: str) -> Path:
        # Ids reach here from records; checking the shape also rules out path traversal.
        if not _BLOB_ID.match(blob_id):
            raise ValueError(f"not a blob id: {blob_id!r}")
        return self._blobs / blob_id[:2] / blob_id

    def _key(self) -> bytes:
        with self._key_lock:
            if self._master_key is None:
                self._master_key = load_or_create_master_key(self.root / "master.key")
            return self._master_key


def _read_plain(fd: int, start: int, end: int) -> Iterator[bytes]:
    while start < end:
        chunk = os.pread(fd, min(CHUNK, end - start), start)
        if not chunk:
            raise OSError(f"blob file ended early at byte {start} of {end}")
        start += len(chunk)
        yield chunk


class _FileOut:
    """Appends to the temp file, starting writeback as it goes when the commit will flush."""

    def __init__(self, fd: int, *, writeback: bool) -> None:
        self.fd = fd
        self._writeback = writeback
        self._offset = 0
        self._flushed_to = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self._offset += len(data)
        if self._writeback and self._offset - self._flushed_to >= WRITEBACK_STEP:
            start_writeback(self.fd, self._flushed_to, self._offset - self._flushed_to)
            self._flushed_to = self._offset


class _PlainSink:
    def __init__(self, out: _FileOut) -> None:
        self._out = out

    def write(self, data: bytes) -> None:
        self._out.write(data)

    def finish(self) -> None:
        pass


class _SealedSink:
    def __init__(self, out: _FileOut, master_key: bytes) -> None:
        self._out = out
        self._sealer = ChunkSealer(master_key)
        out.write(self._sealer.placeholder_header())

    def write(self, data: bytes) -> None:
        for piece in self._sealer.feed(data):
            self._out.write(piece)

    def finish(self) -> None:
        for piece in self._sealer.finish():
            self._out.write(piece)
        os.pwrite(self._out.fd, self._sealer.header(), 0)


class _BlobReader(Iterator[bytes]):
    """The chunks of one open blob file; closes the file when exhausted, closed or collected
    (a generator would leak the descriptor if dropped before its first `next`)."""

    def __init__(self, fd: int, chunks: Iterator[bytes]) -> None:
        self._fd = fd
        self._chunks = chunks

    def __next__(self) -> bytes:
        if self._fd < 0:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __del__(self) -> None:
        self.close()
