"""Firehose benchmark: JSON -> Parquet conversion speed, and size-triggered flush latency.

1. Conversion (in process): N buffered JSON records (5 columns: bigint, string, double,
   boolean, timestamp) become Parquet bytes through Firehose's conversion path
   (`tule.services.firehose.conversion.convert`, OpenX JSON SerDe, Parquet SNAPPY). Baselines
   measured in the same run: (a) pyarrow `write_table` of the already-built Arrow table (the
   issue's target: ours >= 0.5x its speed), and (b) `pyarrow.json.read_json` of the same bytes
   plus `write_table`, the fairer baseline since it also parses the JSON.
2. Flush latency (through boto3 against `tule serve --fsync on`): a stream with a 1 MiB buffer
   and a 900 s interval receives PutRecordBatch calls of 100 x 4 KiB records; the time from the
   start of the call that crosses 1 MiB until the object is listed in S3 (goal <= 1 s).

Medians of 3.

    python benchmarks/streams_firehose.py [--records 1000000] [--runs 3] [--skip-flush]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from common import client, tule_server
from tule.services.firehose.conversion import convert
from tule.services.firehose.glue_types import arrow_schema

COLUMNS = [
    {"Name": "id", "Type": "bigint"},
    {"Name": "user", "Type": "string"},
    {"Name": "amount", "Type": "double"},
    {"Name": "ok", "Type": "boolean"},
    {"Name": "at", "Type": "timestamp"},
]
CONFIG = {
    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
    "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}},
}


def records(n: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "id": i,
                "user": f"user-{i % 1000}",
                "amount": i * 0.25,
                "ok": i % 3 == 0,
                "at": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00",
            }
        ).encode()
        for i in range(n)
    ]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def conversion(n: int, runs: int) -> None:
    data = records(n)
    schema = arrow_schema(COLUMNS)
    joined = b"\n".join(data)
    table = pajson.read_json(
        io.BytesIO(joined), parse_options=pajson.ParseOptions(explicit_schema=schema)
    )

    def write_only() -> bytes:
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="snappy")
        return sink.getvalue()

    def parse_and_write() -> bytes:
        parsed = pajson.read_json(io.BytesIO(b"\n".join(data)))
        sink = io.BytesIO()
        pq.write_table(parsed.cast(schema), sink, compression="snappy")
        return sink.getvalue()

    result = convert(data, schema, CONFIG)
    assert result.rows == n and not result.failed, "conversion lost records"
    assert pq.read_table(io.BytesIO(result.body)).schema.equals(schema)
    ours = statistics.median(timed(lambda: convert(data, schema, CONFIG)) for _ in range(runs))
    base_a = statistics.median(timed(write_only) for _ in range(runs))
    base_b = statistics.median(timed(parse_and_write) for _ in range(runs))
    mb = len(joined) / 1e6
    print(f"conversion of {n:,} JSON records ({mb:.0f} MB) to Parquet/snappy, median of {runs}:")
    print(f"  tule convert, JSON -> Parquet bytes  {ours:7.3f} s  {n / ours:12,.0f} rec/s")
    print(
        f"  (a) pyarrow write_table of a built table   {base_a:7.3f} s  {n / base_a:12,.0f} rec/s"
    )
    print(
        f"  (b) pyarrow read_json + write_table        {base_b:7.3f} s  {n / base_b:12,.0f} rec/s"
    )
    print(f"  ratio vs (a): {base_a / ours:.2f}x   (goal >= 0.5x)")
    print(f"  ratio vs (b): {base_b / ours:.2f}x")


def flush_latency(runs: int) -> None:
    record = b"r" * 4096
    batch = [{"Data": record}] * 100  # 400 KiB a call: the third call crosses 1 MiB
    latencies = []
    with tempfile.TemporaryDirectory() as tmp, tule_server(Path(tmp), fsync=True) as server:
        s3, firehose = client("s3", server.url), client("firehose", server.url)
        s3.create_bucket(Bucket="bench-flush")
        for run in range(runs):
            name = f"flush-{run}"
            firehose.create_delivery_stream(
                DeliveryStreamName=name,
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::000000000000:role/r",
                    "BucketARN": "arn:aws:s3:::bench-flush",
                    "Prefix": f"{name}/",
                    "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900},
                },
            )
            sent = 0
            while True:
                start = time.perf_counter()
                firehose.put_record_batch(DeliveryStreamName=name, Records=batch)
                sent += len(batch) * len(record)
                if sent >= 1024 * 1024:
                    break
            while not s3.list_objects_v2(Bucket="bench-flush", Prefix=f"{name}/").get("KeyCount"):
                if time.perf_counter() - start > 30:
                    raise RuntimeError("no object 30 s after the threshold was crossed")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - start)
    median = statistics.median(latencies)
    print(f"size-triggered flush latency (1 MiB buffer, fsync on), median of {runs}:")
    print(f"  {median * 1000:.0f} ms from the crossing PutRecordBatch to the object (goal <= 1000)")
    print(f"  runs: {', '.join(f'{x * 1000:.0f} ms' for x in latencies)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-flush", action="store_true")
    args = parser.parse_args()
    print(f"pyarrow {pa.__version__}")
    conversion(args.records, args.runs)
    if not args.skip_flush:
        flush_latency(args.runs)


if __name__ == "__main__":
    main()
