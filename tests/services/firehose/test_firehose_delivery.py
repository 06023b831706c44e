"""Put APIs and delivery to S3: buffering by size and by interval, object names, compression."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from typing import Any

import cramjam
import pytest
from botocore.exceptions import ClientError
from firehose_helpers import body, keys, s3_destination, wait_keys

from tule.clock import ManualClock
from tule.services.firehose.compression import hadoop_snappy_decompress

MiB = 1024 * 1024
_KEY = re.compile(
    r"^(?P<prefix>.*?)(?P<name>stream-[0-9a-f]+)-(?P<version>\d+)-"
    r"(?P<time>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-"
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?P<ext>.*)$"
)


def _create(firehose: Any, name: str, bucket: str, **config: Any) -> None:
    config.setdefault("BufferingHints", {"SizeInMBs": 1, "IntervalInSeconds": 60})
    firehose.create_delivery_stream(
        DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_destination(bucket, **config)
    )


def _expire(clock: ManualClock, domain: Any, seconds: float = 61) -> None:
    clock.advance(seconds)
    domain.flush_due()


def test_put_record_batch_answers_one_record_id_per_record(
    firehose: Any, name: str, bucket: str
) -> None:
    _create(firehose, name, bucket)
    out = firehose.put_record_batch(
        DeliveryStreamName=name, Records=[{"Data": b"r%d" % i} for i in range(500)]
    )
    assert out["FailedPutCount"] == 0
    ids = [r["RecordId"] for r in out["RequestResponses"]]
    assert len(ids) == 500 and len(set(ids)) == 500
    assert firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x"})["RecordId"]


def test_batches_over_the_limits_are_rejected(firehose: Any, name: str, bucket: str) -> None:
    _create(firehose, name, bucket)
    with pytest.raises(ClientError):  # 501 records: the model's limit
        firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}] * 501)
    big = [{"Data": b"x" * 1_000_000}] * 5  # 5 MB in all
    with pytest.raises(ClientError) as err:
        firehose.put_record_batch(DeliveryStreamName=name, Records=big)
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
    with pytest.raises(ClientError):
        firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x" * 1_024_001})


def test_put_to_an_unknown_stream_is_not_found(firehose: Any) -> None:
    with pytest.raises(ClientError) as err:
        firehose.put_record(DeliveryStreamName="missing", Record={"Data": b"x"})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_size_triggers_one_full_object_at_once_and_the_rest_waits_for_the_interval(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str, bucket: str
) -> None:
    _create(firehose, name, bucket)
    record = b"z" * 1000
    for _ in range(3):  # 1.2 MB in 400-record batches
        firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": record}] * 400)
    (first,) = wait_keys(s3, bucket, 1)
    assert MiB <= len(body(s3, bucket, first)) < MiB + len(record)
    assert keys(s3, bucket) == [first]  # not one object per call
    _expire(clock, domain)
    rest = [k for k in keys(s3, bucket) if k != first]
    assert len(rest) == 1
    assert len(body(s3, bucket, first)) + len(body(s3, bucket, rest[0])) == 1_200_000


def test_interval_flush_concatenates_records_without_delimiters_in_order(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str, bucket: str
) -> None:
    _create(firehose, name, bucket)
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"one"})
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"two"}, {"Data": b"3"}])
    clock.advance(30)
    domain.flush_due()
    assert keys(s3, bucket) == []  # the interval has not passed
    _expire(clock, domain, 31)
    (key,) = keys(s3, bucket)
    assert body(s3, bucket, key) == b"onetwo3"


def test_object_key_has_time_prefix_name_version_time_and_uuid(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str, bucket: str
) -> None:
    _create(firehose, name, bucket)
    arrival = clock.now()
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"a"})
    _expire(clock, domain)
    (key,) = keys(s3, bucket)
    match = _KEY.match(key)
    assert match is not None, key
    assert match["prefix"] == arrival.strftime("%Y/%m/%d/%H/")
    assert (match["name"], match["version"], match["ext"]) == (name, "1", "")
    assert match["time"] == arrival.strftime("%Y-%m-%d-%H-%M-%S")


def test_update_destination_version_appears_in_later_object_names(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str, bucket: str
) -> None:
    _create(firehose, name, bucket)
    firehose.update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId="1",
        DestinationId="destinationId-000000000001",
        ExtendedS3DestinationUpdate={"Prefix": "v2/"},
    )
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"a"})
    _expire(clock, domain)
    (key,) = keys(s3, bucket)
    match = _KEY.match(key)
    assert match is not None and match["version"] == "2"
    assert match["prefix"].startswith("v2/")


def test_prefix_expressions_and_custom_time_zone(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str, bucket: str
) -> None:
    _create(
        firehose,
        name,
        bucket,
        Prefix="data/year=!{timestamp:yyyy}/hm=!{timestamp:HH'h'mm}/r=!{firehose:random-string}/",
        ErrorOutputPrefix="err/!{firehose:error-output-type}/",
        CustomTimeZone="Asia/Tokyo",
    )
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"a"})
    arrival = clock.time()
    _expire(clock, domain)
    (key,) = keys(s3, bucket)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tokyo = datetime.fromtimestamp(arrival, ZoneInfo("Asia/Tokyo"))
    expected = f"data/year={tokyo:%Y}/hm={tokyo:%H}h{tokyo:%M}/r="
    assert key.startswith(expected), key
    random_part = key[len(expected) :].split("/")[0]
    assert re.fullmatch(r"[A-Za-z0-9]{11}", random_part)
    assert f"-{tokyo:%Y-%m-%d-%H-%M-%S}-" in key  # the suffix uses the time zone too


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [("GZIP", ".gz"), ("ZIP", ".zip"), ("Snappy", ".snappy"), ("HADOOP_SNAPPY", ".snappy")],
)
def test_compressed_objects_decompress_to_the_records(
    firehose: Any,
    s3: Any,
    domain: Any,
    clock: ManualClock,
    name: str,
    bucket: str,
    fmt: str,
    ext: str,
) -> None:
    _create(firehose, name, bucket, CompressionFormat=fmt)
    records = [b"record-%05d;" % i for i in range(2000)]
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records[:500]])
    firehose.put_record_batch(
        DeliveryStreamName=name, Records=[{"Data": r} for r in records[500:1000]]
    )
    _expire(clock, domain)
    (key,) = keys(s3, bucket)
    assert key.endswith(ext)
    raw = body(s3, bucket, key)
    if fmt == "GZIP":
        data = gzip.decompress(raw)
    elif fmt == "ZIP":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            (entry,) = archive.namelist()
            data = archive.read(entry)
    elif fmt == "Snappy":
        data = bytes(cramjam.snappy.decompress(raw))
    else:
        data = hadoop_snappy_decompress(raw)
    assert data == b"".join(records[:1000])


def test_file_extension_overrides_the_default(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str, bucket: str
) -> None:
    _create(firehose, name, bucket, CompressionFormat="GZIP", FileExtension=".json.gz")
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"{}"})
    _expire(clock, domain)
    (key,) = keys(s3, bucket)
    assert key.endswith(".json.gz") and not key.endswith(".gz.json.gz")


def test_delivery_waits_for_a_missing_bucket_and_logs_the_error(
    server: Any, firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str
) -> None:
    bucket = f"later-{name}"
    _create(
        firehose,
        name,
        bucket,
        CloudWatchLoggingOptions={
            "Enabled": True,
            "LogGroupName": f"/aws/kinesisfirehose/{name}",
            "LogStreamName": "DestinationDelivery",
        },
    )
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"kept"})
    _expire(clock, domain)
    logs = server.client("logs")
    events = logs.get_log_events(
        logGroupName=f"/aws/kinesisfirehose/{name}", logStreamName="DestinationDelivery"
    )["events"]
    assert events and "S3.NoSuchBucket" in events[0]["message"]
    s3.create_bucket(Bucket=bucket)
    domain.flush_due()
    (key,) = keys(s3, bucket)
    assert body(s3, bucket, key) == b"kept"


def test_append_delimiter_processor_ends_each_record_with_a_newline(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str, bucket: str
) -> None:
    _create(
        firehose,
        name,
        bucket,
        ProcessingConfiguration={
            "Enabled": True,
            "Processors": [{"Type": "AppendDelimiterToRecord"}],
        },
    )
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"a"}, {"Data": b"b"}])
    _expire(clock, domain)
    (key,) = keys(s3, bucket)
    assert body(s3, bucket, key) == b"a\nb\n"


def test_backup_mode_writes_the_source_records_to_the_backup_bucket(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, name: str, bucket: str
) -> None:
    _create(
        firehose,
        name,
        bucket,
        S3BackupMode="Enabled",
        S3BackupConfiguration=s3_destination(
            bucket, Prefix="backup/", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60}
        ),
        ProcessingConfiguration={
            "Enabled": True,
            "Processors": [{"Type": "AppendDelimiterToRecord"}],
        },
    )
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"src"})
    _expire(clock, domain)
    (backup,) = keys(s3, bucket, "backup/")
    assert body(s3, bucket, backup) == b"src"
    (data,) = [k for k in keys(s3, bucket) if not k.startswith("backup/")]
    assert body(s3, bucket, data) == b"src\n"
