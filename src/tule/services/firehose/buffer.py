"""The durable buffer: records Firehose has acknowledged and not yet delivered, on disk.

One SQLite file (`buffer.db`, WAL) holds four tables:

- `incoming`: records waiting for the Lambda processor (streams with one), in arrival order;
- `staged`: records ready for S3, each in a *part*: the data buffer of a partition ("" without
  dynamic partitioning, else the partition keys as JSON), an error buffer (`!processing-failed`,
  `!partitioning-failed`) or the source-record backup (`!backup`);
- `sealed`: flush plans, one per object being written (see `delivery` for the protocol that
  makes a flush happen once even across crashes);
- `checkpoints`: how far each Kinesis shard has been read, per delivery stream.

Every change is one transaction, so a Kinesis checkpoint moves together with the records read,
and a processed batch leaves `incoming` in the same commit that puts its results in `staged`.
Writers are group-committed: a writer queues its change and whoever holds the commit lock
applies every queued change in one transaction (one fsync for all, each in a savepoint of its
own so one failing change does not fail the others).

Per-part totals (bytes, records, oldest arrival) are kept in memory, updated under the same lock
as the commits, and rebuilt from the tables at start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incoming (
    id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, arrival_ms INTEGER NOT NULL,
    data BLOB NOT NULL, meta TEXT);
CREATE INDEX IF NOT EXISTS incoming_by_stream ON incoming (stream, id);
CREATE TABLE IF NOT EXISTS staged (
    id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, part TEXT NOT NULL,
    arrival_ms INTEGER NOT NULL, data BLOB NOT NULL, meta TEXT);
CREATE INDEX IF NOT EXISTS staged_by_part ON staged (stream, part, id);
CREATE TABLE IF NOT EXISTS sealed (
    stream TEXT NOT NULL, part TEXT NOT NULL, last_id INTEGER NOT NULL, plan TEXT NOT NULL,
    PRIMARY KEY (stream, part));
CREATE TABLE IF NOT EXISTS checkpoints (
    stream TEXT NOT NULL, shard TEXT NOT NULL, sequence TEXT, finished INTEGER NOT NULL,
    PRIMARY KEY (stream, shard));
"""

INCOMING = "!incoming"  # the stats key of a stream's incoming table


@dataclass(frozen=True)
class Row:
    """A buffered record: its id, arrival time (ms), bytes and metadata."""

    id: int
    arrival_ms: int
    data: bytes
    meta: dict[str, Any] | None


@dataclass(frozen=True)
class NewRow:
    """A record to add to `staged` (`part`) or, with part None, to `incoming`."""

    part: str | None
    arrival_ms: int
    data: bytes
    meta: dict[str, Any] | None = None


@dataclass
class PartStats:
    bytes: int = 0
    count: int = 0
    oldest_ms: int | None = None


class _Pending:
    __slots__ = ("after", "done", "error", "fn", "result")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


def _meta(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


class BufferStore:
    """The buffer tables and their in-memory totals."""

    def __init__(self, path: Path, *, fsync: bool) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
        self._conn.executescript(_SCHEMA)
        self._db = threading.RLock()  # the connection: every read and commit
        self._commit = threading.Lock()  # who leads the next group commit
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._stats: dict[tuple[str, str], PartStats] = {}
        self._rebuild_stats()

    def close(self) -> None:
        with self._db:
            self._conn.close()

    # -- totals ---------------------------------------------------------------------------------

    def _rebuild_stats(self) -> None:
        with self._db:
            for stream, part, size, count, oldest in self._conn.execute(
                "SELECT stream, part, SUM(length(data)), COUNT(*), MIN(arrival_ms) FROM staged "
                "GROUP BY stream, part"
            ):
                self._stats[(stream, part)] = PartStats(size, count, oldest)
            for stream, size, count, oldest in self._conn.execute(
                "SELECT stream, SUM(length(data)), COUNT(*), MIN(arrival_ms) FROM incoming "
                "GROUP BY stream"
            ):
                self._stats[(stream, INCOMING)] = PartStats(size, count, oldest)

    def _recount(self, conn: sqlite3.Connection, stream: str, part: str) -> None:
        if part == INCOMING:
            query = (
                "SELECT SUM(length(data)), COUNT(*), MIN(arrival_ms) FROM incoming WHERE stream = ?"
            )
            args: tuple[str, ...] = (stream,)
        else:
            query = (
                "SELECT SUM(length(data)), COUNT(*), MIN(arrival_ms) FROM staged "
                "WHERE stream = ? AND part = ?"
            )
            args = (stream, part)
        size, count, oldest = conn.execute(query, args).fetchone()
        if count:
            self._stats[(stream, part)] = PartStats(size, count, oldest)
        else:
            self._stats.pop((stream, part), None)

    def stats(self) -> dict[tuple[str, str], PartStats]:
        """A snapshot of (stream, part) -> totals; part INCOMING is the incoming table."""
        with self._db:
            return {k: PartStats(v.bytes, v.count, v.oldest_ms) for k, v in self._stats.items()}

    def part_stats(self, stream: str, part: str) -> PartStats:
        with self._db:
            found = self._stats.get((stream, part))
            return (
                PartStats()
                if found is None
                else PartStats(found.bytes, found.count, found.oldest_ms)
            )

    # -- group commit ---------------------------------------------------------------------------

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        pending = _Pending(fn)
        with self._queue_lock:
            self._queue.append(pending)
        with self._commit:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._run(batch)
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[no-any-return]

    def _run(self, batch: list[_Pending]) -> None:
        with self._db:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for pending in batch:
                    conn.execute("SAVEPOINT change")
                    try:
                        pending.result = pending.fn(conn)
                    except Exception as err:
                        conn.execute("ROLLBACK TO change")
                        pending.error = err
                    conn.execute("RELEASE change")
                conn.execute("COMMIT")
            except BaseException as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._stats.clear()
                self._rebuild_stats()
                for pending in batch:
                    pending.error = pending.error or err
            finally:
                for pending in batch:
                    pending.done = True

    # -- writes ---------------------------------------------------------------------------------

    def _insert(self, conn: sqlite3.Connection, stream: str, rows: Iterable[NewRow]) -> None:
        staged, incoming = [], []
        for row in rows:
            meta = None if row.meta is None else json.dumps(row.meta, separators=(",", ":"))
            if row.part is None:
                incoming.append((stream, row.arrival_ms, row.data, meta))
                key = (stream, INCOMING)
            else:
                staged.append((stream, row.part, row.arrival_ms, row.data, meta))
                key = (stream, row.part)
            stats = self._stats.setdefault(key, PartStats())
            stats.bytes += len(row.data)
            stats.count += 1
            if stats.oldest_ms is None or row.arrival_ms < stats.oldest_ms:
                stats.oldest_ms = row.arrival_ms
        if incoming:
            conn.executemany(
                "INSERT INTO incoming (stream, arrival_ms, data, meta) VALUES (?, ?, ?, ?)",
                incoming,
            )
        if staged:
            conn.executemany(
                "INSERT INTO staged (stream, part, arrival_ms, data, meta) VALUES (?, ?, ?, ?, ?)",
                staged,
            )

    def append(
        self,
        stream: str,
        rows: list[NewRow],
        checkpoint: tuple[str, str | None, bool] | None = None,
    ) -> None:
        """Add `rows` durably; with `checkpoint` (shard, sequence, finished), in the same commit."""

        def change(conn: sqlite3.Connection) -> None:
            before = {
                k: PartStats(v.bytes, v.count, v.oldest_ms)
                for k, v in self._stats.items()
                if k[0] == stream
            }
            try:
                self._insert(conn, stream, rows)
                if checkpoint is not None:
                    shard, sequence, finished = checkpoint
                    conn.execute(
                        "INSERT INTO checkpoints (stream, shard, sequence, finished)"
                        " VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (stream, shard) DO UPDATE SET sequence = excluded.sequence,"
                        " finished = excluded.finished",
                        (stream, shard, sequence, int(finished)),
                    )
            except BaseException:
                for key in [k for k in self._stats if k[0] == stream]:
                    del self._stats[key]
                self._stats.update(before)
                raise

        self._write(change)

    def process(self, stream: str, last_incoming_id: int, rows: list[NewRow]) -> None:
        """Replace the incoming records up to `last_incoming_id` with their processed `rows`."""

        def change(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM incoming WHERE stream = ? AND id <= ?", (stream, last_incoming_id)
            )
            self._insert(conn, stream, rows)
            self._recount(conn, stream, INCOMING)

        self._write(change)

    def seal(self, stream: str, part: str, last_id: int, plan: dict[str, Any]) -> None:
        """Record that the records of `part` up to `last_id` go into the object `plan` names."""
        text = json.dumps(plan, separators=(",", ":"))
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO sealed (stream, part, last_id, plan) VALUES (?, ?, ?, ?)",
                (stream, part, last_id, text),
            )
        )

    def finish(self, stream: str, part: str, last_id: int) -> None:
        """The sealed object is written: forget its records and its plan, in one commit."""

        def change(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM staged WHERE stream = ? AND part = ? AND id <= ?",
                (stream, part, last_id),
            )
            conn.execute("DELETE FROM sealed WHERE stream = ? AND part = ?", (stream, part))
            self._recount(conn, stream, part)

        self._write(change)

    def drop_stream(self, stream: str) -> None:
        """Forget everything buffered for a deleted stream."""

        def change(conn: sqlite3.Connection) -> None:
            for table in ("incoming", "staged", "sealed", "checkpoints"):
                conn.execute(f"DELETE FROM {table} WHERE stream = ?", (stream,))
            for key in [k for k in self._stats if k[0] == stream]:
                del self._stats[key]

        self._write(change)

    # -- reads ----------------------------------------------------------------------------------

    def incoming(self, stream: str, limit_bytes: int) -> list[Row]:
        """The oldest incoming records, about `limit_bytes` of them (at least one)."""
        return self._take(
            "SELECT id, arrival_ms, data, meta FROM incoming WHERE stream = ? ORDER BY id",
            (stream,),
            limit_bytes,
        )

    def staged(
        self, stream: str, part: str, limit_bytes: int | None = None, last_id: int | None = None
    ) -> list[Row]:
        """The oldest records of a part: about `limit_bytes` of them, or all up to `last_id`."""
        if last_id is not None:
            return self._take(
                "SELECT id, arrival_ms, data, meta FROM staged WHERE stream = ? AND part = ?"
                " AND id <= ? ORDER BY id",
                (stream, part, last_id),
                None,
            )
        return self._take(
            "SELECT id, arrival_ms, data, meta FROM staged WHERE stream = ? AND part = ?"
            " ORDER BY id",
            (stream, part),
            limit_bytes,
        )

    def _take(self, query: str, args: tuple[Any, ...], limit_bytes: int | None) -> list[Row]:
        rows: list[Row] = []
        total = 0
        with self._db:
            cursor = self._conn.execute(query, args)
            try:
                for rid, arrival, data, meta in cursor:
                    rows.append(Row(rid, arrival, bytes(data), _meta(meta)))
                    total += len(data)
                    # A flush takes records until the size is reached: the record that crosses
                    # the threshold is the last one in the object.
                    if limit_bytes is not None and total >= limit_bytes:
                        break
            finally:
                cursor.close()
        return rows

    def sealed(self) -> list[tuple[str, str, int, dict[str, Any]]]:
        with self._db:
            return [
                (stream, part, last_id, json.loads(plan))
                for stream, part, last_id, plan in self._conn.execute(
                    "SELECT stream, part, last_id, plan FROM sealed"
                )
            ]

    def checkpoints(self, stream: str) -> dict[str, tuple[str | None, bool]]:
        """shard -> (last sequence number read, whether the shard is read to its end)."""
        with self._db:
            return {
                shard: (sequence, bool(finished))
                for shard, sequence, finished in self._conn.execute(
                    "SELECT shard, sequence, finished FROM checkpoints WHERE stream = ?", (stream,)
                )
            }
