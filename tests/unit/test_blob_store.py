"""The filesystem blob store: round trips, ranges, limits, layout, concurrency, crash safety."""

from __future__ import annotations

import gc
import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tule.storage.base import BlobTooLarge
from tule.storage.filesystem import CHUNK, FilesystemBlobStore

MIB = 1 << 20


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FilesystemBlobStore]:
    # fsync only changes when `write` returns, not what it stores; the tests that are about
    # durability turn it on.
    opened = FilesystemBlobStore(tmp_path / "blobs-root", fsync=False)
    yield opened
    opened.close()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def read_all(
    store: FilesystemBlobStore, blob_id: str, start: int = 0, end: int | None = None
) -> bytes:
    return b"".join(store.read(blob_id, start, end))


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


KINDS = ["bytes", "file", "iterable"]
SIZES = [0, 1, 15, 16, 17, MIB, MIB + 1, 2 * MIB + 3]
# fsync does not depend on the size; two sizes cover it.
ROUND_TRIPS = [(size, kind, False) for size in SIZES for kind in KINDS] + [
    (size, kind, True) for size in [0, MIB + 1] for kind in KINDS
]


@pytest.mark.parametrize(("size", "kind", "fsync"), ROUND_TRIPS)
def test_round_trip(tmp_path: Path, size: int, kind: str, fsync: bool) -> None:
    store = FilesystemBlobStore(tmp_path / "root", fsync=fsync)
    data = payload(size, seed=size)
    if kind == "bytes":
        source: object = data
    elif kind == "file":
        source = io.BytesIO(data)
    else:
        # Uneven chunks, including empty ones, must not matter.
        source = iter([data[:7], b"", data[7 : MIB + 3], data[MIB + 3 :]])
    info = store.write(source)  # type: ignore[arg-type]
    assert info.size == size
    assert info.md5_hex == hashlib.md5(data).hexdigest()
    assert not info.encrypted
    assert read_all(store, info.blob_id) == data
    assert store.size(info.blob_id) == size
    assert list(store.blob_ids()) == [info.blob_id]


def test_blob_ids_are_distinct_32_hex(store: FilesystemBlobStore) -> None:
    ids = [store.write(b"x").blob_id for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert sorted(store.blob_ids()) == sorted(ids)
    path = store.local_path(ids[0])
    assert path == store.root / "blobs" / ids[0][:2] / ids[0]


def test_hashers_see_the_plaintext(store: FilesystemBlobStore) -> None:
    data = payload(3 * MIB + 5)
    sha, seen = hashlib.sha256(), bytearray()

    class Recorder:
        def update(self, chunk: bytes) -> None:
            seen.extend(chunk)

    store.write(io.BytesIO(data), hashers=[sha, Recorder()])
    assert sha.digest() == hashlib.sha256(data).digest()
    assert bytes(seen) == data


SIZE = 3 * MIB + 17
RANGES = [
    (0, None), (0, 1), (0, MIB - 1), (0, MIB), (0, MIB + 1), (MIB - 1, MIB), (MIB - 1, MIB + 1),
    (MIB, MIB + 1), (MIB, 2 * MIB), (MIB + 1, 3 * MIB - 1), (2 * MIB - 1, 3 * MIB + 1),
    (3 * MIB, SIZE), (SIZE - 1, SIZE), (SIZE - 1, None), (5, 5), (MIB, MIB), (SIZE, SIZE),
    (SIZE, None), (SIZE + 10, None), (SIZE - 3, SIZE + 100),
]  # fmt: skip


@pytest.fixture(scope="module")
def big_blob(tmp_path_factory: pytest.TempPathFactory) -> tuple[FilesystemBlobStore, str, bytes]:
    store = FilesystemBlobStore(tmp_path_factory.mktemp("ranges"), fsync=False)
    data = payload(SIZE)
    return store, store.write(data).blob_id, data


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_range_reads(
    big_blob: tuple[FilesystemBlobStore, str, bytes], start: int, end: int | None
) -> None:
    store, blob_id, data = big_blob
    chunks = list(store.read(blob_id, start, end))
    assert b"".join(chunks) == data[start:end]
    assert all(0 < len(chunk) <= CHUNK for chunk in chunks)


def test_invalid_ranges_and_ids(store: FilesystemBlobStore) -> None:
    info = store.write(b"abc")
    with pytest.raises(ValueError):
        store.read(info.blob_id, -1)
    with pytest.raises(ValueError):
        store.read(info.blob_id, 2, 1)
    for bad in ["../../etc/passwd", info.blob_id.upper(), info.blob_id[:-1], ""]:
        with pytest.raises(ValueError):
            store.read(bad)


def test_missing_blob_raises_on_read_not_on_iteration(store: FilesystemBlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.read("0" * 32)
    with pytest.raises(FileNotFoundError):
        store.size("0" * 32)
    with pytest.raises(FileNotFoundError):
        store.local_path("0" * 32)


@pytest.mark.parametrize("kind", ["bytes", "file", "iterable"])
def test_max_size_leaves_nothing_behind(store: FilesystemBlobStore, kind: str) -> None:
    data = payload(2 * MIB + 1)
    assert store.write(data[: 2 * MIB], max_size=2 * MIB).size == 2 * MIB  # exactly at the limit
    before = files_under(store.root / "blobs")
    source = {"bytes": data, "file": io.BytesIO(data), "iterable": iter([data])}[kind]
    with pytest.raises(BlobTooLarge):
        store.write(source, max_size=2 * MIB)  # type: ignore[arg-type]
    assert files_under(store.root / "tmp") == []
    assert files_under(store.root / "blobs") == before


def test_failing_source_leaves_nothing_behind(store: FilesystemBlobStore) -> None:
    def broken() -> Iterator[bytes]:
        yield payload(MIB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.write(broken())
    assert files_under(store.root / "tmp") == []
    assert files_under(store.root / "blobs") == []


@pytest.mark.parametrize("size", [10, 6 * MIB])  # hashed in line / on helper threads
def test_with_fsync_the_data_is_flushed_once_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    store = FilesystemBlobStore(tmp_path / "root", fsync=True)
    events: list[tuple[str, str]] = []
    real_sync, real_replace = os.fdatasync, os.replace

    def fdatasync(fd: int) -> None:
        events.append(("fdatasync", os.readlink(f"/proc/self/fd/{fd}")))
        real_sync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "replace", replace)
    data = payload(size)
    crc = hashlib.sha256()
    info = store.write(data, hashers=[crc])
    tmp = str(store.root / "tmp" / info.blob_id)
    assert events == [("fdatasync", tmp), ("replace", tmp)]
    assert info.md5_hex == hashlib.md5(data).hexdigest()
    assert crc.hexdigest() == hashlib.sha256(data).hexdigest()
    assert read_all(store, info.blob_id) == data


def test_a_failed_flush_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemBlobStore(tmp_path / "root", fsync=True)

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(OSError, match="Input/output error"):
        store.write(payload(6 * MIB), hashers=[hashlib.sha256()])
    assert files_under(store.root / "tmp") == []
    assert files_under(store.root / "blobs") == []
    assert not [t for t in threading.enumerate() if t.name == "blob-hashing"]


def test_an_adopted_file_is_moved_into_place_after_its_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemBlobStore(tmp_path / "root", fsync=True)
    data = payload(3 * MIB + 5)
    source = tmp_path / "result.csv"
    source.write_bytes(data)
    inode = source.stat().st_ino
    events: list[str] = []
    real_sync, real_replace = os.fdatasync, os.replace
    monkeypatch.setattr(os, "fdatasync", lambda fd: (events.append("fdatasync"), real_sync(fd)))
    monkeypatch.setattr(
        os, "replace", lambda src, dst: (events.append("replace"), real_replace(src, dst))
    )
    info = store.adopt(source)
    assert events == ["fdatasync", "replace"]
    assert not source.exists()
    assert (info.size, info.md5_hex, info.encrypted) == (
        len(data),
        hashlib.md5(data).hexdigest(),
        False,
    )
    assert store.local_path(info.blob_id).stat().st_ino == inode  # moved, not copied
    assert read_all(store, info.blob_id) == data


def test_an_adopted_file_that_looks_sealed_or_lies_elsewhere_is_copied(
    store: FilesystemBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tule.storage import filesystem
    from tule.storage.encryption import MAGIC

    looks_sealed = tmp_path / "magic"
    looks_sealed.write_bytes(MAGIC + b"plain text after all")
    info = store.adopt(looks_sealed)
    assert info.encrypted and not looks_sealed.exists()
    assert read_all(store, info.blob_id) == MAGIC + b"plain text after all"

    def cross_device(*args: object, **kwargs: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"x" * 100)
    # The move fails as across filesystems; the copy's own commit then runs for real.
    monkeypatch.setattr(filesystem, "commit", _fails_once(filesystem.commit, cross_device))
    info = store.adopt(elsewhere)
    assert not elsewhere.exists()
    assert read_all(store, info.blob_id) == b"x" * 100
    assert files_under(store.root / "tmp") == []


def _fails_once(real: object, failure: object) -> object:
    calls = iter([failure])

    def commit(*args: object, **kwargs: object) -> object:
        return next(calls, real)(*args, **kwargs)  # type: ignore[operator]

    return commit


def test_concat(store: FilesystemBlobStore) -> None:
    parts = [payload(MIB + 3, 1), b"", payload(10, 2), payload(2 * MIB, 3)]
    ids = [store.write(part).blob_id for part in parts]
    info = store.concat(ids)
    whole = b"".join(parts)
    assert info.size == len(whole)
    assert info.md5_hex == hashlib.md5(whole).hexdigest()
    assert read_all(store, info.blob_id) == whole
    assert read_all(store, ids[0]) == parts[0]  # the parts are left alone
    assert store.concat([]).size == 0


def test_delete(store: FilesystemBlobStore) -> None:
    keep, gone = store.write(b"keep"), store.write(b"gone")
    store.delete(gone.blob_id)
    store.delete(gone.blob_id)  # deleting twice is fine
    with pytest.raises(FileNotFoundError):
        store.read(gone.blob_id)
    assert list(store.blob_ids()) == [keep.blob_id]
    assert read_all(store, keep.blob_id) == b"keep"


def test_local_path_is_the_plaintext_file(store: FilesystemBlobStore) -> None:
    data = payload(MIB + 9)
    info = store.write(data)
    path = store.local_path(info.blob_id)
    assert path is not None and path.read_bytes() == data


def test_reopening_clears_tmp_and_keeps_blobs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = FilesystemBlobStore(root)
    info = first.write(b"survivor")
    first.close()
    (root / "tmp" / ("a" * 32)).write_bytes(b"half a blob")
    (root / "tmp" / "stray-dir").mkdir()
    (root / "tmp" / "stray-dir" / "f").write_bytes(b"x")
    second = FilesystemBlobStore(root)
    assert list((root / "tmp").iterdir()) == []
    assert read_all(second, info.blob_id) == b"survivor"
    assert list(second.blob_ids()) == [info.blob_id]


def test_dropped_readers_close_their_files(store: FilesystemBlobStore) -> None:
    info = store.write(payload(3 * MIB))
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(100):
        store.read(info.blob_id)  # never iterated
        partial = store.read(info.blob_id)
        next(partial)
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= fds + 2


def test_sixteen_concurrent_writers_with_fsync(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "root", fsync=True)
    written: dict[str, bytes] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(6):
                data = payload(random.Random(n * 100 + i).choice([0, 100, 4096, MIB + 1]), n + i)
                info = store.write(data, encrypt=i % 3 == 2)
                assert info.md5_hex == hashlib.md5(data).hexdigest()
                written[info.blob_id] = data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(written) == 96
    assert sorted(store.blob_ids()) == sorted(written)
    for blob_id, data in written.items():
        assert read_all(store, blob_id) == data
    assert files_under(store.root / "tmp") == []


# The child writes self-describing blobs (8-byte seed, then bytes derived from it) from a slow
# source, so it is almost always mid-write when killed, and logs each one once `write` returns.
CHILD = textwrap.dedent(
    """
    import os, random, sys, time
    from pathlib import Path
    from tule.storage.filesystem import FilesystemBlobStore

    def content(seed):
        rng = random.Random(seed)
        return seed.to_bytes(8, "big") + rng.randbytes(rng.randrange(0, 3 << 20))

    def slowly(data):
        for offset in range(0, len(data), 256 << 10):
            time.sleep(0.004)
            yield data[offset : offset + (256 << 10)]

    store = FilesystemBlobStore(Path(sys.argv[1]), fsync=True)
    log = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for seed in range(1, 10**6):
        info = store.write(slowly(content(seed)), encrypt=seed % 2 == 0)
        os.write(log, f"{info.blob_id} {info.md5_hex} {seed}\\n".encode())
    """
)


def expected_content(seed: int) -> bytes:
    rng = random.Random(seed)
    return seed.to_bytes(8, "big") + rng.randbytes(rng.randrange(0, 3 << 20))


def partial_blobs(tmp_dir: Path) -> list[Path]:
    return [p for p in tmp_dir.glob("*") if p.stat().st_size > 0] if tmp_dir.is_dir() else []


def test_sigkill_mid_write_leaves_only_complete_blobs(tmp_path: Path) -> None:
    root, log = tmp_path / "root", tmp_path / "committed.log"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(log)])
    try:
        deadline = time.monotonic() + 15
        # Freeze the writer, and kill it only if it is frozen mid-blob with a few committed.
        while True:
            assert time.monotonic() < deadline, "the writer made no progress"
            assert child.poll() is None, "the writer died on its own"
            time.sleep(0.01)
            child.send_signal(signal.SIGSTOP)
            os.waitpid(child.pid, os.WUNTRACED)
            lines = log.read_text().count("\n") if log.exists() else 0
            if lines >= 4 and partial_blobs(root / "tmp"):
                break
            child.send_signal(signal.SIGCONT)
    finally:
        child.kill()
        child.wait()
    assert partial_blobs(root / "tmp")

    committed = {}
    for line in log.read_text().splitlines():
        blob_id, md5_hex, seed = line.split()
        committed[blob_id] = (md5_hex, int(seed))
    store = FilesystemBlobStore(root)
    assert list((root / "tmp").iterdir()) == []
    on_disk = set(store.blob_ids())
    assert set(committed) <= on_disk
    # Blobs renamed but not yet acknowledged may exist too; they must be complete as well.
    assert len(on_disk - set(committed)) <= 1
    for blob_id in on_disk:
        data = read_all(store, blob_id)
        assert data == expected_content(int.from_bytes(data[:8], "big"))
        if blob_id in committed:
            md5_hex, seed = committed[blob_id]
            assert hashlib.md5(data).hexdigest() == md5_hex
            assert int.from_bytes(data[:8], "big") == seed
