"""S3 benchmark: boto3 PUT/GET against tule, moto's server and the disk itself, in one run.

Prints ops/s for 4 KiB objects (serial and 8 client threads) and MB/s for 64 MiB objects, with
ratios against (a) moto_server and (b) writing with fdatasync / reading the same bytes directly.
Medians of 3 runs. Targets (issue Foundation): small objects >= 4x moto with 8 threads and
>= 1x moto serial; large PUT >= 0.5x fdatasync write; large GET >= 0.5x direct read.

    python benchmarks/s3.py [--runs 3] [--small 1000] [--large-count 4]
"""

from __future__ import annotations

import argparse
import mmap
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import client, median_of, moto_server, tule_server

SMALL = 4 * 1024
LARGE = 64 * 1024 * 1024


def put_get_small(url: str, bucket: str, n: int, threads: int, runs: int) -> tuple[float, float]:
    s3 = client("s3", url, threads)
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(SMALL)
    s3.put_object(Bucket=bucket, Key="warm", Body=body)
    counter = iter(range(10**9))

    def put_run() -> float:
        keys = [f"k{next(counter)}" for _ in range(n)]
        return _timed(n, threads, lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body), keys)

    def get_run() -> float:
        keys = [f"k{i}" for i in range(n)]
        return _timed(
            n, threads, lambda k: s3.get_object(Bucket=bucket, Key=k)["Body"].read(), keys
        )

    put = median_of(runs, put_run)
    get = median_of(runs, get_run)
    return put, get


def _timed(n: int, threads: int, op, keys: list[str]) -> float:
    start = time.perf_counter()
    if threads == 1:
        for k in keys:
            op(k)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(op, keys))
    return n / (time.perf_counter() - start)


def put_get_large(url: str, bucket: str, count: int, runs: int) -> tuple[float, float]:
    s3 = client("s3", url)
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(LARGE)

    def put_run() -> float:
        start = time.perf_counter()
        for i in range(count):
            s3.put_object(Bucket=bucket, Key=f"big{i}", Body=body)
        return count * LARGE / (time.perf_counter() - start) / 1e6

    def get_run() -> float:
        start = time.perf_counter()
        for i in range(count):
            data = s3.get_object(Bucket=bucket, Key=f"big{i}")["Body"].read()
            assert len(data) == LARGE
        return count * LARGE / (time.perf_counter() - start) / 1e6

    return median_of(runs, put_run), median_of(runs, get_run)


def disk_rates(folder: Path, count: int, runs: int) -> tuple[float, float]:
    """fdatasync'd sequential write and O_DIRECT read of the same sizes, in MB/s."""
    body = os.urandom(LARGE)

    def write_run() -> float:
        start = time.perf_counter()
        for i in range(count):
            with open(folder / f"disk{i}", "wb") as f:
                f.write(body)
                f.flush()
                os.fdatasync(f.fileno())
        return count * LARGE / (time.perf_counter() - start) / 1e6

    def read_run() -> float:
        buf = mmap.mmap(-1, 1 << 20)  # page-aligned, as O_DIRECT requires
        start = time.perf_counter()
        for i in range(count):
            fd = os.open(folder / f"disk{i}", os.O_RDONLY | getattr(os, "O_DIRECT", 0))
            try:
                while os.readv(fd, [buf]):
                    pass
            finally:
                os.close(fd)
        return count * LARGE / (time.perf_counter() - start) / 1e6

    return median_of(runs, write_run), median_of(runs, read_run)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", type=int, default=1000, help="objects per small run")
    parser.add_argument("--large-count", type=int, default=4, help="64 MiB objects per run")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TULE_BENCH_DIR")) as tmp:
        folder = Path(tmp)
        write, read = disk_rates(folder, args.large_count, args.runs)
        for name, server in (("tule", tule_server(folder / "tule")), ("moto", moto_server())):
            with server as srv:
                r: dict[str, float] = {}
                r["put1"], r["get1"] = put_get_small(srv.url, "serial", args.small, 1, args.runs)
                r["put8"], r["get8"] = put_get_small(srv.url, "threads", args.small, 8, args.runs)
                r["bigput"], r["bigget"] = put_get_large(
                    srv.url, "large", args.large_count, args.runs
                )
                results[name] = r
    t, m = results["tule"], results["moto"]
    print(f"S3 benchmark, medians of {args.runs} runs (fsync on for tule)")
    print(f"{'measure':34} {'tule':>10} {'moto':>10} {'tule/moto':>10} {'target':>8}")
    for key, label, target in (
        ("put1", "PUT 4 KiB serial (ops/s)", 1.0),
        ("get1", "GET 4 KiB serial (ops/s)", 1.0),
        ("put8", "PUT 4 KiB 8 threads (ops/s)", 4.0),
        ("get8", "GET 4 KiB 8 threads (ops/s)", 4.0),
    ):
        ratio = t[key] / m[key]
        print(f"{label:34} {t[key]:10.0f} {m[key]:10.0f} {ratio:10.2f} {target:>7}x")
    print(f"{'measure':34} {'tule':>10} {'disk':>10} {'tule/disk':>10} {'target':>8}")
    print(
        f"{'PUT 64 MiB (MB/s) vs fdatasync':34} {t['bigput']:10.0f} {write:10.0f} "
        f"{t['bigput'] / write:10.2f} {0.5:>7}x"
    )
    print(
        f"{'GET 64 MiB (MB/s) vs O_DIRECT read':34} {t['bigget']:10.0f} {read:10.0f} "
        f"{t['bigget'] / read:10.2f} {0.5:>7}x"
    )
    print(f"(moto 64 MiB: PUT {m['bigput']:.0f} MB/s, GET {m['bigget']:.0f} MB/s)")


if __name__ == "__main__":
    main()
