"""Encryption at rest: sealed chunks, range reads, tamper detection, the master key file."""

from __future__ import annotations

import hashlib
import io
import os
import random
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tule.storage.encryption import (
    CHUNK_OVERHEAD,
    HEADER_SIZE,
    MAGIC,
    NONCE_SIZE,
    BlobIntegrityError,
    ChunkOpener,
    ChunkSealer,
)
from tule.storage.filesystem import FilesystemBlobStore

MIB = 1 << 20
KEY = bytes(range(32))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FilesystemBlobStore]:
    opened = FilesystemBlobStore(tmp_path / "root", fsync=False, master_key=KEY)
    yield opened
    opened.close()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def read_all(
    store: FilesystemBlobStore, blob_id: str, start: int = 0, end: int | None = None
) -> bytes:
    return b"".join(store.read(blob_id, start, end))


def blob_file(store: FilesystemBlobStore, blob_id: str) -> Path:
    return store.root / "blobs" / blob_id[:2] / blob_id


@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 5])
def test_round_trip(store: FilesystemBlobStore, size: int) -> None:
    data = payload(size, size)
    info = store.write(io.BytesIO(data), encrypt=True)
    assert info.encrypted
    assert info.size == size
    assert info.md5_hex == hashlib.md5(data).hexdigest()
    assert read_all(store, info.blob_id) == data
    assert store.size(info.blob_id) == size
    assert store.local_path(info.blob_id) is None
    chunks = -(-size // MIB)
    assert blob_file(store, info.blob_id).stat().st_size == (
        HEADER_SIZE + size + chunks * CHUNK_OVERHEAD
    )


SIZE = 3 * MIB + 17
RANGES = [
    (0, 1), (MIB - 1, MIB), (MIB - 1, MIB + 1), (MIB, MIB + 1), (MIB, 2 * MIB),
    (MIB - 5, 3 * MIB + 5), (2 * MIB + 1, 3 * MIB), (3 * MIB, SIZE), (SIZE - 1, SIZE),
    (SIZE - 1, None), (7, 7), (2 * MIB, 2 * MIB), (SIZE, None), (SIZE + 3, SIZE + 9),
]  # fmt: skip


@pytest.fixture(scope="module")
def sealed_blob(tmp_path_factory: pytest.TempPathFactory) -> tuple[FilesystemBlobStore, str, bytes]:
    store = FilesystemBlobStore(tmp_path_factory.mktemp("sealed"), fsync=False, master_key=KEY)
    data = payload(SIZE, 7)
    return store, store.write(data, encrypt=True).blob_id, data


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_range_reads_across_chunks(
    sealed_blob: tuple[FilesystemBlobStore, str, bytes], start: int, end: int | None
) -> None:
    store, blob_id, data = sealed_blob
    chunks = list(store.read(blob_id, start, end))
    assert b"".join(chunks) == data[start:end]
    assert all(0 < len(chunk) <= MIB for chunk in chunks)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prop") / "blob"


@given(
    data=st.binary(max_size=300),
    chunk_size=st.integers(1, 64),
    bounds=st.tuples(st.integers(0, 320), st.integers(0, 320)),
)
@settings(max_examples=100, deadline=None)
def test_any_range_of_any_chunking(
    scratch: Path,
    data: bytes,
    chunk_size: int,
    bounds: tuple[int, int],
) -> None:
    sealer = ChunkSealer(KEY, chunk_size)
    cut = len(data) // 3
    pieces = sealer.feed(data[:cut]) + sealer.feed(b"") + sealer.feed(data[cut:]) + sealer.finish()
    body = b"".join(pieces)
    scratch.write_bytes(sealer.header() + body)
    start, end = min(bounds), max(bounds)
    fd = os.open(scratch, os.O_RDONLY)
    try:
        opener = ChunkOpener(KEY, os.pread(fd, HEADER_SIZE, 0), os.fstat(fd).st_size)
        assert opener.size == len(data)
        end = min(end, len(data))
        start = min(start, end)
        assert b"".join(opener.read(fd, start, end)) == data[start:end]
    finally:
        os.close(fd)


def test_plaintext_is_not_on_disk(store: FilesystemBlobStore) -> None:
    data = b"attack at dawn; the password is hunter2. " * 50_000
    info = store.write(data, encrypt=True)
    raw = blob_file(store, info.blob_id).read_bytes()
    assert raw.startswith(MAGIC)
    assert b"attack at dawn" not in raw
    assert b"hunter2" not in raw
    assert KEY not in raw  # the data key is wrapped, and the master key never stored here


def test_hashers_see_plaintext_when_encrypting(store: FilesystemBlobStore) -> None:
    data = payload(MIB + 100)
    sha = hashlib.sha256()
    store.write(data, encrypt=True, hashers=[sha])
    assert sha.digest() == hashlib.sha256(data).digest()


def chunk_offset(index: int) -> int:
    return HEADER_SIZE + index * (MIB + CHUNK_OVERHEAD)


# Offsets into the file of a 2.5 MiB blob, each one byte that must be authenticated.
TAMPER_AT = {
    "header size field": 16 + 1 + 3 + 4 + 7,
    "header chunk size": 16 + 1 + 3 + 3,
    "wrapped key": HEADER_SIZE - 1,
    "chunk 0 nonce": chunk_offset(0),
    "chunk 1 ciphertext": chunk_offset(1) + NONCE_SIZE + 1000,
    "chunk 2 tag (last byte)": -1,
}


@pytest.mark.parametrize("where", list(TAMPER_AT))
def test_tampering_with_any_byte_raises(store: FilesystemBlobStore, where: str) -> None:
    data = payload(5 * MIB // 2)
    info = store.write(data, encrypt=True)
    path = blob_file(store, info.blob_id)
    raw = bytearray(path.read_bytes())
    raw[TAMPER_AT[where]] ^= 0x01
    path.write_bytes(raw)
    with pytest.raises(BlobIntegrityError):
        read_all(store, info.blob_id)


def test_tampered_chunk_fails_only_reads_that_touch_it(store: FilesystemBlobStore) -> None:
    data = payload(3 * MIB)
    info = store.write(data, encrypt=True)
    path = blob_file(store, info.blob_id)
    with open(path, "r+b") as f:
        f.seek(chunk_offset(1) + NONCE_SIZE + 5)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x80]))
    assert read_all(store, info.blob_id, 0, MIB) == data[:MIB]
    assert read_all(store, info.blob_id, 2 * MIB) == data[2 * MIB :]
    with pytest.raises(BlobIntegrityError):
        read_all(store, info.blob_id, MIB - 1, MIB + 1)


def test_swapped_chunks_raise(store: FilesystemBlobStore) -> None:
    info = store.write(payload(3 * MIB), encrypt=True)
    path = blob_file(store, info.blob_id)
    raw = path.read_bytes()
    first, second = (raw[chunk_offset(i) : chunk_offset(i + 1)] for i in (0, 1))
    path.write_bytes(raw[: chunk_offset(0)] + second + first + raw[chunk_offset(2) :])
    with pytest.raises(BlobIntegrityError):
        read_all(store, info.blob_id, 0, 10)


@pytest.mark.parametrize("change", ["truncate", "extend", "drop last chunk"])
def test_truncated_or_extended_file_raises(store: FilesystemBlobStore, change: str) -> None:
    info = store.write(payload(2 * MIB + 10), encrypt=True)
    path = blob_file(store, info.blob_id)
    raw = path.read_bytes()
    changed = {
        "truncate": raw[:-1],
        "extend": raw + b"\0",
        "drop last chunk": raw[: chunk_offset(2)],
    }[change]
    path.write_bytes(changed)
    with pytest.raises(BlobIntegrityError):
        store.read(info.blob_id)
    with pytest.raises(BlobIntegrityError):
        store.size(info.blob_id)


def test_wrong_master_key_raises(tmp_path: Path) -> None:
    root = tmp_path / "root"
    info = FilesystemBlobStore(root, master_key=KEY).write(b"secret", encrypt=True)
    other = FilesystemBlobStore(root, master_key=bytes(32))
    with pytest.raises(BlobIntegrityError):
        read_all(other, info.blob_id)
    with pytest.raises(BlobIntegrityError):
        other.size(info.blob_id)


def test_master_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = FilesystemBlobStore(root)
    plain = first.write(b"no key needed")
    key_file = root / "master.key"
    assert not key_file.exists()  # created only when encryption is first used
    info = first.write(b"sealed", encrypt=True)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    assert len(key) == 32
    first.close()

    second = FilesystemBlobStore(root)
    assert read_all(second, info.blob_id) == b"sealed"
    assert read_all(second, plain.blob_id) == b"no key needed"
    second.write(b"more", encrypt=True)
    assert key_file.read_bytes() == key
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def test_master_key_must_be_32_bytes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FilesystemBlobStore(tmp_path / "a", master_key=b"short")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "master.key").write_bytes(b"x" * 31)
    with pytest.raises(ValueError):
        FilesystemBlobStore(tmp_path / "b").write(b"data", encrypt=True)


def test_plaintext_starting_with_the_magic_is_stored_sealed(store: FilesystemBlobStore) -> None:
    data = MAGIC + payload(100)
    info = store.write(iter([data[:3], data[3:9], data[9:]]))
    assert info.encrypted
    assert store.local_path(info.blob_id) is None
    assert read_all(store, info.blob_id) == data
    short = store.write(MAGIC[:-1])  # a prefix of the magic is harmless
    assert not short.encrypted
    assert read_all(store, short.blob_id) == MAGIC[:-1]


def test_concat_mixes_plain_and_sealed(store: FilesystemBlobStore) -> None:
    parts = [payload(MIB + 1, 1), payload(5, 2), payload(MIB, 3)]
    ids = [store.write(p, encrypt=i != 1).blob_id for i, p in enumerate(parts)]
    sealed = store.concat(ids, encrypt=True)
    plain = store.concat(ids)
    whole = b"".join(parts)
    assert sealed.encrypted and not plain.encrypted
    assert read_all(store, sealed.blob_id) == whole == read_all(store, plain.blob_id)
    assert sealed.md5_hex == plain.md5_hex == hashlib.md5(whole).hexdigest()


def test_header_layout_is_what_the_format_says(store: FilesystemBlobStore) -> None:
    info = store.write(payload(10), encrypt=True)
    head = blob_file(store, info.blob_id).read_bytes()[:HEADER_SIZE]
    magic, version, chunk_size, size = struct.unpack_from(">16sB3xIQ", head)
    assert (magic, version, chunk_size, size) == (MAGIC, 1, MIB, 10)
