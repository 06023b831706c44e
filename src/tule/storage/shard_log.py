"""A durable shard log: one ordered, append-only sequence of records in segment files.

The interface is deliberately small, so that another log (a Kafka partition, say) can stand in
for it later: `append(records) -> positions`, `read(from_position, limit)`, `trim(before_ms)`,
plus the bounds (`start`, `end`) and `position_at(time_ms)` for time-based positions.

Positions are dense integers from 0, one per record, in append order. Each record holds an
arrival time (epoch milliseconds, never decreasing along the log), a key (the partition key's
UTF-8 bytes) and its data. On disk a folder holds segment files named for the position of their
first record (`00000000000000000000.seg`); each append is one chunk:

    chunk:  body length u32 | crc32 of the body u32 | arrival ms i64 | record count u32 | body
    body:   per record: key + data length u32 | key length u16 | key | data

(little-endian). One CRC per append rather than per record: a PutRecords of 500 records costs
one checksum call. Opening a log scans its segments and cuts the last one at the first chunk
that is torn or fails its CRC: only the unacknowledged tail of a crash can be there. Record
offsets and arrival times stay in memory (16 bytes a record), so a read is one `pread` of a
contiguous byte range.

Durability is group-committed: `write` puts frames in the page cache (fast, under the log's
lock) and `commit` waits until a flush covers them. Whichever committer finds no flush in
progress leads: it flushes everything written so far with one `fdatasync` and wakes the others,
so concurrent appenders share a flush instead of queueing one each (the disk of the dev VM
gives ~260 flushes/s). Readers see records only once they are durable, so nothing a reader was
given can vanish in a power loss. With `fsync=False` records are visible as soon as written.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tule.storage.durability import fsync_dir

_CHUNK = struct.Struct("<IIqI")  # body length, crc32 of the body, arrival ms, record count
_RECORD = struct.Struct("<IH")  # key + data length, key length
CHUNK_HEAD = _CHUNK.size
RECORD_HEAD = _RECORD.size
SEGMENT_BYTES = 64 << 20
_SUFFIX = ".seg"

# A record read back: (position, arrival ms, key, data). Plain tuples: a GetRecords call makes
# ten thousand of them, and a named tuple costs twice as much to build.
LogRecord = tuple[int, int, bytes, bytes]


class ShardLogClosed(RuntimeError):
    """The log was closed (its stream deleted) while someone was using it."""


@dataclass(eq=False)
class _Segment:
    base: int  # position of its first record
    path: Path
    fd: int  # opened read-write; reads use pread, writes pwrite at `size`
    size: int = 0
    offsets: array = field(default_factory=lambda: array("q"))  # record starts
    times: array = field(default_factory=lambda: array("q"))  # arrival ms per record

    @property
    def end(self) -> int:
        return self.base + len(self.offsets)


def _segment_name(base: int) -> str:
    return f"{base:020d}{_SUFFIX}"


def encode(records: Sequence[tuple[bytes, bytes]], arrival_ms: int) -> tuple[bytes, list[int]]:
    """One chunk holding `(key, data)` records arriving at `arrival_ms`, and where each record
    starts in it."""
    parts: list[bytes] = [b""]
    starts: list[int] = []
    at = CHUNK_HEAD
    pack = _RECORD.pack
    for key, data in records:
        parts.append(pack(len(key) + len(data), len(key)))
        parts.append(key)
        parts.append(data)
        starts.append(at)
        at += RECORD_HEAD + len(key) + len(data)
    body = b"".join(parts)
    head = _CHUNK.pack(len(body), zlib.crc32(body), arrival_ms, len(starts))
    return head + body, starts


def _scan(buf: bytes) -> tuple[list[int], list[int], int]:
    """Record offsets and arrival times of the valid chunks at the start of `buf`, and where
    the valid part ends (a torn or corrupt chunk ends the scan)."""
    offsets: list[int] = []
    times: list[int] = []
    at, total = 0, len(buf)
    view = memoryview(buf)
    unpack_chunk, unpack_record = _CHUNK.unpack_from, _RECORD.unpack_from
    while at + CHUNK_HEAD <= total:
        length, crc, arrival, count = unpack_chunk(view, at)
        body = at + CHUNK_HEAD
        end = body + length
        if end > total or zlib.crc32(view[body:end]) != crc:
            break
        found: list[int] = []
        record = body
        while record + RECORD_HEAD <= end and len(found) < count:
            size, key_len = unpack_record(view, record)
            if key_len > size:
                break
            found.append(record)
            record += RECORD_HEAD + size
        if len(found) != count or record != end:
            break
        offsets.extend(found)
        times.extend([arrival] * count)
        at = end
    return offsets, times, at


class ShardLog:
    """The durable log of one shard, in the folder `path` (created if missing)."""

    def __init__(self, path: Path, *, fsync: bool = True, segment_bytes: int = SEGMENT_BYTES):
        self.path = Path(path)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()  # guards the segments and the write end
        self._synced = threading.Condition(threading.Lock())  # guards _durable and _flushing
        self._flushing = False
        self._closed = False
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        if created and fsync:
            fsync_dir(self.path.parent)
        self._segments: list[_Segment] = self._recover()
        self._bases = [s.base for s in self._segments]
        self._end = self._segments[-1].end
        self._durable = self._end  # what a restart finds was durable, or is now
        # Segments written to since their last flush (more than one only across a roll).
        self._dirty: set[_Segment] = set()
        self._trimmed: list[_Segment] = []

    # Opening

    def _recover(self) -> list[_Segment]:
        names = sorted(p for p in self.path.iterdir() if p.name.endswith(_SUFFIX))
        segments: list[_Segment] = []
        for index, p in enumerate(names):
            base = int(p.name[: -len(_SUFFIX)])
            if segments and base != segments[-1].end:
                # A gap means the segments after it were never acknowledged whole (the
                # previous segment lost its tail): drop them rather than renumber.
                for stale in names[index:]:
                    stale.unlink()
                break
            fd = os.open(p, os.O_RDWR)
            data = _read_all(fd)
            offsets, times, valid = _scan(data)
            if valid < len(data):
                os.ftruncate(fd, valid)
                if self.fsync:
                    os.fdatasync(fd)
            segments.append(_Segment(base, p, fd, valid, array("q", offsets), array("q", times)))
        if not segments:
            segments.append(self._new_segment(0))
        return segments

    def _new_segment(self, base: int) -> _Segment:
        p = self.path / _segment_name(base)
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        if self.fsync:
            fsync_dir(self.path)  # the new name must survive before records in it are acked
        return _Segment(base, p, fd)

    # Bounds

    @property
    def start(self) -> int:
        """The first position still stored (earlier ones were trimmed)."""
        return self._segments[0].base

    @property
    def end(self) -> int:
        """The position the next record will get, counting only records readers may see."""
        return self._durable

    @property
    def appended_end(self) -> int:
        """The position after the last record written, durable or not yet."""
        return self._end

    def arrival_ms(self, position: int) -> int | None:
        """The arrival time of the record at `position`, if it is stored and visible."""
        end = self._durable
        with self._lock:
            segments, bases = list(self._segments), list(self._bases)
        if not bases[0] <= position < end:
            return None
        seg = segments[bisect_right(bases, position) - 1]
        return seg.times[position - seg.base]

    def position_at(self, time_ms: int) -> int:
        """The first visible position whose record arrived at or after `time_ms` (`end` if
        none did)."""
        end = self._durable
        with self._lock:
            segments = list(self._segments)
        for seg in segments:
            times = seg.times
            count = min(len(times), end - seg.base)
            if count > 0 and times[count - 1] >= time_ms:
                lo, hi = 0, count
                while lo < hi:
                    mid = (lo + hi) // 2
                    if times[mid] < time_ms:
                        lo = mid + 1
                    else:
                        hi = mid
                return seg.base + lo
        return end

    # Writing

    def append(self, records: Sequence[tuple[bytes, bytes]], arrival_ms: int) -> range:
        """Store `(key, data)` records durably; their positions."""
        positions, _ = self.write(records, arrival_ms)
        self.commit(positions.stop)
        return positions

    def write(self, records: Sequence[tuple[bytes, bytes]], arrival_ms: int) -> tuple[range, int]:
        """Put records in the log without waiting for durability (see `commit`); their
        positions and the arrival time they got: one earlier than the last record's is raised
        to it, so times never go backwards along the log."""
        if not records:
            return range(self._end, self._end), arrival_ms
        with self._lock:
            if self._closed:
                raise ShardLogClosed(str(self.path))
            seg = self._segments[-1]
            if seg.times and seg.times[-1] > arrival_ms:
                arrival_ms = seg.times[-1]
            blob, starts = encode(records, arrival_ms)
            if seg.size and seg.size + len(blob) > self.segment_bytes:
                seg = self._roll()
            _write_all(seg.fd, blob, seg.size)
            at = seg.size
            seg.offsets.extend([at + start for start in starts])
            seg.times.extend([arrival_ms] * len(starts))
            seg.size = at + len(blob)
            first = self._end
            self._end += len(starts)
            if self.fsync:
                self._dirty.add(seg)
            else:
                self._durable = self._end
            return range(first, self._end), arrival_ms

    def _roll(self) -> _Segment:
        """Start a new segment (under the lock); the old one is flushed first, so a segment is
        only ever followed by another once it is complete on disk."""
        old = self._segments[-1]
        if self.fsync:
            os.fdatasync(old.fd)
            self._dirty.discard(old)
        seg = self._new_segment(old.end)
        self._segments.append(seg)
        self._bases.append(seg.base)
        return seg

    def commit(self, position: int) -> None:
        """Return once every record before `position` is durable (and visible)."""
        if not self.fsync:
            return
        with self._synced:
            while self._durable < position:
                if not self._flushing:
                    self._flushing = True
                    break
                self._synced.wait()
            else:
                return
        # This thread leads a flush of everything written so far.
        try:
            with self._lock:
                if self._closed:
                    raise ShardLogClosed(str(self.path))
                goal = self._end
                dirty, self._dirty = self._dirty, set()
            for seg in dirty:
                os.fdatasync(seg.fd)
        except BaseException:
            with self._synced:
                self._flushing = False
                self._synced.notify_all()
            raise
        with self._synced:
            self._durable = max(self._durable, goal)
            self._flushing = False
            self._synced.notify_all()

    # Reading

    def read(self, from_position: int, limit: int, max_bytes: int | None = None) -> list[LogRecord]:
        """Up to `limit` visible records from `from_position` (raised to `start`), stopping
        before `max_bytes` of frames (but always returning at least one record if any)."""
        end = self._durable  # first, so the snapshot holds every segment up to it
        with self._lock:
            segments, bases = list(self._segments), list(self._bases)
        position = max(from_position, bases[0])
        out: list[LogRecord] = []
        budget = max_bytes
        while position < end and len(out) < limit:
            seg = segments[max(0, bisect_right(bases, position) - 1)]
            first = position - seg.base
            stop = min(end, seg.end) - seg.base
            stop = min(stop, first + limit - len(out))
            offsets = seg.offsets
            lo = offsets[first]
            hi = offsets[stop] if stop < len(offsets) else seg.size
            if budget is not None and hi - lo > budget:
                # Shrink to what fits the byte budget (at least one record).
                count = bisect_right(offsets, lo + budget, first, stop) - first - 1
                stop = first + max(1, count) if not out else first + max(0, count)
                if stop == first:
                    break
                hi = offsets[stop] if stop < len(offsets) else seg.size
            try:
                buf = os.pread(seg.fd, hi - lo, lo)
            except OSError:
                if self._closed:
                    raise ShardLogClosed(str(self.path)) from None
                raise
            out.extend(_frames(buf, lo, seg, first, stop))
            if budget is not None:
                budget -= hi - lo
                if budget <= 0:
                    break
            position = seg.base + stop
        return out

    # Retention

    def trim(self, before_ms: int) -> int:
        """Delete whole segments whose records all arrived before `before_ms` (never the one
        being written); returns the new `start`."""
        with self._lock:
            while len(self._segments) > 1:
                seg = self._segments[0]
                if not seg.times or seg.times[-1] >= before_ms:
                    break
                self._segments.pop(0)
                self._bases.pop(0)
                seg.path.unlink(missing_ok=True)
                # Closed at the next trim, not now: a reader that took its snapshot before
                # this trim may still pread it, and a reused descriptor would read another
                # file.
                self._trimmed.append(seg)
            for seg in self._trimmed[:-8]:
                os.close(seg.fd)
            del self._trimmed[:-8]
            return self._segments[0].base

    def close(self) -> None:
        """Release the files; later calls raise `ShardLogClosed`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for seg in self._segments + self._trimmed:
                os.close(seg.fd)
            self._trimmed.clear()
        with self._synced:
            self._synced.notify_all()

    def destroy(self) -> None:
        """Close and delete the log's folder."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _frames(buf: bytes, lo: int, seg: _Segment, first: int, stop: int) -> list[LogRecord]:
    """The records `first` to `stop` (indexes in `seg`) from `buf`, which starts at `lo`."""
    out: list[LogRecord] = []
    unpack = _RECORD.unpack_from
    offsets, times = seg.offsets, seg.times
    position = seg.base + first
    for i in range(first, stop):
        at = offsets[i] - lo
        size, key_len = unpack(buf, at)
        body = at + RECORD_HEAD
        split = body + key_len
        out.append((position, times[i], buf[body:split], buf[split : body + size]))
        position += 1
    return out


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    parts: list[bytes] = []
    at = 0
    while at < size:
        chunk = os.pread(fd, min(size - at, 16 << 20), at)
        if not chunk:
            break
        parts.append(chunk)
        at += len(chunk)
    return b"".join(parts)


def _write_all(fd: int, blob: bytes, offset: int) -> None:
    view = memoryview(blob)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written
