"""Durable commit: moving a finished temp file into place so that it survives power loss.

A commit makes the file's data stable, renames it to its final name, makes that rename stable,
and only then returns. Flushing in that order means a crash can never leave a final name that
points at missing or partial data.

Concurrent writers share flushes without a committer thread of ours: each flushes in its own
thread (the GIL is released), and the kernel coalesces what is in flight (jbd2/XFS log
commits batch concurrent fsyncs; the block layer merges pending cache flushes). On the
project's 2-vCPU dev VM (one flush 0.1-5 ms, varying with load), 8 threads writing 4 KiB
blobs got 9-16x the single-thread rate this way, so flushes are shared; and it beat the
alternatives, measured interleaved in the same runs: 860-1590 blobs/s against 305-505 for a
committer thread issuing one `syncfs` per batch and 725-1010 for a leader-elected shared
`syncfs`. Funnelling every flush through one serial syscall, and handing results across
threads under the GIL, cost more than the flushes it saved. `syncfs` would also flush
whatever else is dirty on the filesystem, so an unrelated bulk writer would stall every
acknowledgement.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from pathlib import Path

# How much a writer appends between requests to start writing back (see `start_writeback`).
WRITEBACK_STEP = 8 << 20
_SYNC_FILE_RANGE_WRITE = 2


def commit(fd: int, tmp: Path, final: Path, *, durable: bool, data_synced: bool = False) -> None:
    """Close `fd` (the temp file `tmp`) and rename it to `final`; with `durable`, return only
    once the data and the new name are both on stable storage. `data_synced`: the caller has
    already flushed the file's data itself. Always closes `fd`."""
    try:
        if durable and not data_synced:
            # fdatasync covers the size and block map, which is all a reader needs.
            os.fdatasync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    if durable:
        fsync_dir(final.parent)


def fsync_dir(path: Path) -> None:
    """Make the entries of directory `path` (creations, renames) stable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_sync_file_range() -> ctypes._CFuncPtr | None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.sync_file_range
        function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        function.restype = ctypes.c_int
        return function
    return None


_sync_file_range = _load_sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a byte range to disk now, without waiting for it.

    A large blob then streams to disk while the rest of it is still being received and hashed,
    so the flush at commit has only the tail left (64 MiB blobs on the dev VM: 250 -> 290 MB/s
    median with CPU to spare; no difference when the CPU is saturated). Best effort: a no-op
    where sync_file_range is missing; write errors surface at the commit's fdatasync."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
