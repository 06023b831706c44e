"""A MetadataStore on one SQLite file in WAL mode, with writes group-committed by one thread.

Callers hand each write to a single writer thread and block until it is committed. The writer
drains every write queued while the previous group was being flushed and commits them in one
transaction, so concurrent writers share one fsync. Reads never queue: each thread reads
through its own connection, which WAL lets run beside the writer.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from tule.metadata.base import Delete, MetadataStore, Page, Put, Record

_Apply = Callable[[sqlite3.Connection], Any]

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
_UPSERT = (
    "INSERT INTO kv (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM kv WHERE key = ?"
_SELECT = "SELECT value FROM kv WHERE key = ?"


def _encode(value: Record) -> str:
    return json.dumps(value, separators=(",", ":"))


def prefix_end(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix`; None if unbounded.

    Code-point order is UTF-8 byte order, so this bound is also right for SQLite's BINARY
    collation. Surrogates cannot be stored, so the successor of U+D7FF is U+E000."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            successor = 0xE000 if last == 0xD7FF else last + 1
            return prefix[:-1] + chr(successor)
        prefix = prefix[:-1]
    return None


class _Request:
    """One caller's write, waiting for the writer thread to commit it."""

    __slots__ = ("_done", "apply", "error", "result")

    def __init__(self, apply: _Apply) -> None:
        self.apply = apply
        self.result: Any = None
        self.error: BaseException | None = None
        # A pre-acquired lock is the cheapest one-shot signal threading offers.
        self._done = threading.Lock()
        self._done.acquire()

    def finish(self) -> None:
        self._done.release()

    def wait(self) -> Any:
        self._done.acquire()
        if self.error is not None:
            raise self.error
        return self.result


_STOP = _Request(lambda conn: None)


class SqliteStore(MetadataStore):
    """Records in the SQLite file at `path`; `fsync=False` trades durability for speed."""

    def __init__(self, path: str, *, fsync: bool = True) -> None:
        self._path = path
        self._conn = self._connect()
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            self._conn.close()
            raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode!r})")
        # In WAL mode FULL syncs the log on every commit; NORMAL only at checkpoints.
        self._conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        self._conn.execute(_SCHEMA)
        self._queue: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        # Held while enqueueing so no request can slip in behind the stop marker and hang.
        self._submit_lock = threading.Lock()
        self._closed = False
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer = threading.Thread(target=self._run, name=f"sqlite-writer:{path}", daemon=True)
        self._writer.start()

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are begun explicitly, and each read is its own snapshot.
        return sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=30.0
        )

    # Reads

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("metadata store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            with self._readers_lock:
                self._readers.append(conn)
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Record | None:
        # fetchall steps the statement to its end, which ends the read snapshot at once.
        rows = self._reader().execute(_SELECT, (key,)).fetchall()
        return json.loads(rows[0][0]) if rows else None

    def list(self, prefix: str, *, start_after: str | None = None, limit: int = 1000) -> Page:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if limit == 0:
            return Page(items=[], next_after=None)
        clauses, params = ["key >= ?"], [prefix]
        if start_after is not None and start_after >= prefix:
            clauses, params = ["key > ?"], [start_after]
        end = prefix_end(prefix)
        if end is not None:
            clauses.append("key < ?")
            params.append(end)
        # One row past the limit tells whether another page remains.
        sql = f"SELECT key, value FROM kv WHERE {' AND '.join(clauses)} ORDER BY key LIMIT ?"
        rows = self._reader().execute(sql, (*params, limit + 1)).fetchall()
        items = [(key, json.loads(text)) for key, text in rows[:limit]]
        return Page(items=items, next_after=items[-1][0] if len(rows) > limit else None)

    # Writes: encoded in the caller's thread, applied and committed by the writer thread.

    def _submit(self, apply: _Apply) -> Any:
        request = _Request(apply)
        with self._submit_lock:
            if self._closed:
                raise RuntimeError("metadata store is closed")
            self._queue.put(request)
        return request.wait()

    def put(self, key: str, value: Record) -> None:
        params = (key, _encode(value))
        self._submit(lambda conn: conn.execute(_UPSERT, params))

    def delete(self, key: str) -> bool:
        return bool(self._submit(lambda conn: conn.execute(_DELETE, (key,)).rowcount > 0))

    def compare_and_set(self, key: str, expected: Record | None, new: Record | None) -> bool:
        # Round-trip `expected` so it compares the way a stored record decodes (tuples as lists).
        want = None if expected is None else json.loads(_encode(expected))
        new_text = None if new is None else _encode(new)

        def apply(conn: sqlite3.Connection) -> bool:
            rows = conn.execute(_SELECT, (key,)).fetchall()
            if (json.loads(rows[0][0]) if rows else None) != want:
                return False
            if new_text is None:
                if rows:
                    conn.execute(_DELETE, (key,))
            else:
                conn.execute(_UPSERT, (key, new_text))
            return True

        return bool(self._submit(apply))

    def batch(self, ops: list[Put | Delete]) -> None:
        if not ops:
            return
        # Encoding first means an unserializable value fails here, before anything is queued.
        steps = [
            (op.key, _encode(op.value)) if isinstance(op, Put) else (op.key, None) for op in ops
        ]

        def apply(conn: sqlite3.Connection) -> None:
            # A savepoint lets this batch fail alone without undoing the rest of its group.
            conn.execute("SAVEPOINT batch")
            try:
                for key, text in steps:
                    if text is None:
                        conn.execute(_DELETE, (key,))
                    else:
                        conn.execute(_UPSERT, (key, text))
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO batch")
                    conn.execute("RELEASE batch")
                raise
            conn.execute("RELEASE batch")

        self._submit(apply)

    # The writer thread

    def _run(self) -> None:
        stopping = False
        while not stopping:
            group = [self._queue.get()]
            while True:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = _STOP in group
            group = [request for request in group if request is not _STOP]
            try:
                self._commit(group)
            except BaseException as exc:  # the writer must survive, or every caller would hang
                for request in group:
                    request.error = request.error or exc
            for request in group:
                request.finish()
        self._conn.close()

    def _commit(self, group: list[_Request]) -> None:
        conn = self._conn
        pending = group
        while pending:
            conn.execute("BEGIN IMMEDIATE")
            applied: list[_Request] = []
            rolled_back = False
            for index, request in enumerate(pending):
                try:
                    request.result = request.apply(conn)
                except Exception as exc:
                    request.error = exc
                    if not conn.in_transaction:
                        # SQLite undid the whole transaction: redo everyone else's writes.
                        pending, rolled_back = applied + pending[index + 1 :], True
                        break
                else:
                    applied.append(request)
            if rolled_back:
                continue
            try:
                conn.execute("COMMIT")
            except Exception as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                for request in applied:
                    request.error, request.result = exc, None
            return

    def close(self) -> None:
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._writer.join()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
