"""The event store: log events in a SQLite file of their own (WAL), beside the catalog.

Why not the MetadataStore: events are many small ordered rows read by time range, which a
key-value store of JSON records serves poorly. Two tables:

- `streams`: one row per stream that has ever received an event, keyed by the stream's `uid`
  (never its name, so a stream deleted and re-created starts empty, as in AWS), holding the
  ingestion stats DescribeLogStreams reports. They are updated in the same transaction as the
  events they describe, so the stats and the events can never disagree.
- `events`: `seq` is an AUTOINCREMENT rowid (store-wide, never reused), indexed by
  (sid, timestamp) - and so by (sid, timestamp, seq), since SQLite appends the rowid to every
  index. (timestamp, seq) orders events totally; paging tokens point at such positions.

Deleting a stream or group spans two databases (catalog record, then events), so it is made
crash-safe by marking the rows `doomed` first: a restart finishes interrupted deletions, and
un-dooms rows whose catalog record turns out to be still there.

Writes are serialized by one lock on one connection and committed with synchronous=FULL when
fsync is on, so a PutLogEvents that returned survives power loss. Reads use one connection per
thread and fetch whole result sets, so no statement holds a read snapshot open between calls.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tule.services.logs.models import LogEvent, LogStream, Position, StreamStats

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    sid INTEGER PRIMARY KEY,
    stream_uid TEXT NOT NULL UNIQUE,
    group_uid TEXT NOT NULL,
    catalog_key TEXT NOT NULL,
    first_ts INTEGER,
    last_ts INTEGER,
    last_ingestion INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    puts INTEGER NOT NULL DEFAULT 0,
    doomed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS streams_by_group ON streams (group_uid);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    ingestion INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_stream ON events (sid, ts);
"""

_STATS = (
    "SELECT stream_uid, first_ts, last_ts, last_ingestion, stored_bytes, sid, puts FROM streams"
)
_CHUNK = 512  # rows fetched at a time while scanning several streams
_MAX_VARS = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit


def sequence_token(sid: int, puts: int) -> str:
    """A sequence token in AWS's shape (56 decimal digits), advancing with each put."""
    return f"49{sid:018d}{puts:036d}"


def _stats(row: tuple) -> StreamStats:
    _, first, last, ingestion, stored, sid, puts = row
    return StreamStats(
        first_event_timestamp=first,
        last_event_timestamp=last,
        last_ingestion_time=ingestion,
        stored_bytes=stored,
        upload_sequence_token=sequence_token(sid, puts) if puts else None,
    )


class EventStore:
    """Log events of every account and region, in one SQLite file."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        self._writer = self._connect()
        mode = self._writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode!r})")
        # In WAL mode FULL syncs the log at every commit; NORMAL only at checkpoints.
        self._writer.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        self._writer.executescript(_SCHEMA)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=30
        )

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("event store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            with self._lock:
                self._readers.append(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise RuntimeError("event store is closed")
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Also after a failed COMMIT, so the connection is never left mid-transaction.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # Writes

    def append(
        self, stream: LogStream, catalog_key: str, events: list[tuple[int, str]], ingestion: int
    ) -> StreamStats:
        """Store `events` (already in timestamp order) in one durable commit; the new stats."""
        with self._write() as conn:
            row = conn.execute("SELECT sid FROM streams WHERE stream_uid = ?", (stream.uid,))
            found = row.fetchone()
            if found is None:
                sid = conn.execute(
                    "INSERT INTO streams (stream_uid, group_uid, catalog_key) VALUES (?, ?, ?)",
                    (stream.uid, stream.group_uid, catalog_key),
                ).lastrowid
            else:
                sid = found[0]
            conn.executemany(
                "INSERT INTO events (sid, ts, ingestion, message) VALUES (?, ?, ?, ?)",
                [(sid, ts, ingestion, message) for ts, message in events],
            )
            first, last = events[0][0], events[-1][0]
            size = sum(len(message.encode()) for _, message in events)
            conn.execute(
                "UPDATE streams SET first_ts = min(coalesce(first_ts, ?), ?),"
                " last_ts = max(coalesce(last_ts, ?), ?), last_ingestion = ?,"
                " stored_bytes = stored_bytes + ?, puts = puts + 1 WHERE sid = ?",
                (first, first, last, last, ingestion, size, sid),
            )
            return _stats(conn.execute(f"{_STATS} WHERE sid = ?", (sid,)).fetchone())

    def doom_stream(self, stream_uid: str, doomed: bool = True) -> int:
        """Mark a stream's events for deletion (or, with `doomed=False`, take the mark back);
        returns how many stats rows changed (0: the stream never had events)."""
        return self._mark("stream_uid", stream_uid, doomed)

    def doom_group(self, group_uid: str, doomed: bool = True) -> int:
        """Mark the events of all a group's streams for deletion (or take the mark back)."""
        return self._mark("group_uid", group_uid, doomed)

    def _mark(self, column: str, uid: str, doomed: bool) -> int:
        with self._write() as conn:
            sql = f"UPDATE streams SET doomed = ? WHERE {column} = ? AND doomed != ?"
            return conn.execute(sql, (int(doomed), uid, int(doomed))).rowcount

    def purge_doomed(self) -> None:
        """Delete the events and stats of every doomed stream."""
        with self._write() as conn:
            conn.execute("DELETE FROM events WHERE sid IN (SELECT sid FROM streams WHERE doomed)")
            conn.execute("DELETE FROM streams WHERE doomed")

    def sweep(self, is_live: Callable[[str, str], bool]) -> None:
        """Finish deletions a crash interrupted. `is_live(catalog_key, stream_uid)` says whether
        the catalog still holds the stream, i.e. the deletion never happened."""
        doomed = (
            self._reader()
            .execute("SELECT stream_uid, catalog_key FROM streams WHERE doomed")
            .fetchall()
        )
        alive = [uid for uid, key in doomed if is_live(key, uid)]
        if alive:
            with self._write() as conn:
                conn.executemany(
                    "UPDATE streams SET doomed = 0 WHERE stream_uid = ?", [(u,) for u in alive]
                )
        if doomed:
            self.purge_doomed()

    def expire(self, group_uid: str, floor: int) -> None:
        """Delete a group's events older than `floor`, as retention does in AWS."""
        with self._write() as conn:
            conn.execute(
                "DELETE FROM events WHERE sid IN (SELECT sid FROM streams WHERE group_uid = ?)"
                " AND ts < ?",
                (group_uid, floor),
            )
            conn.execute(
                "UPDATE streams SET stored_bytes = (SELECT coalesce(sum(length(CAST(message AS"
                " BLOB))), 0) FROM events WHERE events.sid = streams.sid) WHERE group_uid = ?",
                (group_uid,),
            )

    # Reads

    def stats(self, stream_uids: list[str]) -> dict[str, StreamStats]:
        out: dict[str, StreamStats] = {}
        for i in range(0, len(stream_uids), _MAX_VARS):
            chunk = stream_uids[i : i + _MAX_VARS]
            marks = ",".join("?" * len(chunk))
            rows = self._reader().execute(
                f"{_STATS} WHERE stream_uid IN ({marks}) AND NOT doomed", chunk
            )
            out.update((row[0], _stats(row)) for row in rows.fetchall())
        return out

    def group_stats(self, group_uid: str) -> dict[str, StreamStats]:
        rows = self._reader().execute(f"{_STATS} WHERE group_uid = ? AND NOT doomed", (group_uid,))
        return {row[0]: _stats(row) for row in rows.fetchall()}

    def group_bytes(self, group_uid: str) -> int:
        sql = "SELECT coalesce(sum(stored_bytes), 0) FROM streams WHERE group_uid = ?"
        sql += " AND NOT doomed"
        row = self._reader().execute(sql, (group_uid,)).fetchone()
        return int(row[0])

    def page(
        self,
        stream_uid: str,
        *,
        lo: int,
        hi: int | None,
        after: Position | None = None,
        before: Position | None = None,
        limit: int,
        newest_first: bool = False,
    ) -> list[LogEvent]:
        """Up to `limit` events of one stream with lo <= timestamp < hi, strictly between the
        positions `after` and `before`: the oldest ones, or with `newest_first` the newest
        ones. Either way they come back in ascending order."""
        sql = (
            "SELECT e.ts, e.seq, e.ingestion, e.message FROM events e JOIN streams s"
            " ON e.sid = s.sid WHERE s.stream_uid = ? AND NOT s.doomed AND e.ts >= ?"
        )
        params: list[object] = [stream_uid, lo]
        if hi is not None:
            sql += " AND e.ts < ?"
            params.append(hi)
        if after is not None:
            sql += " AND (e.ts, e.seq) > (?, ?)"
            params += after
        if before is not None:
            sql += " AND (e.ts, e.seq) < (?, ?)"
            params += before
        order = "DESC" if newest_first else "ASC"
        sql += f" ORDER BY e.ts {order}, e.seq {order} LIMIT ?"
        params.append(limit)
        rows = self._reader().execute(sql, params).fetchall()
        if newest_first:
            rows.reverse()
        return [LogEvent(ts, seq, ing, msg, stream_uid) for ts, seq, ing, msg in rows]

    def scan(
        self, stream_uids: list[str], *, lo: int, hi: int | None, after: Position | None
    ) -> Iterator[LogEvent]:
        """Events of several streams merged in (timestamp, seq) order, lo <= timestamp < hi,
        after `after`. Each stream is read in chunks, so stopping early costs nothing."""
        sids = self._sids(stream_uids)
        sources = [self._chunks(sid, uid, lo, hi, after) for uid, sid in sids.items()]
        return heapq.merge(*sources, key=lambda e: e.position)

    def _sids(self, stream_uids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(0, len(stream_uids), _MAX_VARS):
            chunk = stream_uids[i : i + _MAX_VARS]
            marks = ",".join("?" * len(chunk))
            rows = self._reader().execute(
                f"SELECT stream_uid, sid FROM streams WHERE stream_uid IN ({marks}) AND NOT doomed",
                chunk,
            )
            out.update(rows.fetchall())
        return out

    def _chunks(
        self, sid: int, uid: str, lo: int, hi: int | None, after: Position | None
    ) -> Iterator[LogEvent]:
        cursor = after if after is not None else (lo, 0)
        while True:
            sql = "SELECT ts, seq, ingestion, message FROM events WHERE sid = ? AND ts >= ?"
            params: list[object] = [sid, lo]
            if hi is not None:
                sql += " AND ts < ?"
                params.append(hi)
            sql += " AND (ts, seq) > (?, ?) ORDER BY ts, seq LIMIT ?"
            rows = self._reader().execute(sql, [*params, *cursor, _CHUNK]).fetchall()
            for ts, seq, ing, msg in rows:
                yield LogEvent(ts, seq, ing, msg, uid)
            if len(rows) < _CHUNK:
                return
            cursor = (rows[-1][0], rows[-1][1])

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
            for conn in self._readers:
                conn.close()
            self._readers.clear()
