"""Per-shard throughput limits (spec §6.3): writes of 1 MiB and 1,000 records per second, reads
of 5 GetRecords calls and 2 MiB per second.

Writes and read calls are counted in one-second windows of the injected clock (a test moves the
clock to the next second to free the shard). Read bytes are a budget that refills at 2 MiB/s
and may go into debt: after one 10 MiB response, calls are refused until the debt is repaid,
about 5 seconds, which is what AWS documents. Counters live in memory: a restart forgives.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

WRITE_BYTES_PER_S = 1 << 20
WRITE_RECORDS_PER_S = 1000
READ_BYTES_PER_S = 2 << 20
READ_CALLS_PER_S = 5


@dataclass
class _ShardMeter:
    write_second: int = -1
    write_bytes: int = 0
    write_records: int = 0
    read_second: int = -1
    read_calls: int = 0
    read_budget: float = READ_BYTES_PER_S
    read_checked: float = 0.0


class Throughput:
    """The meters of every shard, keyed by (stream uid, shard id)."""

    def __init__(self) -> None:
        self._meters: dict[tuple[str, str], _ShardMeter] = {}
        self._lock = threading.Lock()

    def _meter(self, key: tuple[str, str]) -> _ShardMeter:
        meter = self._meters.get(key)
        if meter is None:
            meter = self._meters.setdefault(key, _ShardMeter())
        return meter

    def admit_writes(self, key: tuple[str, str], sizes: list[int], now: float) -> list[bool]:
        """Which of these records (by size) the shard takes now; the taken ones are counted."""
        second = int(now)
        with self._lock:
            m = self._meter(key)
            if m.write_second != second:
                m.write_second, m.write_bytes, m.write_records = second, 0, 0
            count, total = len(sizes), sum(sizes)
            if (
                m.write_records + count <= WRITE_RECORDS_PER_S
                and m.write_bytes + total <= WRITE_BYTES_PER_S
            ):
                # All of them fit, so each fits after those before it: no need to look one by one.
                m.write_records += count
                m.write_bytes += total
                return [True] * count
            out: list[bool] = []
            for size in sizes:
                ok = (
                    m.write_records < WRITE_RECORDS_PER_S
                    and m.write_bytes + size <= WRITE_BYTES_PER_S
                )
                if ok:
                    m.write_records += 1
                    m.write_bytes += size
                out.append(ok)
            return out

    def admit_read(self, key: tuple[str, str], now: float) -> bool:
        """Whether a GetRecords call may run now (counted if so)."""
        second = int(now)
        with self._lock:
            m = self._meter(key)
            if m.read_second != second:
                m.read_second, m.read_calls = second, 0
            elapsed = max(0.0, now - m.read_checked)
            m.read_checked = now
            m.read_budget = min(READ_BYTES_PER_S, m.read_budget + elapsed * READ_BYTES_PER_S)
            if m.read_calls >= READ_CALLS_PER_S or m.read_budget <= 0:
                return False
            m.read_calls += 1
            return True

    def charge_read(self, key: tuple[str, str], size: int) -> None:
        """Count the bytes a read returned."""
        with self._lock:
            self._meter(key).read_budget -= size

    def forget(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self._meters if k[0] == uid]:
                del self._meters[key]
