"""Group commit: moving a finished temp file into place durably, sharing disk flushes.

A commit makes the file's data stable, renames it to its final name, makes that rename stable,
and only then returns. Flushing in that order means a crash can never leave a final name that
points at missing or partial data. Concurrent writers wait for the same flush rather than each
paying for their own, so throughput grows with concurrency instead of being capped at one
flush per write.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path


class Committer(ABC):
    """Renames finished temp files into place; `commit` owns (and closes) the file descriptor."""

    @abstractmethod
    def commit(self, fd: int, tmp: Path, final: Path) -> None:
        """Return once `final` durably holds what was written to `fd` (the temp file `tmp`)."""

    def close(self) -> None:  # noqa: B027 - only batching committers hold resources
        """Stop any background thread after finishing queued commits."""


class NoSyncCommitter(Committer):
    """Atomic but not durable: for throwaway setups that run with fsync off."""

    def commit(self, fd: int, tmp: Path, final: Path) -> None:
        os.close(fd)
        os.replace(tmp, final)


@dataclass(eq=False)
class _Job:
    fd: int
    tmp: Path
    final: Path
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.done.set()


class _BatchingCommitter(Committer):
    """A committer thread that takes every queued job at once and flushes them together."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def commit(self, fd: int, tmp: Path, final: Path) -> None:
        job = _Job(fd, tmp, final)
        self._prepare(job)
        with self._cond:
            if self._closed:
                os.close(job.fd)
                raise RuntimeError("blob store is closed")
            self._queue.append(job)
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _prepare(self, job: _Job) -> None:
        """Work the writer's own thread does before queueing (runs concurrently)."""

    def _take(self, block: bool) -> list[_Job] | None:
        """The queued jobs, waiting for some if `block`; None once closed and drained."""
        with self._cond:
            while block and not self._queue and not self._closed:
                self._cond.wait()
            if block and not self._queue:
                return None
            batch, self._queue = self._queue, []
            return batch

    @abstractmethod
    def _run(self) -> None: ...


class SyncfsCommitter(_BatchingCommitter):
    """One `syncfs` per batch, pipelined.

    Each flush makes the data of the batch just taken stable and, in the same call, the renames
    of the previous batch. So a write waits for two flushes, but in steady state there is only
    one flush per batch, whatever the batch size. `syncfs` flushes the whole filesystem, which
    also covers the fan-out directories without tracking which ones changed.
    """

    def __init__(self, root: Path, syncfs: ctypes._CFuncPtr) -> None:
        self._root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        self._syncfs = syncfs
        super().__init__("tule-blob-syncfs")

    def close(self) -> None:
        super().close()
        os.close(self._root_fd)

    def _flush(self) -> None:
        if self._syncfs(self._root_fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs: {os.strerror(errno)}")

    def _prepare(self, job: _Job) -> None:
        # syncfs writes back every dirty page of the filesystem, open or not.
        os.close(job.fd)

    def _run(self) -> None:
        renamed: list[_Job] = []
        while (batch := self._take(block=not renamed)) is not None:
            try:
                self._flush()
            except OSError as error:
                for job in renamed + batch:
                    job.finish(error)
                renamed = []
                continue
            for job in renamed:
                job.finish()
            renamed = []
            for job in batch:
                try:
                    os.replace(job.tmp, job.final)
                except OSError as error:
                    job.finish(error)
                else:
                    renamed.append(job)


class FsyncCommitter(_BatchingCommitter):
    """Per-file `fdatasync` in the writer's thread, then one fsync per directory per batch.

    The data flushes run in parallel (the filesystem journal merges concurrent ones); the
    committer thread renames a batch and fsyncs each directory the batch touched once.
    """

    def __init__(self) -> None:
        super().__init__("tule-blob-fsync")

    def _prepare(self, job: _Job) -> None:
        try:
            os.fdatasync(job.fd)
        finally:
            os.close(job.fd)

    def _run(self) -> None:
        while (batch := self._take(block=True)) is not None:
            renamed: list[_Job] = []
            for job in batch:
                try:
                    os.replace(job.tmp, job.final)
                except OSError as error:
                    job.finish(error)
                else:
                    renamed.append(job)
            error: OSError | None = None
            try:
                for directory in {job.final.parent for job in renamed}:
                    fsync_dir(directory)
            except OSError as failure:
                error = failure
            for job in renamed:
                job.finish(error)


def fsync_dir(path: Path) -> None:
    """Make the entries of directory `path` (creations, renames) stable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> ctypes._CFuncPtr | None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        syncfs = libc.syncfs
        syncfs.argtypes = [ctypes.c_int]
        syncfs.restype = ctypes.c_int
        return syncfs
    return None


def make_committer(root: Path, *, fsync: bool) -> Committer:
    """The best committer for this platform: syncfs where available, else per-file fsync."""
    if not fsync:
        return NoSyncCommitter()
    syncfs = _load_syncfs()
    return SyncfsCommitter(root, syncfs) if syncfs is not None else FsyncCommitter()
