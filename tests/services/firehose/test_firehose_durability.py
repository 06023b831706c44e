"""Buffers are durable and delivered once: across a SIGKILL of `tule serve`, and across a crash
between writing an object and forgetting its records."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from firehose_helpers import START, keys, s3_destination, wait_keys

from tule.clock import ManualClock
from tule.testing import TuleServer
from tule.testing.server import free_port

FLAGS = ("--fsync", "on", "--log-level", "warning")


class Served:
    """`tule serve` in a child process, so a test can SIGKILL it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Served:
        exe = shutil.which("tule", path=os.path.dirname(sys.executable)) or "tule"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir.parent / "serve.log", "ab") as log:
            self.proc = subprocess.Popen(
                [exe, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), *FLAGS],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/_tule/health", timeout=1)
                return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        log_text = (self.data_dir.parent / "serve.log").read_text()
        raise RuntimeError(f"tule serve did not start: {log_text}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}),
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path / "data")
    yield server
    server.kill()


def _record(i: int) -> bytes:
    return b"<%06d>" % i + b"." * 992  # 1000 bytes, each record findable by its number


def test_acknowledged_records_survive_sigkill_and_arrive_exactly_once(served: Served) -> None:
    served.start()
    s3, firehose = served.client("s3"), served.client("firehose")
    s3.create_bucket(Bucket="durable")
    firehose.create_delivery_stream(
        DeliveryStreamName="d",
        ExtendedS3DestinationConfiguration=s3_destination(
            "durable", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}
        ),
    )
    firehose.put_record_batch(
        DeliveryStreamName="d", Records=[{"Data": _record(i)} for i in range(300)]
    )
    served.kill()  # long before the interval: the records are only in the buffer
    served.start()
    s3, firehose = served.client("s3"), served.client("firehose")
    assert keys(s3, "durable") == []
    for start in (300, 700):  # 800 more records cross the 1 MiB threshold
        firehose.put_record_batch(
            DeliveryStreamName="d",
            Records=[{"Data": _record(i)} for i in range(start, start + 400)],
        )
    (key,) = wait_keys(s3, "durable", 1)
    data = s3.get_object(Bucket="durable", Key=key)["Body"].read()
    for i in range(300):
        assert data.count(b"<%06d>" % i) == 1
    assert data.startswith(_record(0))  # oldest first


def test_a_crash_after_the_s3_write_does_not_deliver_twice(tmp_path: Path) -> None:
    clock = ManualClock(start=START)
    with TuleServer(tmp_path, clock=clock, fsync=False, tick_interval_s=0) as first:
        s3, firehose = first.client("s3"), first.client("firehose")
        s3.create_bucket(Bucket="once")
        firehose.create_delivery_stream(
            DeliveryStreamName="o",
            ExtendedS3DestinationConfiguration=s3_destination(
                "once", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60}
            ),
        )
        firehose.put_record_batch(DeliveryStreamName="o", Records=[{"Data": b"abc"}] * 10)
        domain = first.app.domains["firehose"]

        def crash(*_: object) -> None:
            raise RuntimeError("crashed before forgetting the delivered records")

        domain.buffers.finish = crash
        clock.advance(61)
        with pytest.raises(RuntimeError):
            domain.flush_due()
        (written,) = keys(s3, "once")
    with TuleServer(tmp_path, clock=clock, fsync=False, tick_interval_s=0) as second:
        s3 = second.client("s3")
        domain = second.app.domains["firehose"]
        domain.flush_due()  # carries out the sealed flush again: same key, same bytes
        domain.flush_due()
        assert keys(s3, "once") == [written]
        assert s3.get_object(Bucket="once", Key=written)["Body"].read() == b"abc" * 10
        assert domain.buffers.sealed() == []
        assert domain.buffers.stats() == {}
