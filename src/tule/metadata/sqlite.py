"""A MetadataStore on one SQLite file in WAL mode, with writes group-committed by their callers.

Writers queue their changes; whichever caller finds no commit in progress becomes the leader:
it takes every queued write, applies them in one transaction and commits (one WAL fsync for
all), then wakes their callers and hands leadership to the first write that queued meanwhile.
A lone writer therefore commits in its own thread, with no handoff to another thread (the
thread switch cost more than the commit itself with fsync off), and concurrent writers share
one fsync. Reads never queue: each thread reads through its own connection, which WAL lets
run beside the commit.

Checkpoints (copying the WAL back into the database file, with its own flushes) run on a
background thread rather than inside whichever commit crosses SQLite's automatic threshold:
on the dev VM that commit took 8-30 ms instead of 0.07 ms, over half of all commit time with
fsync off. SQLite starts the log over (writes it again from its start) only when a write
transaction begins with every frame copied, which never happens while commits keep coming
during the background checkpoint: the log then grew without bound (150 MB after 8,000 S3-sized
PUTs) and each fsync extended the file, which cost about twice as much as overwriting it. So
after each background checkpoint, the next leader copies the few frames committed meanwhile
itself, just before it begins, and its commit starts the log over.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from tule.metadata.base import Delete, MetadataStore, Page, Put, Record
from tule.metadata.codec import decode, encode

_Apply = Callable[[sqlite3.Connection], Any]
log = logging.getLogger("tule.metadata")

# About 1000 WAL pages, SQLite's own automatic checkpoint threshold.
CHECKPOINT_BYTES = 4 << 20
# A commit writes at least a page or two even for a tiny record.
_COMMIT_BYTES = 4096

# A rowid table with the key in a unique index, not a WITHOUT ROWID table keyed by it: in an
# index b-tree the interior cells hold whole records, so a search past a large value (an inline
# S3 body, ~5.5 KB) read its overflow pages, and a 5.5 KB value took a leaf cell and two
# overflow pages where a table leaf takes one. Measured by benchmarks/metadata.py: an S3-shaped
# PUT (read, then a batch of a record and a 5.5 KB value) cost 20-35% less CPU, fsync off.
# Files made with the old schema keep it: `IF NOT EXISTS` leaves them alone, every statement
# below means the same on both, and NOT NULL keeps the key as strict as a WITHOUT ROWID key.
_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)"
_UPSERT = (
    "INSERT INTO kv (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM kv WHERE key = ?"
_SELECT = "SELECT value FROM kv WHERE key = ?"


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
    """One caller's write, waiting in the queue until a leader commits it."""

    __slots__ = ("_wake", "abandoned", "apply", "error", "lead", "result", "size")

    def __init__(self, apply: _Apply, size: int) -> None:
        self.apply = apply
        self.size = size  # roughly what it adds to the WAL, in bytes
        self.result: Any = None
        self.error: BaseException | None = None
        self.lead = False  # woken to lead the next commit rather than because it is done
        self.abandoned = False  # its caller stopped waiting: never hand it the lead
        # A pre-acquired lock is the cheapest one-shot signal threading offers.
        self._wake = threading.Lock()
        self._wake.acquire()

    def wake(self) -> None:
        self._wake.release()

    def sleep(self) -> None:
        self._wake.acquire()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


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
        self._synchronous = "FULL" if fsync else "NORMAL"
        self._conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")  # see the module docstring
        self._conn.execute(_SCHEMA)
        # Guards the queue, the leader flag and `_closed`; never held while SQLite works.
        self._mutex = threading.Lock()
        self._queued: list[_Request] = []
        self._leading = False
        self._idle = threading.Condition(self._mutex)  # notified when a leader steps down
        self._closed = False
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._wal_bytes = 0  # written since the last checkpoint was asked for
        self._checkpoint_due = threading.Event()
        self._catch_up_due = False  # set by the checkpointer, cleared by the next leader
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name=f"sqlite-checkpoint:{path}", daemon=True
        )
        self._checkpointer.start()

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
        return decode(rows[0][0]) if rows else None

    def list(self, prefix: str, *, start_after: str | None = None, limit: int = 1000) -> Page:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if limit == 0:
            return Page(items=[], next_after=None)
        # One row past the limit tells whether another page remains.
        rows = self._range("key, value", prefix, start_after, limit + 1)
        items = [(key, decode(text)) for key, text in rows[:limit]]
        return Page(items=items, next_after=items[-1][0] if len(rows) > limit else None)

    def list_keys(
        self, prefix: str, *, start_after: str | None = None, limit: int = 1000
    ) -> list[str]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        return [key for (key,) in self._range("key", prefix, start_after, limit)] if limit else []

    def _range(
        self, columns: str, prefix: str, start_after: str | None, limit: int
    ) -> list[tuple[Any, ...]]:
        clauses, params = ["key >= ?"], [prefix]
        if start_after is not None and start_after >= prefix:
            clauses, params = ["key > ?"], [start_after]
        end = prefix_end(prefix)
        if end is not None:
            clauses.append("key < ?")
            params.append(end)
        sql = f"SELECT {columns} FROM kv WHERE {' AND '.join(clauses)} ORDER BY key LIMIT ?"
        return self._reader().execute(sql, (*params, limit)).fetchall()

    # Writes: encoded in the caller's thread, then applied and committed by the group's leader.

    def _submit(self, apply: _Apply, size: int = 0) -> Any:
        request = _Request(apply, size + _COMMIT_BYTES)
        with self._mutex:
            if self._closed:
                raise RuntimeError("metadata store is closed")
            self._queued.append(request)
            lead = not self._leading
            self._leading = True
        if not lead:
            try:
                request.sleep()  # until a leader committed it, or made it the next leader
            except BaseException:
                # Interrupted while queued (KeyboardInterrupt): the write may still land, but
                # this thread must not be handed the lead later, or every writer would hang.
                with self._mutex:
                    request.abandoned = True
                    lead = request.lead
                if lead:
                    self._lead()
                raise
            lead = request.lead
        if lead:
            self._lead()
        return request.outcome()

    def put(self, key: str, value: Record) -> None:
        params = (key, encode(value))
        self._submit(lambda conn: conn.execute(_UPSERT, params), len(params[1]))

    def delete(self, key: str) -> bool:
        return bool(self._submit(lambda conn: conn.execute(_DELETE, (key,)).rowcount > 0))

    def compare_and_set(self, key: str, expected: Record | None, new: Record | None) -> bool:
        # Round-trip `expected` so it compares the way a stored record decodes (tuples as lists).
        want = None if expected is None else decode(encode(expected))
        new_text = None if new is None else encode(new)

        def apply(conn: sqlite3.Connection) -> bool:
            rows = conn.execute(_SELECT, (key,)).fetchall()
            if (decode(rows[0][0]) if rows else None) != want:
                return False
            if new_text is None:
                if rows:
                    conn.execute(_DELETE, (key,))
            else:
                conn.execute(_UPSERT, (key, new_text))
            return True

        return bool(self._submit(apply, len(new_text or "")))

    def batch(self, ops: list[Put | Delete]) -> None:
        if not ops:
            return
        # Encoding first means an unserializable value fails here, before anything is queued.
        steps = [
            (op.key, encode(op.value)) if isinstance(op, Put) else (op.key, None) for op in ops
        ]

        def apply(conn: sqlite3.Connection) -> None:
            # No savepoint: if a step fails, `_commit` undoes the whole group's transaction
            # and redoes the others' writes (rare), which saves two statements per batch.
            for key, text in steps:
                if text is None:
                    conn.execute(_DELETE, (key,))
                else:
                    conn.execute(_UPSERT, (key, text))

        self._submit(apply, sum(len(text or "") for _, text in steps))

    # Group commit

    def _lead(self) -> None:
        """Commit everything queued as one transaction, then pass the lead on."""
        while True:
            with self._mutex:
                group, self._queued = self._queued, []
            try:
                self._commit(group)
            except BaseException as exc:  # every caller must learn its fate, or it would hang
                self._abandon_transaction()
                for request in group:
                    if request.error is None:
                        request.error, request.result = exc, None
            # Before any writer is woken (see MetadataStore.generation); only the leader
            # writes it. Counted even for a failed commit: a reader then only looks again.
            self.generation += 1
            self._wal_bytes += sum(request.size for request in group)
            if self._wal_bytes >= CHECKPOINT_BYTES:
                self._wal_bytes = 0
                self._checkpoint_due.set()
            with self._mutex:
                successor = next((r for r in self._queued if not r.abandoned), None)
                if successor is not None:
                    successor.lead = True
                stepping_down = not self._queued
                if stepping_down:
                    self._leading = False
                    self._idle.notify_all()
            # The leader's own request is in `group` too; waking it is harmless.
            for request in group:
                request.wake()
            if successor is not None:
                successor.wake()
            if successor is not None or stepping_down:
                return
            # Only writes whose callers stopped waiting are queued: commit them too.

    def _commit(self, group: list[_Request]) -> None:
        conn = self._conn
        if self._catch_up_due:
            self._catch_up()
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
                    # The failed write may have landed in part (a batch's first steps), or
                    # SQLite may have undone the transaction itself: either way, start over
                    # without it and redo everyone else's writes.
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    pending, rolled_back = applied + pending[index + 1 :], True
                    break
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

    def _abandon_transaction(self) -> None:
        """Undo what an interrupted commit left open (none of its group lands), so that the
        next commit can begin."""
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("could not roll back an interrupted commit", exc_info=True)

    def _catch_up(self) -> None:
        """Copy the frames committed while the background checkpoint ran, so that the next
        transaction begins on a fully copied log and SQLite starts the log over."""
        self._catch_up_due = False
        try:
            # PASSIVE: readers in the middle of a query may leave some frames; then the log
            # goes on growing until after the next background checkpoint.
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            log.warning("WAL catch-up checkpoint failed; the next one retries", exc_info=True)

    def _checkpoint_loop(self) -> None:
        conn = self._connect()
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        try:
            while True:
                self._checkpoint_due.wait()
                self._checkpoint_due.clear()
                if self._closed:
                    return
                try:
                    # PASSIVE: copies what it can without waiting for readers or writers.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; the next one retries", exc_info=True)
                else:
                    self._catch_up_due = True
        finally:
            conn.close()

    def close(self) -> None:
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            # Writes queued before closing are still committed by the leaders already running.
            while self._leading:
                self._idle.wait()
        self._checkpoint_due.set()
        self._checkpointer.join()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        # The last connection to close checkpoints the whole WAL into the database file.
        self._conn.close()
