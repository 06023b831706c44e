"""The SQLite store's own behaviour: its two table layouts, group commits that fail in part or
are interrupted, and a write-ahead log that stays bounded."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from metadata_store_helpers import LEGACY_SCHEMA, all_keys, make_legacy_file, run_threads

from tule.metadata import sqlite as sqlite_store
from tule.metadata.base import Delete, Put
from tule.metadata.sqlite import SqliteStore


def table_sql(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT sql FROM sqlite_master WHERE name = 'kv'").fetchone()[0])
    finally:
        conn.close()


def test_new_sqlite_file_gets_a_rowid_table_and_old_files_keep_theirs(tmp_path: Path) -> None:
    fresh = SqliteStore(str(tmp_path / "new.db"))
    fresh.close()
    assert "WITHOUT ROWID" not in table_sql(tmp_path / "new.db")
    legacy = tmp_path / "old.db"
    make_legacy_file(legacy)
    SqliteStore(str(legacy)).close()
    assert table_sql(legacy) == LEGACY_SCHEMA


@pytest.mark.parametrize("legacy", [False, True])
def test_sqlite_file_of_either_schema_reopens_with_its_records(
    tmp_path: Path, legacy: bool
) -> None:
    path = tmp_path / "meta.db"
    if legacy:
        make_legacy_file(path)
    first = SqliteStore(str(path))
    first.batch([Put(f"d/{i}", {"data": "x" * 6000, "i": i}) for i in range(50)])
    first.batch([Put(f"o/{i}", {"i": i}) for i in range(50)])
    first.close()
    second = SqliteStore(str(path))
    try:
        assert second.get("d/7") == {"data": "x" * 6000, "i": 7}
        assert [key for key, _ in second.list("o/", limit=3).items] == ["o/0", "o/1", "o/10"]
        assert second.list_keys("d/", start_after="d/8") == ["d/9"]
        assert second.compare_and_set("o/3", {"i": 3}, None) is True
        assert second.get("o/3") is None
    finally:
        second.close()


@pytest.mark.parametrize("legacy", [False, True])
def test_sqlite_refuses_a_null_key(tmp_path: Path, legacy: bool) -> None:
    if legacy:
        make_legacy_file(tmp_path / "meta.db")
    opened = SqliteStore(str(tmp_path / "meta.db"))
    try:
        with pytest.raises(sqlite3.IntegrityError):
            opened.put(None, {})  # type: ignore[arg-type]
        with pytest.raises(sqlite3.IntegrityError):
            opened.batch([Put("a", {}), Put(None, {})])  # type: ignore[arg-type]
        assert all_keys(opened) == []
    finally:
        opened.close()


def hold_the_lead(store: SqliteStore) -> tuple[threading.Event, threading.Thread]:
    """Start a write that leads a commit and waits inside it until the event is set: writes
    queued meanwhile are then committed together, as the next group."""
    release = threading.Event()

    def apply(conn: sqlite3.Connection) -> None:
        release.wait(timeout=10)

    leader = threading.Thread(target=store._submit, args=(apply,))
    leader.start()
    while not store._leading:
        threading.Event().wait(0.001)
    return release, leader


def test_failing_batch_in_a_group_lands_nothing_and_the_rest_commit(tmp_path: Path) -> None:
    opened = SqliteStore(str(tmp_path / "meta.db"), fsync=False)
    commits: list[str] = []
    opened._conn.set_trace_callback(lambda sql: sql == "COMMIT" and commits.append(sql))
    outcomes: dict[str, BaseException | None] = {}

    def write(name: str, call: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                call()
                outcomes[name] = None
            except Exception as exc:
                outcomes[name] = exc

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    try:
        opened.put("keep", {"v": 0})
        commits.clear()
        release, leader = hold_the_lead(opened)
        writers = [
            write("put", lambda: opened.put("a", {"v": 1})),
            write("bad", lambda: opened.batch([Put("b", {}), Delete("keep"), Put("\ud800", {})])),
            write("batch", lambda: opened.batch([Put("c", {"v": 3}), Delete("gone")])),
        ]
        while len(opened._queued) < 3:
            threading.Event().wait(0.001)
        release.set()
        for thread in [leader, *writers]:
            thread.join()
        assert outcomes["put"] is None and outcomes["batch"] is None
        assert isinstance(outcomes["bad"], UnicodeEncodeError)
        assert all_keys(opened) == ["a", "c", "keep"]
        assert opened.get("keep") == {"v": 0}
        assert len(commits) == 2  # the held write's commit, then one for the whole group
    finally:
        opened.close()


def test_interrupted_commit_lands_nothing_and_the_store_goes_on(tmp_path: Path) -> None:
    opened = SqliteStore(str(tmp_path / "meta.db"), fsync=False)

    def interrupted(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO kv (key, value) VALUES ('half', '{}')")
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            opened._submit(interrupted)
        assert opened.get("half") is None
        opened.put("after", {"v": 1})
        assert all_keys(opened) == ["after"]
    finally:
        opened.close()


def test_wal_starts_over_under_sustained_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commits never pause here, so the log can only start over if the store arranges it.
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_BYTES", 256 << 10)
    opened = SqliteStore(str(tmp_path / "meta.db"), fsync=False)
    value = {"data": "x" * 3000}
    try:
        run_threads(2, lambda i: [opened.put(f"k/{i}/{n}", value) for n in range(1500)])
        wal_size = (tmp_path / "meta.db-wal").stat().st_size
        assert len(all_keys(opened)) == 3000
    finally:
        opened.close()
    # Without starting over, the log ends at about 45 MB; with it, near the threshold.
    assert wal_size < 12 << 20
