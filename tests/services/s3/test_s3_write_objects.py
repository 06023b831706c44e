"""`S3.write_objects`: several objects made current together, in one metadata commit."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tule.testing import TuleServer

LARGE = bytes(range(256)) * 200  # 51,200 bytes: a blob file
SMALL = b'{"ColumnInfo": []}'  # kept inline in the metadata


@pytest.fixture
def own(tmp_path: Path) -> Iterator[TuleServer]:
    with TuleServer(tmp_path / "own") as server:
        server.client("s3").create_bucket(Bucket="results")
        yield server


def counted_writes(domain: Any) -> list[int]:
    calls: list[int] = []
    write = domain.state.write

    def counting(ops: Any) -> Any:
        calls.append(len(ops))
        return write(ops)

    domain.state.write = counting
    return calls


def blob_files(server: TuleServer) -> list[Path]:
    return [p for p in (server.settings.data_dir / "s3" / "blobs").rglob("*") if p.is_file()]


def settles_to(server: TuleServer, expected: list[Path]) -> bool:
    """Whether the blob files become `expected` (a dropped blob is deleted in the background)."""
    deadline = time.monotonic() + 10
    while sorted(blob_files(server)) != sorted(expected):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_objects_written_together_take_one_commit(own: TuleServer) -> None:
    domain = own.app.domains["s3"]
    calls = counted_writes(domain)
    etags = domain.write_objects(
        "results", [("q.csv", LARGE, "text/csv"), ("q.csv.metadata", SMALL, "binary/x")]
    )
    assert len(calls) == 1
    s3 = own.client("s3")
    got = s3.get_object(Bucket="results", Key="q.csv")
    assert got["Body"].read() == LARGE and got["ContentType"] == "text/csv"
    assert s3.get_object(Bucket="results", Key="q.csv.metadata")["Body"].read() == SMALL
    assert etags == [f'"{hashlib.md5(b).hexdigest()}"' for b in (LARGE, SMALL)]


def test_rewritten_keys_drop_their_old_bodies_or_keep_them_as_versions(own: TuleServer) -> None:
    domain = own.app.domains["s3"]
    s3 = own.client("s3")
    domain.write_objects("results", [("a", LARGE, "text/csv"), ("b", SMALL, "text/csv")])
    old = blob_files(own)
    domain.write_objects("results", [("a", LARGE[::-1], "text/csv"), ("b", b"new", "text/csv")])
    new = [p for p in blob_files(own) if p not in old]
    assert len(old) == len(new) == 1
    assert settles_to(own, new)  # the old blob of `a` went
    assert s3.get_object(Bucket="results", Key="b")["Body"].read() == b"new"
    s3.put_bucket_versioning(Bucket="results", VersioningConfiguration={"Status": "Enabled"})
    domain.write_objects("results", [("a", LARGE, "text/csv"), ("b", b"newer", "text/csv")])
    versions = s3.list_object_versions(Bucket="results")["Versions"]
    assert sorted((v["Key"], v["IsLatest"]) for v in versions) == [
        ("a", False),
        ("a", True),
        ("b", False),
        ("b", True),
    ]


def test_a_failed_commit_shows_neither_object_and_keeps_no_body(own: TuleServer) -> None:
    domain = own.app.domains["s3"]
    before = blob_files(own)

    def failing(ops: Any) -> None:
        raise OSError(5, "I/O error")

    domain.state.write = failing
    with pytest.raises(OSError):
        domain.write_objects("results", [("x", LARGE, "text/csv"), ("y", SMALL, "text/csv")])
    assert own.client("s3").list_objects_v2(Bucket="results")["KeyCount"] == 0
    assert settles_to(own, before)
    assert domain.state.bodies._pending == {}


def test_keys_that_share_a_lock_stripe_do_not_deadlock(
    own: TuleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = own.app.domains["s3"]
    one = threading.Lock()
    monkeypatch.setattr(domain.state, "lock_key", lambda bucket, key: one)
    done = threading.Event()

    def write() -> None:
        domain.write_objects("results", [("p", SMALL, "text/csv"), ("q", SMALL, "text/csv")])
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(10)


def test_one_key_twice_is_refused_and_keeps_no_body(own: TuleServer) -> None:
    domain = own.app.domains["s3"]
    before = blob_files(own)
    with pytest.raises(ValueError):
        domain.write_objects("results", [("k", LARGE, "text/csv"), ("k", SMALL, "text/csv")])
    assert settles_to(own, before)
    assert domain.state.bodies._pending == {}


def test_a_file_body_is_taken_over(own: TuleServer, tmp_path: Path) -> None:
    domain = own.app.domains["s3"]
    large, small = tmp_path / "large.csv", tmp_path / "small.csv"
    large.write_bytes(LARGE * 2)  # past the 64 KiB kept inline
    small.write_bytes(SMALL)
    inode = large.stat().st_ino
    before = blob_files(own)
    domain.write_objects("results", [("l", large, "text/csv"), ("s", small, "text/csv")])
    assert not large.exists() and not small.exists()
    added = [p for p in blob_files(own) if p not in before]
    assert [p.stat().st_ino for p in added] == [inode]  # moved into place; the small one inline
    s3 = own.client("s3")
    assert s3.get_object(Bucket="results", Key="l")["Body"].read() == LARGE * 2
    assert s3.get_object(Bucket="results", Key="s")["Body"].read() == SMALL


def test_a_file_body_up_to_64_kib_is_kept_inline(own: TuleServer, tmp_path: Path) -> None:
    # Two flushes fewer (the file and its directory) for an in-process writer's small file.
    domain = own.app.domains["s3"]
    medium, large = tmp_path / "medium.csv", tmp_path / "large.csv"
    medium.write_bytes(b"m" * (64 << 10))
    large.write_bytes(b"l" * ((64 << 10) + 1))
    before = blob_files(own)
    domain.write_objects("results", [("m", medium, "text/csv")])
    assert blob_files(own) == before
    domain.write_objects("results", [("l", large, "text/csv")])
    assert len(blob_files(own)) == len(before) + 1
    s3 = own.client("s3")
    assert s3.get_object(Bucket="results", Key="m")["Body"].read() == b"m" * (64 << 10)
    assert s3.get_object(Bucket="results", Key="l")["Body"].read() == b"l" * ((64 << 10) + 1)
