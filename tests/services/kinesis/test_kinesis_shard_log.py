"""The durable shard log (`tule.storage.shard_log`): recovery, segments, trimming, group commit."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tule.storage.shard_log import ShardLog, ShardLogClosed


def _records(n: int, tag: str = "r") -> list[tuple[bytes, bytes]]:
    return [(f"k{i}".encode(), f"{tag}{i}".encode()) for i in range(n)]


def test_appended_records_read_back_by_position(tmp_path: Path):
    log = ShardLog(tmp_path / "log", fsync=False)
    assert log.append(_records(5), 1000) == range(0, 5)
    assert log.append(_records(3, "s"), 2000) == range(5, 8)
    got = log.read(3, 4)
    assert got == [
        (3, 1000, b"k3", b"r3"),
        (4, 1000, b"k4", b"r4"),
        (5, 2000, b"k0", b"s0"),
        (6, 2000, b"k1", b"s1"),
    ]
    assert log.position_at(1500) == 5 and log.position_at(9999) == 8
    log.close()
    with pytest.raises(ShardLogClosed):
        log.append(_records(1), 3000)


def test_arrival_times_never_go_backwards(tmp_path: Path):
    log = ShardLog(tmp_path / "log", fsync=False)
    log.append(_records(1), 5000)
    _, arrived = log.write(_records(1), 4000)
    assert arrived == 5000 and log.arrival_ms(1) == 5000


def test_a_torn_tail_is_cut_off_when_the_log_is_opened(tmp_path: Path):
    log = ShardLog(tmp_path / "log")
    log.append(_records(10), 1000)
    log.close()
    (segment,) = (tmp_path / "log").iterdir()
    size = segment.stat().st_size
    with open(segment, "ab") as f:
        f.write(b"\x30\x00\x00\x00garbage")  # half a frame, as a crash mid-write leaves
    reopened = ShardLog(tmp_path / "log")
    assert reopened.end == 10
    assert segment.stat().st_size == size
    assert reopened.append(_records(1, "after"), 2000) == range(10, 11)
    assert reopened.read(10, 5)[0][3] == b"after0"
    reopened.close()


def test_a_corrupt_frame_ends_the_log_there(tmp_path: Path):
    log = ShardLog(tmp_path / "log")
    log.append(_records(6), 1000)
    log.append(_records(4), 2000)
    log.close()
    (segment,) = (tmp_path / "log").iterdir()
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # inside the last append's data: its CRC no longer matches
    segment.write_bytes(bytes(data))
    reopened = ShardLog(tmp_path / "log")
    assert reopened.end == 6
    reopened.close()


def test_segments_roll_and_reads_cross_them(tmp_path: Path):
    log = ShardLog(tmp_path / "log", fsync=False, segment_bytes=200)
    for i in range(10):
        log.append(_records(3, f"b{i}-"), 1000 * i)
    assert len(list((tmp_path / "log").iterdir())) > 3
    got = log.read(0, 100)
    assert [r[0] for r in got] == list(range(30))
    assert got[29][3] == b"b9-2"
    log.close()
    reopened = ShardLog(tmp_path / "log", fsync=False, segment_bytes=200)
    assert [r[3] for r in reopened.read(0, 100)] == [r[3] for r in got]
    reopened.close()


def test_trim_deletes_whole_segments_older_than_the_cutoff(tmp_path: Path):
    log = ShardLog(tmp_path / "log", fsync=False, segment_bytes=200)
    for i in range(10):
        log.append(_records(3), 1000 * i)
    start = log.trim(5000)
    assert 0 < start <= 15  # segments holding only records before 5000 are gone
    assert log.read(0, 1)[0][0] == start
    assert log.read(0, 100)[-1][0] == 29
    log.close()


def test_byte_budget_limits_a_read_but_returns_at_least_one_record(tmp_path: Path):
    log = ShardLog(tmp_path / "log", fsync=False)
    log.append([(b"k", b"x" * 1000)] * 5, 1)
    assert len(log.read(0, 10, max_bytes=2500)) == 2
    assert len(log.read(0, 10, max_bytes=10)) == 1


def test_records_are_invisible_until_committed(tmp_path: Path):
    log = ShardLog(tmp_path / "log", fsync=True)
    positions, _ = log.write(_records(2), 1)
    assert log.read(0, 10) == [] and log.end == 0 and log.appended_end == 2
    log.commit(positions.stop)
    assert len(log.read(0, 10)) == 2
    log.close()


def test_concurrent_appenders_share_flushes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    flushes = 0
    real = os.fdatasync
    lock = threading.Lock()

    def counting(fd: int) -> None:
        nonlocal flushes
        with lock:
            flushes += 1
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    log = ShardLog(tmp_path / "log", fsync=True)
    appends_each, threads = 25, 8

    def writer(n: int) -> None:
        for i in range(appends_each):
            log.append([(b"k", f"{n}:{i}".encode())], 1)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert log.end == appends_each * threads
    assert flushes < appends_each * threads  # some appends were covered by another's flush
    per_writer = {}
    for r in log.read(0, 1000):
        n, i = r[3].decode().split(":")
        per_writer.setdefault(n, []).append(int(i))
    assert all(v == list(range(appends_each)) for v in per_writer.values())
    log.close()
