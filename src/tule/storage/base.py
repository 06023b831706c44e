"""The blob-store plug point: immutable blobs written atomically, read by range.

A blob is written once (to a temporary file, flushed, renamed into place) and never changed;
S3 versions, multipart parts and completed uploads are all blobs. Records that point at blobs
live in the metadata store and are committed only after the blob is durable, so a crash at any
instant leaves either the old object or the new one, never a torn one.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

# Reads and writes move bytes in pieces of this size (1 MiB).
CHUNK = 1 << 20


class Hasher(Protocol):
    """Anything with hashlib's `update`, fed every plaintext byte as it is written."""

    def update(self, data: bytes, /) -> Any: ...


@dataclass(frozen=True)
class BlobInfo:
    """A written blob: its id, plaintext size and MD5 (hex), and whether it is encrypted."""

    blob_id: str
    size: int
    md5_hex: str
    encrypted: bool = False


class BlobStore(ABC):
    """Immutable blobs on durable storage."""

    @abstractmethod
    def write(
        self,
        data: BinaryIO | bytes | Iterable[bytes],
        *,
        encrypt: bool = False,
        hashers: Iterable[Hasher] = (),
        max_size: int | None = None,
    ) -> BlobInfo:
        """Store the bytes as a new blob and return once it is durable (group-committed).

        `hashers` see the plaintext as it streams by (for checksum headers). Raises
        `BlobTooLarge` past `max_size` bytes, leaving nothing behind."""

    def adopt(self, path: Path) -> BlobInfo:
        """Take the finished file at `path` over as a new plaintext blob, durable on return;
        the file is gone afterwards. A store may move it into place instead of copying it."""
        with open(path, "rb") as data:
            info = self.write(data)
        os.unlink(path)
        return info

    @abstractmethod
    def read(self, blob_id: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The plaintext bytes `start` .. `end` (exclusive; None = to the end), in chunks."""

    @abstractmethod
    def size(self, blob_id: str) -> int:
        """Plaintext size of a blob."""

    @abstractmethod
    def concat(self, blob_ids: list[str], *, encrypt: bool = False) -> BlobInfo:
        """A new blob made of the given blobs in order (completing a multipart upload)."""

    @abstractmethod
    def delete(self, blob_id: str) -> None:
        """Remove a blob; removing a missing one is not an error."""

    @abstractmethod
    def local_path(self, blob_id: str) -> Path | None:
        """The plaintext file of an unencrypted blob, for engines that read files directly."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release resources (flush threads)."""


class BlobTooLarge(Exception):
    """The data exceeded `max_size`."""


def iter_chunks(data: BinaryIO | bytes | Iterable[bytes]) -> Iterator[bytes]:
    """The input as non-empty byte chunks, reading file-likes `CHUNK` bytes at a time."""
    if isinstance(data, bytes) and len(data) <= CHUNK:
        if data:
            yield data  # the common small body: no copy
        return
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for offset in range(0, len(view), CHUNK):
            yield bytes(view[offset : offset + CHUNK])
        return
    if hasattr(data, "read"):
        while chunk := data.read(CHUNK):
            yield chunk
        return
    for chunk in data:
        if chunk:
            yield chunk
