"""Kinesis benchmark: boto3 PutRecords/GetRecords/PutRecord against tule and moto's server, and
a plain append-only file, in one run.

Measures (100-byte records, a 4-shard stream, tule with fsync on and throughput limits off):

- PutRecords throughput (records/s, MB/s) from several client processes, each sending batches
  of 500 records, against tule and moto_server; and the baseline: the same records framed
  (length, sequence, time, CRC) and appended to one file with one fdatasync per 1,000 records.
  Targets: tule >= 0.5x the file (and >= 100,000 records/s), >= 3x moto.
- GetRecords read-back of everything written (one client process per shard, Limit 10000),
  against reading and parsing that file from the page cache. Target >= 0.5x.
- PutRecord latency with 8 concurrent client processes (p50, p99). Target p99 <= 10 ms.
- boto3's own ceiling: the client CPU per record of `put_records` (500 records) and of
  `get_records` (a 10,000-record page) with the network and the server taken away. A
  `before-send` handler answers each call with a real tule answer captured once, so botocore
  still serializes every request and parses the whole response. With the server's measured CPU
  per record this gives the best case the machine's cores allow through boto3.

Client processes are started and warmed before timing and released together by a barrier; one
boto3 client is the bottleneck otherwise. They share the machine's cores with the server, so on
a small machine the figures include client CPU (botocore's parameter validation is off in the
clients, as it costs the client, not the server); server CPU-seconds are printed too. Medians
of `--runs` runs; the machines these run on are shared and noisy.

    python benchmarks/streams.py [--runs 3] [--clients 4] [--batches 40] [--latency-clients 8]
                                 [--latency-calls 200] [--skip-moto]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import boto3
from botocore.config import Config

from common import Server, free_port, moto_server

RECORD = 100
BATCH = 500
MAX_PAGE = 10_000  # the most records one GetRecords answers
SHARDS = 4
_FRAME = struct.Struct("<IQqI")  # length, sequence, time ms, crc32


def _client(url: str):
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(
            retries={"max_attempts": 1}, parameter_validation=False, max_pool_connections=4
        ),
    )


def tule_streams_server(data_dir: Path) -> Server:
    """`tule serve` with fsync on and Kinesis throughput limits off (`--kinesis-limits off`;
    set on the parsed arguments, so this works whether or not the CLI lists the flag yet)."""
    port = free_port()
    code = (
        "import sys\n"
        "from tule.cli.main import build_parser\n"
        "from tule.cli.serve import serve\n"
        "args = build_parser().parse_args(sys.argv[1:])\n"
        "args.kinesis_limits = 'off'\n"
        "raise SystemExit(serve(args))\n"
    )
    argv = [sys.executable, "-c", code, "serve", "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--fsync", "on", "--log-level", "warning"]
    return Server(argv, port, "/_tule/health")


# ---------------------------------------------------------------- the file baseline


def file_baseline(folder: Path, total: int, per_sync: int = 1000) -> tuple[float, float]:
    """Records/s appending framed 100-byte records with one fdatasync per `per_sync`, and
    records/s reading and parsing the file back from the page cache."""
    path = folder / "baseline.log"
    payload = os.urandom(RECORD)
    crc = zlib.crc32(payload)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    start = time.perf_counter()
    seq = 0
    try:
        while seq < total:
            now = int(time.time() * 1000)
            parts = []
            for _ in range(per_sync):
                parts.append(_FRAME.pack(RECORD, seq, now, crc))
                parts.append(payload)
                seq += 1
            os.write(fd, b"".join(parts))
            os.fdatasync(fd)
    finally:
        os.close(fd)
    write_rate = seq / (time.perf_counter() - start)
    start = time.perf_counter()
    data = path.read_bytes()
    at, count, unpack, size = 0, 0, _FRAME.unpack_from, _FRAME.size
    while at < len(data):
        length, _, _, _ = unpack(data, at)
        body = at + size
        _ = data[body : body + length]
        at = body + length
        count += 1
    read_rate = count / (time.perf_counter() - start)
    path.unlink()
    return write_rate, read_rate


# ---------------------------------------------------------------- client processes


class _Canned:
    """An answer body for `botocore.awsrequest.AWSResponse`, served again on every call."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object):
        yield self.body


def client_ceiling(url: str, calls: int = 40, pages: int = 5) -> dict[str, float]:
    """Client CPU-seconds per record of boto3's put_records (500 records) and get_records (a
    10,000-record page), answered without network or server by real tule answers captured
    from `url`; a 1-shard stream of its own holds the records."""
    from botocore.awsrequest import AWSResponse

    stream = "bench-ceiling"
    client = _client(url)
    client.create_stream(StreamName=stream, ShardCount=1)
    client.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    rng = random.Random(7)
    payload = os.urandom(RECORD)
    records = [{"PartitionKey": f"k{rng.randrange(10**9)}", "Data": payload} for _ in range(BATCH)]
    answers: dict[str, tuple[int, dict, bytes]] = {}

    def keeper(operation: str):
        def keep(response_dict=None, **_: object) -> None:
            if response_dict is not None:
                answers[operation] = (
                    response_dict["status_code"],
                    dict(response_dict["headers"]),
                    response_dict["body"],
                )

        return keep

    for operation in ("PutRecords", "GetRecords"):
        client.meta.events.register(f"response-received.kinesis.{operation}", keeper(operation))
    for _ in range(2 * MAX_PAGE // BATCH):
        client.put_records(StreamName=stream, Records=records)
    shard = client.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = client.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    page = client.get_records(ShardIterator=it, Limit=MAX_PAGE)
    assert len(page["Records"]) == MAX_PAGE and page["Records"][0]["Data"] == payload

    offline = _client(url)

    def answerer(operation: str):
        def answer(request, **_: object) -> AWSResponse:
            status, headers, body = answers[operation]
            return AWSResponse(request.url, status, headers, _Canned(body))

        return answer

    for operation in answers:
        offline.meta.events.register(f"before-send.kinesis.{operation}", answerer(operation))
    offline.put_records(StreamName=stream, Records=records)
    offline.get_records(ShardIterator=it, Limit=MAX_PAGE)
    start = time.process_time()
    for _ in range(calls):
        offline.put_records(StreamName=stream, Records=records)
    put = (time.process_time() - start) / (calls * BATCH)
    start = time.process_time()
    for _ in range(pages):
        got = len(offline.get_records(ShardIterator=it, Limit=MAX_PAGE)["Records"])
    get = (time.process_time() - start) / (pages * got)
    client.delete_stream(StreamName=stream)
    return {"put": put, "get": get}


def _putter(url: str, stream: str, batches: int, seed: int, commands, results, barrier) -> None:
    client = _client(url)
    rng = random.Random(seed)
    payload = os.urandom(RECORD)
    records = [{"PartitionKey": f"k{rng.randrange(10**9)}", "Data": payload} for _ in range(BATCH)]
    client.put_records(StreamName=stream, Records=records[:10])  # warm the connection
    results.put("ready")
    while commands.get() is not None:
        barrier.wait()
        start = time.monotonic()
        failed = 0
        for _ in range(batches):
            failed += client.put_records(StreamName=stream, Records=records)["FailedRecordCount"]
        results.put((start, time.monotonic(), failed))


def _reader(url: str, stream: str, shard: str, commands, results, barrier) -> None:
    client = _client(url)
    client.list_shards(StreamName=stream)
    results.put("ready")
    while commands.get() is not None:
        barrier.wait()
        start = time.monotonic()
        it = client.get_shard_iterator(
            StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        count = 0
        while it:
            page = client.get_records(ShardIterator=it, Limit=10000)
            count += len(page["Records"])
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
        results.put((start, time.monotonic(), count))


def _single(url: str, stream: str, calls: int, seed: int, commands, results, barrier) -> None:
    client = _client(url)
    payload = os.urandom(RECORD)
    rng = random.Random(seed)
    client.put_record(StreamName=stream, PartitionKey="warm", Data=payload)
    results.put("ready")
    while commands.get() is not None:
        barrier.wait()
        start = time.monotonic()
        latencies = []
        for _ in range(calls):
            t = time.perf_counter()
            client.put_record(
                StreamName=stream, PartitionKey=f"k{rng.randrange(10**9)}", Data=payload
            )
            latencies.append(time.perf_counter() - t)
        results.put((start, time.monotonic(), latencies))


class Pool:
    """Client processes running one kind of work on command, released together."""

    def __init__(self, target, argsets: list[tuple]) -> None:
        ctx = mp.get_context("spawn")
        self.commands = [ctx.Queue() for _ in argsets]
        self.results = ctx.Queue()
        barrier = ctx.Barrier(len(argsets))
        self.procs = [
            ctx.Process(target=target, args=(*a, q, self.results, barrier), daemon=True)
            for a, q in zip(argsets, self.commands, strict=True)
        ]
        for p in self.procs:
            p.start()
        for _ in self.procs:
            self.results.get(timeout=120)

    def run(self) -> list[tuple]:
        for q in self.commands:
            q.put(1)
        return [self.results.get(timeout=600) for _ in self.procs]

    def close(self) -> None:
        for q in self.commands:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def server_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, pid: int, args: argparse.Namespace) -> dict[str, float]:
    admin = _client(url)
    out: dict[str, list[float]] = {"put": [], "put_cpu": [], "get": [], "p50": [], "p99": []}
    out["get_cpu"] = []
    out["single"] = []
    for run in range(args.runs):
        stream = f"bench-{run}"
        admin.create_stream(StreamName=stream, ShardCount=SHARDS)
        admin.get_waiter("stream_exists").wait(
            StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        putters = Pool(
            _putter, [(url, stream, args.batches, run * 100 + i) for i in range(args.clients)]
        )
        cpu0 = server_cpu_seconds(pid)
        spans = putters.run()
        cpu = server_cpu_seconds(pid) - cpu0
        putters.close()
        failed = sum(s[2] for s in spans)
        total = args.clients * args.batches * BATCH - failed
        elapsed = max(e for _, e, _ in spans) - min(s for s, _, _ in spans)
        out["put"].append(total / elapsed)
        out["put_cpu"].append(total / cpu if cpu > 0 else float("inf"))
        shards = [s["ShardId"] for s in admin.list_shards(StreamName=stream)["Shards"]]
        readers = Pool(_reader, [(url, stream, s) for s in shards])
        cpu0 = server_cpu_seconds(pid)
        spans = readers.run()
        cpu = server_cpu_seconds(pid) - cpu0
        readers.close()
        count = sum(s[2] for s in spans)
        out["get_cpu"].append(count / cpu if cpu > 0 else float("inf"))
        if count != total + 10 * args.clients:
            print(f"warning: {url}: read back {count} of {total + 10 * args.clients} records")
        out["get"].append(count / (max(e for _, e, _ in spans) - min(s for s, _, _ in spans)))
        singles = Pool(
            _single, [(url, stream, args.latency_calls, i) for i in range(args.latency_clients)]
        )
        spans = singles.run()
        singles.close()
        latencies = sorted(x for s in spans for x in s[2])
        out["p50"].append(latencies[len(latencies) // 2] * 1000)
        out["p99"].append(latencies[int(len(latencies) * 0.99)] * 1000)
        calls = len(latencies) / (max(e for _, e, _ in spans) - min(s for s, _, _ in spans))
        out["single"].append(calls)
    return {k: statistics.median(v) for k, v in out.items()}


def print_ceiling(
    ceiling: dict[str, float], t: dict[str, float], targets: dict[str, float]
) -> None:
    """boto3's client CPU per record, and the best rates it leaves this machine's cores: the
    client alone on every core, and client plus tule's measured server CPU per record (the
    server's Python work holds one lock, so it is also bounded by one core); then whether each
    target rate is within what the client alone allows."""
    cores = os.cpu_count() or 1
    print(
        f"boto3 client alone (no network, no server), CPU per record; best case on {cores} cores:"
    )
    for op, label, server_rate in (
        ("put", "put_records x500", t["put_cpu"]),
        ("get", "get_records 10k page", t["get_cpu"]),
    ):
        client = ceiling[op]
        server = 1 / server_rate
        both = min(cores / (client + server), server_rate)
        print(
            f"  {label:22} {client * 1e6:6.2f} us/record = {1 / client:7.0f} rec/s per core; "
            f"client alone on {cores} cores {cores / client:7.0f} rec/s; plus tule's "
            f"{server * 1e6:.2f} us/record {both:7.0f} rec/s"
        )
    for op, label in (("put", "PutRecords"), ("get", "GetRecords")):
        alone = cores / ceiling[op]
        verdict = "within" if targets[op] <= alone else "beyond"
        print(
            f"  {label} target {targets[op]:.0f} rec/s is {verdict} what boto3 alone can send "
            f"on {cores} cores ({alone:.0f} rec/s, with no server at all)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4, help="PutRecords client processes")
    parser.add_argument("--batches", type=int, default=40, help="PutRecords calls per client")
    parser.add_argument("--latency-clients", type=int, default=8)
    parser.add_argument("--latency-calls", type=int, default=200, help="PutRecord per client")
    parser.add_argument("--skip-moto", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    ceiling: dict[str, float] = {}
    total = args.clients * args.batches * BATCH
    with tempfile.TemporaryDirectory(dir=os.environ.get("TULE_BENCH_DIR")) as tmp:
        folder = Path(tmp)
        rates = [file_baseline(folder, total) for _ in range(args.runs)]
        file_write = statistics.median(r[0] for r in rates)
        file_read = statistics.median(r[1] for r in rates)
        servers = [("tule", tule_streams_server(folder / "tule"))]
        if not args.skip_moto:
            servers.append(("moto", moto_server()))
        for name, server in servers:
            with server as srv:
                assert srv.proc is not None
                results[name] = measure(srv.url, srv.proc.pid, args)
                if name == "tule":
                    runs = [client_ceiling(srv.url) for _ in range(args.runs)]
                    ceiling = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    t = results["tule"]
    m = results.get("moto")
    mb = RECORD / 1e6
    print(
        f"Kinesis benchmark, medians of {args.runs} runs; {SHARDS} shards, {RECORD}-byte records; "
        f"tule fsync on, limits off; {args.clients} PutRecords clients x {args.batches} x "
        f"{BATCH}; {os.cpu_count()} CPUs"
    )
    print(f"{'measure':44} {'tule':>10} {'baseline':>10} {'ratio':>7} {'target':>8}")
    rows = [
        ("PutRecords rec/s vs file (fsync/1k recs)", t["put"], file_write, "0.5x"),
        ("GetRecords rec/s vs page-cache file read", t["get"], file_read, "0.5x"),
    ]
    if m is not None:
        rows += [
            ("PutRecords rec/s vs moto", t["put"], m["put"], "3.0x"),
            ("GetRecords rec/s vs moto", t["get"], m["get"], "-"),
            (
                f"PutRecord calls/s, {args.latency_clients} clients vs moto",
                t["single"],
                m["single"],
                "-",
            ),
        ]
    for label, ours, base, target in rows:
        print(f"{label:44} {ours:10.0f} {base:10.0f} {ours / base:7.2f} {target:>8}")
    print(
        f"PutRecords: {t['put'] * mb:.1f} MB/s (floor 100,000 rec/s); "
        f"{t['put_cpu']:.0f} records per server CPU-second"
    )
    print(
        f"PutRecord with {args.latency_clients} concurrent clients: p50 {t['p50']:.2f} ms, "
        f"p99 {t['p99']:.2f} ms (target p99 <= 10 ms), {t['single']:.0f} calls/s"
    )
    targets = {"put": max(0.5 * file_write, 100_000), "get": 0.5 * file_read}
    print_ceiling(ceiling, t, targets)
    if m is not None:
        print(
            f"moto: PutRecords {m['put']:.0f} rec/s, GetRecords {m['get']:.0f} rec/s, "
            f"PutRecord p50 {m['p50']:.2f} ms p99 {m['p99']:.2f} ms"
        )


if __name__ == "__main__":
    main()
