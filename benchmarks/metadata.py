"""Metadata-store benchmark: this tree's SQLite store against a baseline revision's, interleaved.

Each round runs every operation on both stores (alternating which goes first), each on a fresh
database in a temporary directory, and times it by wall clock and by process CPU time (all
threads, the checkpointer included). Prints the medians over the rounds: ops/s, CPU us per op,
and new/old ratios. The baseline is `src/tule/metadata/sqlite.py` as committed at `--baseline`
(default HEAD), loaded from `git show` as a separate module.

Operations:
- get: a point read of one of 10,000 existing ~300 B records, no writes in between.
- get+commit: a point read right after another thread's commit (which invalidates the reader's
  page cache), as every S3 PUT's read of the current version is under load.
- put / put-fsync: one ~300 B record per commit, fsync off / on.
- batch3: three records per commit (fsync off).
- s3-put / s3-put-fsync: what an S3 PutObject of a 4 KiB object asks of the store: read the
  key's current record, then one batch of its new record and its ~5.5 KB base64 inline body.
- s3-put-8t: that, from 8 threads at once, fsync on (group commit).
- list100: a prefix listing of 100 records.

    python benchmarks/metadata.py [--rounds 5] [--n 2000] [--baseline HEAD] [--only get,put]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from tule.metadata import sqlite as current_module  # noqa: E402
from tule.metadata.base import Put  # noqa: E402

POPULATION = 10_000
THREADS = 8


def load_baseline(rev: str) -> ModuleType:
    """The store module as committed at `rev`, imported under its own name."""
    source = subprocess.run(
        ["git", "show", f"{rev}:src/tule/metadata/sqlite.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="tule-bench-")) / "sqlite_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("tule_metadata_sqlite_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def object_record(i: int) -> dict[str, Any]:
    """A record shaped like an S3 object version's (about 300 bytes of JSON)."""
    return {
        "key": f"data/part-{i:06d}.csv",
        "blob_id": "i" + os.urandom(16).hex(),
        "size": 4096,
        "etag": '"' + os.urandom(16).hex() + '"',
        "last_modified": 1_760_000_000.123 + i,
        "sort_key": os.urandom(16).hex(),
        "version_id": "null",
        "checksums": {"CRC64NVME": base64.b64encode(os.urandom(8)).decode()},
        "content_type": "binary/octet-stream",
        "metadata": {"owner": "bench", "n": str(i)},
    }


def populate(store: Any, count: int) -> None:
    for start in range(0, count, 500):
        end = min(count, start + 500)
        store.batch([Put(f"o/b/k{i:06d}", object_record(i)) for i in range(start, end)])


def _timed(run: Callable[[], int]) -> tuple[float, float]:
    """(ops/s, CPU us per op) of `run`, which returns how many operations it did."""
    wall, cpu = time.perf_counter(), time.process_time()
    ops = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return ops / wall, cpu / ops * 1e6


def bench(module: ModuleType, op: str, n: int, workdir: str) -> tuple[float, float]:
    fsync = op.endswith("-fsync") or op == "s3-put-8t"
    store = module.SqliteStore(os.path.join(workdir, "meta.db"), fsync=fsync)
    try:
        return _run(store, op, n)
    finally:
        store.close()


def _run(store: Any, op: str, n: int) -> tuple[float, float]:
    rng = random.Random(7)
    body = {"data": base64.b64encode(os.urandom(4096)).decode()}
    if op in ("get", "get+commit", "list100"):
        populate(store, POPULATION)
    keys = [f"o/b/k{rng.randrange(POPULATION):06d}" for _ in range(n)]
    records = [object_record(i) for i in range(n)]
    store.get("warm")  # opens this thread's reader outside the timing

    if op == "get":
        return _timed(lambda: sum(store.get(key) is not None for key in keys))
    if op == "get+commit":
        writer = threading.Thread(target=store.put, args=("warm", {}))
        writer.start()
        writer.join()

        def reads_after_commits() -> int:
            for key, rec in zip(keys, records, strict=True):
                store.get(key)
                store.put("w/" + key, rec)  # a commit on the writer connection
            return n

        # Timed together; the put alone is measured separately, so compare with `put`.
        return _timed(reads_after_commits)
    if op in ("put", "put-fsync"):
        return _timed(lambda: [store.put(f"n/{i}", rec) for i, rec in enumerate(records)] and n)
    if op == "batch3":

        def batches() -> int:
            for i, rec in enumerate(records):
                store.batch([Put(f"n/{i}/{j}", rec) for j in range(3)])
            return n

        return _timed(batches)
    if op in ("s3-put", "s3-put-fsync"):
        return _timed(lambda: _s3_puts(store, records, body, 0, n))
    if op == "s3-put-8t":
        per = n // THREADS

        def threaded() -> int:
            threads = [
                threading.Thread(target=_s3_puts, args=(store, records, body, t * per, per))
                for t in range(THREADS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return per * THREADS

        return _timed(threaded)
    if op == "list100":
        prefixes = [f"o/b/k{rng.randrange(POPULATION // 100 - 1):04d}" for _ in range(n // 20)]
        return _timed(lambda: sum(len(store.list(p, limit=100).items) > 0 for p in prefixes))
    raise ValueError(op)


def _s3_puts(store: Any, records: list[dict], body: dict, first: int, count: int) -> int:
    for i in range(first, first + count):
        key = f"o/b/new{i}"
        store.get(key)
        store.batch([Put(key, records[i]), Put(f"d/i{i:032x}", body)])
    return count


OPS = ("get", "get+commit", "put", "put-fsync", "batch3", "s3-put", "s3-put-fsync", "s3-put-8t")
OPS += ("list100",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000, help="operations per timing (fsync: /4)")
    parser.add_argument("--baseline", default="HEAD")
    parser.add_argument("--only", default=",".join(OPS))
    args = parser.parse_args()
    stores = {"old": load_baseline(args.baseline), "new": current_module}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    ops = args.only.split(",")
    for round_no in range(args.rounds):
        order = list(stores) if round_no % 2 == 0 else list(reversed(stores))
        for op in ops:
            n = args.n // 4 if "fsync" in op or op == "s3-put-8t" else args.n
            for name in order:
                with tempfile.TemporaryDirectory(prefix="tule-bench-meta-") as workdir:
                    results.setdefault((op, name), []).append(bench(stores[name], op, n, workdir))
    print(f"load: {os.getloadavg()[0]:.2f}  rounds: {args.rounds}  (medians)")
    header = ("op", "old ops/s", "new ops/s", "x", "old us", "new us", "x")
    print(
        f"{header[0]:14}"
        + "".join(f" {h:>{w}}" for h, w in zip(header[1:], (10, 10, 6, 8, 8, 6), strict=True))
    )
    for op in ops:
        old = results[(op, "old")]
        new = results[(op, "new")]
        old_rate, new_rate = (statistics.median(r for r, _ in runs) for runs in (old, new))
        old_cpu, new_cpu = (statistics.median(c for _, c in runs) for runs in (old, new))
        print(
            f"{op:14} {old_rate:10.0f} {new_rate:10.0f} {new_rate / old_rate:6.2f}"
            f" {old_cpu:8.1f} {new_cpu:8.1f} {old_cpu / new_cpu:6.2f}"
        )


if __name__ == "__main__":
    main()
