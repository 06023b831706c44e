"""Waiting for shard logs to be durable from an event loop (`flushing.ParallelCommit.durable`),
as the PutRecord and PutRecords handlers do, and the answers that wait gives through the
gateway with fsync on."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tule.services.kinesis.flushing import ParallelCommit
from tule.services.kinesis.hashkeys import partition_hash
from tule.storage.shard_log import ShardLog
from tule.testing import TuleServer


def _count_flushes(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> list[int]:
    """Make every fdatasync slow by `delay` and count them (in the list's one item)."""
    count = [0]
    real = os.fdatasync
    lock = threading.Lock()

    def counting(fd: int) -> None:
        with lock:
            count[0] += 1
        time.sleep(delay)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    return count


def test_durable_returns_once_the_records_are_visible(tmp_path: Path):
    log = ShardLog(tmp_path / "log", fsync=True)
    commit = ParallelCommit()
    positions, _ = log.write([(b"k", b"v1"), (b"k", b"v2")], 1)
    assert log.read(0, 10) == []
    asyncio.run(commit.durable([(log, positions.stop)]))
    assert log.end == positions.stop
    assert [r[3] for r in log.read(0, 10)] == [b"v1", b"v2"]
    commit.close()
    log.close()


def test_concurrent_waiters_share_flushes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    flushes = _count_flushes(monkeypatch, delay=0.02)
    logs = [ShardLog(tmp_path / f"log{i}", fsync=True) for i in range(2)]
    commit = ParallelCommit()
    callers = 40

    async def put(n: int) -> int:
        log = logs[n % 2]
        positions, _ = log.write([(b"k", f"{n}".encode())], 1)
        await commit.durable([(log, positions.stop)])
        # Acknowledged only once durable: the record is readable as this returns.
        assert log.end >= positions.stop
        return positions.start

    async def main() -> list[int]:
        return await asyncio.gather(*(put(n) for n in range(callers)))

    starts = asyncio.run(main())
    assert sorted(starts) == sorted(list(range(callers // 2)) * 2)
    assert all(log.end == callers // 2 for log in logs)
    assert flushes[0] < callers // 2  # most callers rode on a flush another caller started
    commit.close()
    for log in logs:
        log.close()


def test_a_failed_flush_fails_every_caller_waiting_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    log = ShardLog(tmp_path / "log", fsync=True)
    commit = ParallelCommit()
    real = os.fdatasync

    def failing(fd: int) -> None:
        time.sleep(0.01)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)

    async def put(n: int) -> None:
        positions, _ = log.write([(b"k", f"{n}".encode())], 1)
        await commit.durable([(log, positions.stop)])

    async def main() -> list[Any]:
        return await asyncio.gather(*(put(n) for n in range(5)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, OSError) and o.errno == 5 for o in outcomes)
    assert log.read(0, 10) == []  # nothing failed to flush is visible
    # The log is not left waiting on a flush that will never come: the next one leads.
    monkeypatch.setattr(os, "fdatasync", real)
    asyncio.run(commit.durable([(log, log.appended_end)]))
    assert len(log.read(0, 10)) == 5
    commit.close()
    log.close()


def test_without_fsync_durable_needs_no_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    flushes = _count_flushes(monkeypatch)
    log = ShardLog(tmp_path / "log", fsync=False)
    commit = ParallelCommit()
    positions, _ = log.write([(b"k", b"v")], 1)
    asyncio.run(commit.durable([(log, positions.stop)]))
    assert flushes[0] == 0 and len(log.read(0, 10)) == 1
    commit.close()
    log.close()


def test_partition_hash_is_the_md5_of_the_key_as_a_big_endian_integer():
    for key in ("a", "k123456789", "é-ключ-🔑", "x" * 256):
        expected = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
        assert partition_hash(key) == expected


def test_concurrent_puts_are_acknowledged_durable_and_in_order(tmp_path: Path):
    with TuleServer(tmp_path, fsync=True) as server:
        kinesis = server.client("kinesis")
        kinesis.create_stream(StreamName="s", ShardCount=2)
        acked: dict[str, list[tuple[str, bytes]]] = {}
        lock = threading.Lock()

        def putter(n: int) -> None:
            client = server.client("kinesis")
            for i in range(15):
                data = f"{n}:{i}".encode()
                if i % 5 == 4:
                    out = client.put_records(
                        StreamName="s", Records=[{"PartitionKey": f"p{n}", "Data": data}]
                    )
                    assert out["FailedRecordCount"] == 0
                    got = out["Records"][0]
                else:
                    got = client.put_record(StreamName="s", PartitionKey=f"p{n}", Data=data)
                with lock:
                    acked.setdefault(got["ShardId"], []).append((got["SequenceNumber"], data))

        threads = [threading.Thread(target=putter, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(len(v) for v in acked.values()) == 8 * 15
        for shard_id, puts in acked.items():
            it = kinesis.get_shard_iterator(
                StreamName="s", ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records = kinesis.get_records(ShardIterator=it, Limit=1000)["Records"]
            # Everything acknowledged is readable, under the sequence number it was given.
            assert [(r["SequenceNumber"], r["Data"]) for r in records] == sorted(
                puts, key=lambda p: int(p[0])
            )
