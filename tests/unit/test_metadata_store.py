"""One conformance suite that every MetadataStore implementation must pass."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from metadata_store_helpers import all_keys, make_legacy_file, run_threads

from tule.metadata.base import Delete, MetadataStore, Put
from tule.metadata.memory import MemoryStore
from tule.metadata.sqlite import SqliteStore, prefix_end


@pytest.fixture(params=["sqlite-fsync", "sqlite-nofsync", "sqlite-legacy", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "memory":
        opened: MetadataStore = MemoryStore()
    else:
        if request.param == "sqlite-legacy":
            make_legacy_file(tmp_path / "meta.db")
        opened = SqliteStore(str(tmp_path / "meta.db"), fsync=request.param == "sqlite-fsync")
    yield opened
    opened.close()


def test_get_put_delete(store: MetadataStore) -> None:
    assert store.get("k") is None
    store.put("k", {"size": 3, "tags": ["a"], "meta": {"x": None}})
    assert store.get("k") == {"size": 3, "tags": ["a"], "meta": {"x": None}}
    store.put("k", {"size": 4})
    assert store.get("k") == {"size": 4}
    assert store.delete("k") is True
    assert store.get("k") is None
    assert store.delete("k") is False


def test_records_are_copies(store: MetadataStore) -> None:
    value = {"tags": ["a"]}
    store.put("k", value)
    value["tags"].append("mutated-after-put")
    got = store.get("k")
    assert got == {"tags": ["a"]}
    assert got is not None
    got["tags"].append("mutated-after-get")
    assert store.get("k") == {"tags": ["a"]}
    listed = store.list("")
    listed.items[0][1]["tags"].clear()
    assert store.get("k") == {"tags": ["a"]}


def test_compare_and_set(store: MetadataStore) -> None:
    assert store.compare_and_set("k", None, {"v": 1}) is True
    assert store.compare_and_set("k", None, {"v": 9}) is False, "key exists, expected absent"
    assert store.get("k") == {"v": 1}
    assert store.compare_and_set("k", {"v": 2}, {"v": 9}) is False
    assert store.get("k") == {"v": 1}
    assert store.compare_and_set("k", {"v": 1}, {"v": 2}) is True
    assert store.get("k") == {"v": 2}
    assert store.compare_and_set("k", {"v": 1}, None) is False
    assert store.compare_and_set("k", {"v": 2}, None) is True
    assert store.get("k") is None
    assert store.compare_and_set("k", {"v": 2}, {"v": 3}) is False, "absent key never matches"
    assert store.get("k") is None


def test_compare_and_set_compares_records_not_text(store: MetadataStore) -> None:
    store.put("k", {"a": 1, "b": [1, 2]})
    assert store.compare_and_set("k", {"b": (1, 2), "a": 1}, {"a": 2}) is True
    assert store.get("k") == {"a": 2}


def test_batch_applies_all_ops(store: MetadataStore) -> None:
    store.put("gone", {"v": 0})
    store.batch([Put("a", {"v": 1}), Put("b", {"v": 2}), Delete("gone"), Delete("never")])
    assert store.get("a") == {"v": 1}
    assert store.get("b") == {"v": 2}
    assert store.get("gone") is None


def test_batch_with_unserializable_value_lands_nothing(store: MetadataStore) -> None:
    store.put("keep", {"v": 0})
    with pytest.raises(TypeError):
        store.batch([Put("a", {"v": 1}), Delete("keep"), Put("b", {"v": object()})])
    assert store.get("a") is None
    assert store.get("keep") == {"v": 0}
    assert store.get("b") is None


def test_batch_failing_midway_lands_nothing(store: MetadataStore) -> None:
    # A lone surrogate has no UTF-8 form, so the op fails while the batch is being applied.
    store.put("keep", {"v": 0})
    with pytest.raises(UnicodeEncodeError):
        store.batch([Put("a", {"v": 1}), Delete("keep"), Put("bad\ud800", {"v": 2})])
    assert store.get("a") is None
    assert store.get("keep") == {"v": 0}
    assert all_keys(store) == ["keep"]


def test_failing_writes_do_not_fail_concurrent_writers(store: MetadataStore) -> None:
    failures: list[int] = []

    def work(i: int) -> None:
        for n in range(50):
            if i % 4 == 0:
                try:
                    store.batch([Put(f"bad/{i}/{n}", {}), Put(f"bad\ud800/{i}/{n}", {})])
                except UnicodeEncodeError:
                    failures.append(1)
            else:
                store.put(f"good/{i}/{n}", {"n": n})

    run_threads(8, work)
    assert len(failures) == 2 * 50
    assert store.list("bad").items == []
    assert len(all_keys(store, "good/")) == 6 * 50
    assert store.get("good/7/49") == {"n": 49}


KEYS = ["a", "a/", "a/b", "a/b/c", "a0", "ab", "b", "é", "éa", "\uffff", "\U0001f600", "z"]


def test_list_orders_by_utf8_bytes(store: MetadataStore) -> None:
    for key in reversed(KEYS):
        store.put(key, {"k": key})
    expected = sorted(KEYS, key=lambda key: key.encode("utf-8"))
    page = store.list("")
    assert [key for key, _ in page.items] == expected
    assert page.items[0] == ("a", {"k": "a"})
    assert page.next_after is None


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a", ["a", "a/", "a/b", "a/b/c", "a0", "ab"]),
        ("a/", ["a/", "a/b", "a/b/c"]),
        ("a/b", ["a/b", "a/b/c"]),
        ("é", ["é", "éa"]),
        ("\uffff", ["\uffff"]),
        ("\U0001f600", ["\U0001f600"]),
        ("c", []),
    ],
)
def test_list_by_prefix(store: MetadataStore, prefix: str, expected: list[str]) -> None:
    for key in KEYS:
        store.put(key, {})
    assert [key for key, _ in store.list(prefix).items] == expected


def test_list_prefix_at_the_top_of_unicode(store: MetadataStore) -> None:
    keys = ["a\U0010ffff", "a\U0010ffffz", "b", "\ud7ffx", "\ue000"]
    for key in keys:
        store.put(key, {})
    assert [key for key, _ in store.list("a\U0010ffff").items] == keys[:2]
    assert [key for key, _ in store.list("\U0010ffff").items] == []
    assert [key for key, _ in store.list("\ud7ff").items] == ["\ud7ffx"]


def test_prefix_end() -> None:
    assert prefix_end("") is None
    assert prefix_end("a/") == "a0"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff\U0010ffff") is None
    assert prefix_end("\ud7ff") == "\ue000"


def test_list_start_after_and_limit(store: MetadataStore) -> None:
    for key in KEYS:
        store.put(key, {})
    page = store.list("a", start_after="a/b", limit=2)
    assert [key for key, _ in page.items] == ["a/b/c", "a0"]
    assert page.next_after == "a0"
    last = store.list("a", start_after="a0", limit=2)
    assert [key for key, _ in last.items] == ["ab"]
    assert last.next_after is None
    # start_after before the prefix, or not itself a key, still bounds correctly.
    assert [key for key, _ in store.list("a/", start_after="0").items] == ["a/", "a/b", "a/b/c"]
    assert [key for key, _ in store.list("a/", start_after="a/a").items] == ["a/b", "a/b/c"]
    assert store.list("a", start_after="zz").items == []
    exact = store.list("a/", limit=3)
    assert len(exact.items) == 3
    assert exact.next_after is None, "no more keys remain under the prefix"
    assert store.list("a", limit=0).items == []


def test_pagination_walks_every_key_once(store: MetadataStore) -> None:
    keys = [f"p/{i:05d}" for i in range(2500)]
    store.batch([Put(key, {"i": i}) for i, key in enumerate(keys)])
    store.batch([Put("o", {}), Put("p", {}), Put("p0", {}), Put("q/1", {})])
    pages = []
    after: str | None = None
    while True:
        page = store.list("p/", start_after=after, limit=1000)
        pages.append(page)
        if page.next_after is None:
            break
        after = page.next_after
    assert [len(page.items) for page in pages] == [1000, 1000, 500]
    assert [key for page in pages for key, _ in page.items] == keys
    assert pages[1].items[0] == ("p/01000", {"i": 1000})


def test_concurrent_puts(store: MetadataStore) -> None:
    def work(i: int) -> None:
        for n in range(200):
            key = f"t{i:02d}/{n:03d}"
            store.put(key, {"i": i, "n": n})
            assert store.get(key) == {"i": i, "n": n}, "a returned write is visible"

    run_threads(16, work)
    keys = all_keys(store)
    assert keys == sorted(f"t{i:02d}/{n:03d}" for i in range(16) for n in range(200))
    assert store.get("t15/199") == {"i": 15, "n": 199}


def test_concurrent_compare_and_set_counter(store: MetadataStore) -> None:
    store.put("counter", {"n": 0})
    successes = [0] * 8

    def work(i: int) -> None:
        for _ in range(60):
            current = store.get("counter")
            assert current is not None
            if store.compare_and_set("counter", current, {"n": current["n"] + 1}):
                successes[i] += 1

    run_threads(8, work)
    assert sum(successes) > 0
    assert store.get("counter") == {"n": sum(successes)}


def test_concurrent_compare_and_set_retries_reach_total(store: MetadataStore) -> None:
    def work(i: int) -> None:
        done = 0
        while done < 25:
            current = store.get("counter")
            new = {"n": 1 if current is None else current["n"] + 1}
            if store.compare_and_set("counter", current, new):
                done += 1

    run_threads(8, work)
    assert store.get("counter") == {"n": 8 * 25}


def test_closed_store_refuses_writes(store: MetadataStore) -> None:
    store.put("k", {})
    store.close()
    if isinstance(store, SqliteStore):
        with pytest.raises(RuntimeError):
            store.put("k2", {})
        with pytest.raises(RuntimeError):
            store.get("k")
    store.close()  # closing twice is harmless


@pytest.mark.parametrize("fsync", [True, False])
def test_sqlite_survives_reopen(tmp_path: Path, fsync: bool) -> None:
    path = str(tmp_path / "meta.db")
    first = SqliteStore(path, fsync=fsync)
    first.batch([Put(f"k{i}", {"i": i}) for i in range(10)])
    first.put("é", {"s": "ünïcode"})
    assert first.delete("k3") is True
    assert first.compare_and_set("k4", {"i": 4}, {"i": 40}) is True
    first.close()

    second = SqliteStore(path, fsync=fsync)
    try:
        assert second.get("é") == {"s": "ünïcode"}
        assert second.get("k3") is None
        assert second.get("k4") == {"i": 40}
        assert len(second.list("k").items) == 9
    finally:
        second.close()


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    opened = SqliteStore(str(path))
    try:
        opened.put("k", {})
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()
        assert (tmp_path / "meta.db-wal").exists()
    finally:
        opened.close()


def test_list_keys_matches_list(store: MetadataStore) -> None:
    for key in KEYS:
        store.put(key, {"big": "x" * 100})
    for prefix, after, limit in (("", None, 1000), ("a", None, 2), ("a", "a/", 3), ("z", None, 0)):
        page = store.list(prefix, start_after=after, limit=limit)
        keys = store.list_keys(prefix, start_after=after, limit=limit)
        assert keys == [key for key, _ in page.items]


def test_concurrent_sqlite_writers_share_commits(tmp_path: Path) -> None:
    opened = SqliteStore(str(tmp_path / "meta.db"), fsync=True)
    commits: list[str] = []
    opened._conn.set_trace_callback(lambda sql: sql == "COMMIT" and commits.append(sql))
    try:
        run_threads(8, lambda i: [opened.put(f"k/{i}/{n}", {"n": n}) for n in range(25)])
        assert len(opened.list("k/").items) == 200
        # Each commit carries whatever queued while the previous one flushed.
        assert len(commits) < 200
    finally:
        opened.close()


def test_lone_sqlite_writer_commits_in_its_own_thread(tmp_path: Path) -> None:
    opened = SqliteStore(str(tmp_path / "meta.db"), fsync=False)
    threads: set[int] = set()
    opened._conn.set_trace_callback(lambda sql: threads.add(threading.get_ident()))
    try:
        for n in range(5):
            opened.put(f"k{n}", {"n": n})
        assert threads == {threading.get_ident()}
    finally:
        opened.close()


def test_generation_moves_on_with_every_write_and_only_then(store: MetadataStore) -> None:
    seen = [store.generation]

    def moved() -> bool:
        seen.append(store.generation)
        return seen[-1] != seen[-2]

    store.put("a", {"v": 1})
    assert moved()
    store.get("a"), store.list(""), store.list_keys("")
    assert not moved()
    store.batch([Put("b", {"v": 2}), Delete("a")])
    assert moved()
    assert store.compare_and_set("b", {"v": 2}, {"v": 3})
    assert moved()
    assert store.delete("b")
    assert moved()
