"""S3 benchmark: boto3 PUT/GET against tule, moto's server and the disk itself, in one run.

Prints ops/s for 4 KiB objects (serial, and 8 concurrent clients) and MB/s for 64 MiB objects,
with ratios against (a) moto_server and (b) writing with fdatasync / reading the same bytes
directly. Medians of 3 runs. Targets (issue Foundation): small objects >= 4x moto with 8
concurrent clients and >= 1x moto serial; large PUT >= 0.5x fdatasync write; large GET >= 0.5x
direct read.

The 8 concurrent clients are 8 processes, each with its own boto3 client, started and warmed
before timing and released together by a barrier: 8 threads of one boto3 process are capped by
the client's GIL (a few hundred requests/s), which would measure the client, not the server.
The client processes share the machine's cores with the server, so on a small machine the
figures still include client CPU; the server-only view (operations per CPU-second of the server
process) is printed alongside.

Ceilings are printed too: the same clients against `null_s3.py`, a Python server that only
reads the body, computes its MD5 (the ETag S3 must answer) and replies. For the large PUT it is
a ceiling for any server: boto3 hashes the whole body (SHA-256 for SigV4 over plain HTTP, and a
CRC32 checksum) before sending its first byte, and the MD5 cannot start before the bytes
arrive, so those two costs add up on any server. For the small PUTs it shows what the 8 client
processes leave of the machine's cores to a server that does almost nothing.

    python benchmarks/s3.py [--runs 3] [--small 1000] [--clients 8] [--per-client 250]
                            [--large-count 4] [--skip-large]
"""

from __future__ import annotations

import argparse
import mmap
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import Server, client, free_port, median_of, moto_server, tule_server

SMALL = 4 * 1024
LARGE = 64 * 1024 * 1024


def put_get_small(url: str, bucket: str, n: int, runs: int) -> tuple[float, float]:
    """Serial PUT and GET of `n` 4 KiB objects from one boto3 client, in ops/s."""
    s3 = client("s3", url)
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(SMALL)
    s3.put_object(Bucket=bucket, Key="warm", Body=body)
    counter = iter(range(10**9))

    def put_run() -> float:
        keys = [f"k{next(counter)}" for _ in range(n)]
        return _timed(n, lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body), keys)

    def get_run() -> float:
        keys = [f"k{i}" for i in range(n)]
        return _timed(n, lambda k: s3.get_object(Bucket=bucket, Key=k)["Body"].read(), keys)

    put = median_of(runs, put_run)
    get = median_of(runs, get_run)
    return put, get


def _timed(n: int, op, keys: list[str]) -> float:
    start = time.perf_counter()
    for k in keys:
        op(k)
    return n / (time.perf_counter() - start)


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            total += (int(stats[p][11]) + int(stats[p][12])) / tick  # utime, stime
        todo.extend(children.get(p, []))
    return total


def _client_process(
    url: str, bucket: str, index: int, count: int, commands, results, barrier
) -> None:
    """One concurrent client: its own boto3 client, warmed, then timed runs on command."""
    s3 = client("s3", url)
    body = os.urandom(SMALL)
    warm = f"warm{index}"
    s3.put_object(Bucket=bucket, Key=warm, Body=body)
    s3.get_object(Bucket=bucket, Key=warm)["Body"].read()
    results.put(("ready", index))
    while True:
        command = commands.get()
        if command is None:
            return
        op, run = command
        keys = [f"r{run}/c{index}/k{i}" for i in range(count)]
        barrier.wait()
        start = time.monotonic()
        if op == "put":
            for k in keys:
                s3.put_object(Bucket=bucket, Key=k, Body=body)
        else:
            for k in keys:
                s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        results.put((start, time.monotonic()))


def put_get_concurrent(
    url: str, pid: int, bucket: str, clients: int, per_client: int, runs: int
) -> dict[str, float]:
    """PUT then GET `clients` x `per_client` 4 KiB objects from `clients` client processes.

    Returns medians of ops/s (wall clock from the first client's start to the last client's
    end) and of ops per CPU-second of the server process, for "put" and "get".
    """
    client("s3", url).create_bucket(Bucket=bucket)
    ctx = mp.get_context("spawn")
    commands = [ctx.Queue() for _ in range(clients)]
    results = ctx.Queue()
    barrier = ctx.Barrier(clients)
    procs = [
        ctx.Process(
            target=_client_process,
            args=(url, bucket, i, per_client, commands[i], results, barrier),
            daemon=True,
        )
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            results.get(timeout=120)  # every client started and warmed
        total = clients * per_client
        rates: dict[str, list[float]] = {"put": [], "get": [], "put_cpu": [], "get_cpu": []}
        for run in range(runs):
            for op in ("put", "get"):
                cpu0 = server_cpu_seconds(pid)
                for q in commands:
                    q.put((op, run))
                spans = [results.get(timeout=600) for _ in procs]
                cpu = server_cpu_seconds(pid) - cpu0
                elapsed = max(e for _, e in spans) - min(s for s, _ in spans)
                rates[op].append(total / elapsed)
                rates[op + "_cpu"].append(total / cpu if cpu > 0 else float("inf"))
    finally:
        for q in commands:
            q.put(None)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    return {k: statistics.median(v) for k, v in rates.items()}


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


def null_server() -> Server:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("null_s3.py")), str(port)]
    return Server(argv, port)


def put_ceiling(count: int, runs: int) -> float:
    """64 MiB PUTs through boto3 to `null_s3.py` (reads, MD5s, answers), in MB/s."""
    with null_server() as null:
        s3 = client("s3", null.url)
        body = os.urandom(LARGE)

        def put_run() -> float:
            start = time.perf_counter()
            for i in range(count):
                s3.put_object(Bucket="ceiling", Key=f"big{i}", Body=body)
            return count * LARGE / (time.perf_counter() - start) / 1e6

        return median_of(runs, put_run)


def small_put_ceiling(clients: int, per_client: int, runs: int) -> float:
    """4 KiB PUTs/s of the concurrent clients against `null_s3.py`: what the clients and the
    least a Python server does leave of the machine."""
    with null_server() as null:
        assert null.proc is not None
        return put_get_concurrent(null.url, null.proc.pid, "ceiling", clients, per_client, runs)[
            "put"
        ]


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
    parser.add_argument("--small", type=int, default=1000, help="objects per serial small run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--per-client", type=int, default=250, help="objects per client per run")
    parser.add_argument("--large-count", type=int, default=4, help="64 MiB objects per run")
    parser.add_argument("--skip-large", action="store_true", help="skip the 64 MiB cases")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TULE_BENCH_DIR")) as tmp:
        folder = Path(tmp)
        if not args.skip_large:
            write, read = disk_rates(folder, args.large_count, args.runs)
            ceiling = put_ceiling(args.large_count, args.runs)
        small_ceiling = small_put_ceiling(args.clients, args.per_client, args.runs)
        for name, server in (("tule", tule_server(folder / "tule")), ("moto", moto_server())):
            with server as srv:
                assert srv.proc is not None
                r: dict[str, float] = {}
                r["put1"], r["get1"] = put_get_small(srv.url, "serial", args.small, args.runs)
                conc = put_get_concurrent(
                    srv.url, srv.proc.pid, "concurrent", args.clients, args.per_client, args.runs
                )
                r["putN"], r["getN"] = conc["put"], conc["get"]
                r["putN_cpu"], r["getN_cpu"] = conc["put_cpu"], conc["get_cpu"]
                if not args.skip_large:
                    r["bigput"], r["bigget"] = put_get_large(
                        srv.url, "large", args.large_count, args.runs
                    )
                results[name] = r
    t, m = results["tule"], results["moto"]
    n = args.clients
    print(
        f"S3 benchmark, medians of {args.runs} runs (fsync on for tule); "
        f"{n} clients = {n} processes x {args.per_client} objects; {os.cpu_count()} CPUs"
    )
    print(f"{'measure':38} {'tule':>10} {'moto':>10} {'tule/moto':>10} {'target':>8}")
    for key, label, target in (
        ("put1", "PUT 4 KiB serial (ops/s)", "1.0x"),
        ("get1", "GET 4 KiB serial (ops/s)", "1.0x"),
        ("putN", f"PUT 4 KiB {n} clients (ops/s)", "4.0x"),
        ("getN", f"GET 4 KiB {n} clients (ops/s)", "4.0x"),
        ("putN_cpu", f"PUT 4 KiB {n} clients (ops/server-CPU-s)", "-"),
        ("getN_cpu", f"GET 4 KiB {n} clients (ops/server-CPU-s)", "-"),
    ):
        ratio = t[key] / m[key]
        print(f"{label:38} {t[key]:10.0f} {m[key]:10.0f} {ratio:10.2f} {target:>8}")
    print(
        f"ceiling: the same {n} clients PUT {small_ceiling:.0f} ops/s to a server that only reads "
        f"the body, computes its MD5 and answers (null_s3.py) = {small_ceiling / m['putN']:.2f}x "
        f"moto; tule reaches {t['putN'] / small_ceiling:.2f}x of it"
    )
    if args.skip_large:
        return
    print(f"{'measure':38} {'tule':>10} {'disk':>10} {'tule/disk':>10} {'target':>8}")
    print(
        f"{'PUT 64 MiB (MB/s) vs fdatasync':38} {t['bigput']:10.0f} {write:10.0f} "
        f"{t['bigput'] / write:10.2f} {'0.5x':>8}"
    )
    print(
        f"{'GET 64 MiB (MB/s) vs O_DIRECT read':38} {t['bigget']:10.0f} {read:10.0f} "
        f"{t['bigget'] / read:10.2f} {'0.5x':>8}"
    )
    print(f"(moto 64 MiB: PUT {m['bigput']:.0f} MB/s, GET {m['bigget']:.0f} MB/s)")
    print(
        f"ceiling for any server: boto3 PUTs of 64 MiB to a server that only reads the body and "
        f"computes its MD5 (the ETag): {ceiling:.0f} MB/s = {ceiling / write:.2f}x fdatasync; "
        f"tule reaches {t['bigput'] / ceiling:.2f}x of it"
    )


if __name__ == "__main__":
    main()
