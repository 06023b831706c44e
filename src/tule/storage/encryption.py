"""Encryption at rest: a blob file as independently sealed AES-256-GCM chunks.

File layout (big-endian):

    header   magic(16) version(1) reserved(3) chunk_size(4) plaintext_size(8)
             key_nonce(12) wrapped_key(48)
    chunk i  nonce(12) ciphertext(len) tag(16)        for i in 0 .. ceil(size / chunk_size) - 1

Each blob has its own random data key, sealed by the store's master key with the header's
fixed fields as associated data, so a changed size, chunk size or version fails to unwrap.
Chunk `i` is sealed with `i` as associated data, so chunks cannot be swapped or reordered, and
the authenticated size fixes the chunk count, so a truncated file fails too. A range read opens
only the chunks it covers.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Binary-looking (high bit, CR LF, ^Z) so that text tools and transfers that mangle line ends
# show it; long enough that a plaintext blob starting with it by chance is not a concern (the
# store encrypts any blob that does start with it, so the magic is never ambiguous).
MAGIC = b"\x89tule.aesgcm\r\n\x1a\n"
VERSION = 1
CHUNK_SIZE = 1 << 20
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32
CHUNK_OVERHEAD = NONCE_SIZE + TAG_SIZE

_FIXED = struct.Struct(">16sB3xIQ")
_HEADER = struct.Struct(f">{_FIXED.size}s{NONCE_SIZE}s{KEY_SIZE + TAG_SIZE}s")
HEADER_SIZE = _HEADER.size
_INDEX = struct.Struct(">Q")


class BlobIntegrityError(Exception):
    """An encrypted blob failed authentication: tampered, truncated or a different master key."""


def load_or_create_master_key(path: Path) -> bytes:
    """The 32-byte master key at `path`, created (mode 0600, atomically) if missing."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(KEY_SIZE)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() rather than rename(): if another process created the key meanwhile, keep
            # theirs, since blobs may already be sealed with it.
            os.link(tmp, path)
        except FileExistsError:
            key = path.read_bytes()
        finally:
            os.unlink(tmp)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    if len(key) != KEY_SIZE:
        raise ValueError(f"master key {path} must be {KEY_SIZE} bytes, found {len(key)}")
    return key


def is_encrypted(head: bytes) -> bool:
    """Whether a blob file starting with `head` is in this format."""
    return head.startswith(MAGIC)


class ChunkSealer:
    """Turns a plaintext stream into the encrypted file layout, a chunk at a time.

    The caller writes `placeholder_header()` first, then every piece from `feed`/`finish`,
    then overwrites the first `HEADER_SIZE` bytes with `header()` (the size is known only then).
    """

    def __init__(self, master_key: bytes, chunk_size: int = CHUNK_SIZE) -> None:
        self._master = AESGCM(master_key)
        self._data_key = AESGCM.generate_key(bit_length=KEY_SIZE * 8)
        self._aead = AESGCM(self._data_key)
        self._chunk_size = chunk_size
        self._pending = bytearray()
        self._index = 0
        self._size = 0

    @staticmethod
    def placeholder_header() -> bytes:
        return bytes(HEADER_SIZE)

    def feed(self, data: bytes) -> list[bytes]:
        """Sealed record pieces (write them in order) for every full chunk now available."""
        self._size += len(data)
        view = memoryview(data)
        pieces: list[bytes] = []
        if self._pending:
            take = self._chunk_size - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < self._chunk_size:
                return pieces
            pieces += self._seal(self._pending)
            self._pending.clear()
        # Seal whole chunks straight from the caller's buffer: no copy for aligned input.
        while len(view) >= self._chunk_size:
            pieces += self._seal(view[: self._chunk_size])
            view = view[self._chunk_size :]
        self._pending += view
        return pieces

    def finish(self) -> list[bytes]:
        """The pieces of the last, partial chunk (if any)."""
        pieces = self._seal(self._pending) if self._pending else []
        self._pending.clear()
        return pieces

    def header(self) -> bytes:
        fixed = _FIXED.pack(MAGIC, VERSION, self._chunk_size, self._size)
        nonce = secrets.token_bytes(NONCE_SIZE)
        return _HEADER.pack(fixed, nonce, self._master.encrypt(nonce, self._data_key, fixed))

    def _seal(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        # Nonce and ciphertext+tag stay separate pieces: joining them would copy the chunk.
        nonce = secrets.token_bytes(NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, chunk, _INDEX.pack(self._index))
        self._index += 1
        return [nonce, sealed]


class ChunkOpener:
    """Reads plaintext ranges out of an encrypted blob file, authenticating every chunk."""

    def __init__(self, master_key: bytes, header: bytes, file_size: int) -> None:
        if len(header) < HEADER_SIZE:
            raise BlobIntegrityError("encrypted blob header is truncated")
        fixed, nonce, wrapped = _HEADER.unpack_from(header)
        magic, version, self.chunk_size, self.size = _FIXED.unpack(fixed)
        if magic != MAGIC or version != VERSION:
            raise BlobIntegrityError(f"unsupported encrypted blob format version {version}")
        try:
            data_key = AESGCM(master_key).decrypt(nonce, wrapped, fixed)
        except InvalidTag:
            raise BlobIntegrityError(
                "cannot unwrap the blob's data key: wrong master key or a tampered header"
            ) from None
        self._aead = AESGCM(data_key)
        # The header is authentic now, so the size it states is the truth; a file of any other
        # length has been truncated or extended.
        if self.chunk_size <= 0 or file_size != self.file_size():
            raise BlobIntegrityError("encrypted blob file has the wrong length")

    def file_size(self) -> int:
        """The exact length a file with this header must have."""
        chunks = -(-self.size // self.chunk_size)
        return HEADER_SIZE + self.size + chunks * CHUNK_OVERHEAD

    def read(self, fd: int, start: int, end: int) -> Iterator[bytes]:
        """Plaintext `start` .. `end` (already clamped to the size), one chunk at a time."""
        if start >= end:
            return
        step = self.chunk_size + CHUNK_OVERHEAD
        for index in range(start // self.chunk_size, -(-end // self.chunk_size)):
            first = index * self.chunk_size
            length = min(self.chunk_size, self.size - first)
            offset = HEADER_SIZE + index * step
            record = os.pread(fd, length + CHUNK_OVERHEAD, offset)
            if len(record) != length + CHUNK_OVERHEAD:
                raise BlobIntegrityError(f"encrypted blob chunk {index} is truncated")
            try:
                plain = self._aead.decrypt(
                    record[:NONCE_SIZE], record[NONCE_SIZE:], _INDEX.pack(index)
                )
            except InvalidTag:
                raise BlobIntegrityError(
                    f"encrypted blob chunk {index} failed authentication"
                ) from None
            lo, hi = max(start - first, 0), min(end - first, length)
            yield plain if (lo, hi) == (0, length) else plain[lo:hi]
