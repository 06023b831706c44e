"""Shared by the metadata store tests: an old-layout SQLite file, threads started together,
and a full listing."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from tule.metadata.base import MetadataStore

# The table of files written before the store moved to a rowid table (see sqlite._SCHEMA).
LEGACY_SCHEMA = "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"


def make_legacy_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(LEGACY_SCHEMA)
        conn.commit()
    finally:
        conn.close()


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run `target(i)` on `count` threads at once and re-raise the first failure."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def body(i: int) -> None:
        try:
            start.wait()
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def all_keys(store: MetadataStore, prefix: str = "", page_size: int = 1000) -> list[str]:
    keys: list[str] = []
    after: str | None = None
    while True:
        page = store.list(prefix, start_after=after, limit=page_size)
        keys.extend(key for key, _ in page.items)
        if page.next_after is None:
            return keys
        after = page.next_after
