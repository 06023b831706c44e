"""Durability: acknowledged records survive SIGKILL of `tule serve`; streams survive restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from kinesis_helpers import drain, iterator

from tule.testing import TuleServer
from tule.testing.server import free_port


def _serve(data_dir: Path, port: int) -> subprocess.Popen:
    argv = [sys.executable, "-m", "tule.cli.main", "serve", "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--fsync", "on", "--log-level", "warning"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_tule/health", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("tule serve exited") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("tule serve did not start")


def _client(port: int) -> Any:
    return boto3.client(
        "kinesis",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def test_acknowledged_records_survive_sigkill(tmp_path: Path):
    port = free_port()
    proc = _serve(tmp_path, port)
    acked: list[tuple[str, str, bytes]] = []
    lock = threading.Lock()
    enough = threading.Event()
    try:
        kinesis = _client(port)
        kinesis.create_stream(StreamName="crash", ShardCount=2)

        def writer(n: int) -> None:
            client = _client(port)
            i = 0
            while True:
                batch = [(f"w{n}-{j % 5}", f"{n}:{i + j}".encode()) for j in range(20)]
                try:
                    if i % 3 == 0:
                        key, data = batch[0]
                        put = client.put_record(StreamName="crash", PartitionKey=key, Data=data)
                        done = [(put["ShardId"], put["SequenceNumber"], data)]
                        i += 1
                    else:
                        out = client.put_records(
                            StreamName="crash",
                            Records=[{"PartitionKey": k, "Data": d} for k, d in batch],
                        )
                        done = [
                            (r["ShardId"], r["SequenceNumber"], d)
                            for r, (_, d) in zip(out["Records"], batch, strict=True)
                            if "SequenceNumber" in r
                        ]
                        i += 20
                except Exception:
                    return  # the server is gone
                with lock:
                    acked.extend(done)
                    if len(acked) >= 1500:
                        enough.set()

        workers = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(4)]
        for w in workers:
            w.start()
        assert enough.wait(60)
        os.kill(proc.pid, signal.SIGKILL)  # while the writers are still writing
        proc.wait(10)
        for w in workers:
            w.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    proc = _serve(tmp_path, port)
    try:
        kinesis = _client(port)
        found: dict[tuple[str, str], bytes] = {}
        for shard in ("shardId-000000000000", "shardId-000000000001"):
            records, _ = drain(kinesis, iterator(kinesis, "crash", shard))
            numbers = [int(r["SequenceNumber"]) for r in records]
            assert numbers == sorted(numbers)
            found.update({(shard, r["SequenceNumber"]): r["Data"] for r in records})
        missing = [a for a in acked if found.get((a[0], a[1])) != a[2]]
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost"
        after = kinesis.put_record(StreamName="crash", PartitionKey="w0-0", Data=b"after")
        last = max(int(seq) for shard, seq in found if shard == after["ShardId"])
        assert int(after["SequenceNumber"]) > last
    finally:
        proc.terminate()
        proc.wait(20)


def test_streams_shards_and_tags_survive_a_restart(tmp_path: Path):
    with TuleServer(tmp_path, fsync=False) as first:
        k = first.client("kinesis")
        k.create_stream(StreamName="kept", ShardCount=2, Tags={"a": "b"})
        k.split_shard(
            StreamName="kept", ShardToSplit="shardId-000000000000", NewStartingHashKey="12345"
        )
        k.put_record(StreamName="kept", PartitionKey="pk", Data=b"one")
        shards = k.list_shards(StreamName="kept")["Shards"]
    with TuleServer(tmp_path, fsync=False) as second:
        k = second.client("kinesis")
        assert k.list_shards(StreamName="kept")["Shards"] == shards
        assert k.list_tags_for_stream(StreamName="kept")["Tags"] == [{"Key": "a", "Value": "b"}]
        put = k.put_record(StreamName="kept", PartitionKey="pk", Data=b"two")
        records, _ = drain(k, iterator(k, "kept", put["ShardId"]))
        assert [r["Data"] for r in records] == [b"one", b"two"]
