"""Waiting for shard logs to be durable: the flushes a PutRecords call waits on, side by side.

A PutRecords call spread over four shards writes four logs; flushing them one after another
would make it wait four flushes. With fsync on, `ParallelCommit` waits on them from a small
pool of threads, so the call waits about one flush.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tule.services.kinesis import records
from tule.storage.shard_log import ShardLog


class ParallelCommit:
    """A `records.Committer` that flushes several logs at once; `close()` stops its threads."""

    def __init__(self, *, fsync: bool, workers: int = 8) -> None:
        self.fsync = fsync
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kinesis-flush")

    def __call__(self, pending: list[tuple[ShardLog, int]]) -> None:
        if len(pending) < 2 or not self.fsync:
            records.commit_in_turn(pending)
            return
        futures = [self._pool.submit(log.commit, stop) for log, stop in pending[1:]]
        log, stop = pending[0]
        log.commit(stop)
        for future in futures:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
