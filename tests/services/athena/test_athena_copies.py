"""Copies of small (inline) S3 objects are shared by queries and never go stale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from athena_helpers import LAKE, create_parquet_table, parquet_bytes, query

from tule.services.athena.copies import ObjectCopies
from tule.services.s3 import ObjectBody


class FakeS3:
    """Bodies by key; every write is a new stored body with an identity of its own."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[str, bytes]] = {}
        self.writes = 0
        self.reads = 0

    def put(self, key: str, data: bytes) -> None:
        self.writes += 1
        self.bodies[key] = (f"i{self.writes:032x}", data)

    def object_body(self, bucket: str, key: str) -> ObjectBody:
        identity, data = self.bodies[key]

        def chunks() -> Iterator[bytes]:
            # As S3's: the bytes are read when iterated, and a body replaced meanwhile is gone.
            self.reads += 1
            if self.bodies[key][0] != identity:
                raise FileNotFoundError(identity)
            yield data

        return ObjectBody(identity, chunks())


class RacingS3(FakeS3):
    """Overwrites the key once, between naming its body and reading it."""

    def object_body(self, bucket: str, key: str) -> ObjectBody:
        body = super().object_body(bucket, key)
        if self.writes == 1:
            self.put(key, b"newer")
        return body


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_body_is_copied_once_and_a_rewrite_gets_a_new_copy(tmp_path: Path) -> None:
    s3 = FakeS3()
    copies = ObjectCopies(tmp_path / "copies")
    s3.put("k", b"first")
    first = copies.path(s3, "b", "k")
    again = copies.path(s3, "b", "k")
    assert first == again
    assert s3.reads == 1  # the second query neither reads nor copies the body
    assert first.read_bytes() == b"first"
    stat = first.stat()
    assert (again.stat().st_mtime_ns, again.stat().st_ino) == (stat.st_mtime_ns, stat.st_ino)
    s3.put("k", b"second")
    rewritten = copies.path(s3, "b", "k")
    assert rewritten != first
    assert rewritten.read_bytes() == b"second"


def test_a_body_replaced_while_being_copied_is_looked_up_again(tmp_path: Path) -> None:
    s3 = RacingS3()
    copies = ObjectCopies(tmp_path / "copies")
    s3.put("k", b"older")
    path = copies.path(s3, "b", "k")
    assert path.read_bytes() == b"newer"
    assert [p.name for p in (tmp_path / "copies").iterdir()] == [path.name]  # no partial left


def test_the_folder_is_emptied_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "copies"
    folder.mkdir()
    (folder / "left-over").write_bytes(b"x")
    ObjectCopies(folder)
    assert list(folder.iterdir()) == []


def _capped(tmp_path: Path) -> tuple[FakeS3, Clock, ObjectCopies, Path, Path]:
    """Three 5-byte bodies under a 10-byte cap with a 100 s grace: `a` copied at 0 s, `b` at
    50 s, and the clock at 120 s."""
    s3, clock = FakeS3(), Clock()
    copies = ObjectCopies(tmp_path / "copies", max_bytes=10, grace_s=100.0, now=clock)
    for key in ("a", "b", "c"):
        s3.put(key, b"12345")
    a = copies.path(s3, "b", "a")
    clock.t = 50.0
    b = copies.path(s3, "b", "b")
    clock.t = 120.0
    return s3, clock, copies, a, b


def test_beyond_the_cap_old_copies_go_but_never_recently_used_ones(tmp_path: Path) -> None:
    s3, clock, copies, a, b = _capped(tmp_path)
    # 15 bytes > 10: `a` (used 120 s ago) goes; `b` (70 s ago) stays though still over the cap.
    c = copies.path(s3, "b", "c")
    assert not a.exists()
    assert b.exists() and c.exists()
    clock.t = 200.0
    copies.path(s3, "b", "a")  # copied again, and now `b` is old enough to go
    assert not b.exists()
    assert copies.path(s3, "b", "a").read_bytes() == b"12345"


def test_keep_answers_whether_copies_remain_and_marks_them_used(tmp_path: Path) -> None:
    s3, clock, copies, a, b = _capped(tmp_path)
    assert copies.keep([a.name])  # `a` is now the most recently used: `b` goes first
    clock.t = 200.0
    copies.path(s3, "b", "c")
    assert a.exists() and not b.exists()
    assert copies.keep([a.name]) and not copies.keep([a.name, b.name])
    assert copies.keep([])


def test_a_small_table_rewritten_between_queries_answers_with_the_new_rows(
    athena: Any, glue: Any, s3: Any
) -> None:
    create_parquet_table(glue, "tiny_copies", f"s3://{LAKE}/tiny_copies/", [("n", "int")])
    key = "tiny_copies/part-0.parquet"
    s3.put_object(
        Bucket=LAKE, Key=key, Body=parquet_bytes(pa.table({"n": pa.array([1, 2], pa.int32())}))
    )
    assert query(athena, "SELECT sum(n) FROM tiny_copies") == [["_col0"], ["3"]]
    assert query(athena, "SELECT count(*) FROM tiny_copies") == [["_col0"], ["2"]]
    s3.put_object(
        Bucket=LAKE,
        Key=key,
        Body=parquet_bytes(pa.table({"n": pa.array([10, 20, 30], pa.int32())})),
    )
    assert query(athena, "SELECT sum(n) FROM tiny_copies") == [["_col0"], ["60"]]


def test_an_encrypted_table_file_is_read_through_a_shared_copy(
    athena: Any, glue: Any, s3: Any
) -> None:
    # Encrypted at rest, so not a plain file DuckDB could read in place: it is copied.
    values = list(range(5000))  # a body well over the inline limit
    create_parquet_table(glue, "sealed_copies", f"s3://{LAKE}/sealed_copies/", [("n", "int")])
    body = parquet_bytes(pa.table({"n": pa.array(values, pa.int32())}))
    assert len(body) > 16 * 1024
    s3.put_object(
        Bucket=LAKE, Key="sealed_copies/part-0.parquet", Body=body, ServerSideEncryption="AES256"
    )
    for _ in range(2):
        assert query(athena, "SELECT sum(n) FROM sealed_copies") == [["_col0"], [str(sum(values))]]
