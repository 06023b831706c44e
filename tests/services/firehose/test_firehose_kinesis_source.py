"""KinesisStreamAsSource: records read from every shard (children after parents), KPL
aggregated records de-aggregated, durable checkpoints, and no direct puts."""

from __future__ import annotations

from typing import Any

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from botocore.exceptions import ClientError
from firehose_helpers import ROLE, body, keys, s3_destination, unique

from tule.clock import ManualClock


def _source(server: Any, shards: int = 1) -> tuple[Any, str, str]:
    kinesis = server.client("kinesis")
    stream = unique("src")
    kinesis.create_stream(StreamName=stream, ShardCount=shards)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    return kinesis, stream, arn


def _delivery(firehose: Any, arn: str, bucket: str, **config: Any) -> str:
    name = unique("stream")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=s3_destination(
            bucket, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60}, **config
        ),
    )
    return name


def _deliver(domain: Any, clock: ManualClock) -> None:
    domain.poll_sources()
    clock.advance(61)
    domain.flush_due()


def test_records_flow_from_every_shard_once(
    server: Any, firehose: Any, s3: Any, domain: Any, clock: ManualClock, bucket: str
) -> None:
    kinesis, stream, arn = _source(server, shards=2)
    for i in range(20):
        kinesis.put_record(StreamName=stream, Data=b"<%d>" % i, PartitionKey=f"pk{i}")
    name = _delivery(firehose, arn, bucket)
    desc = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert desc["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == arn
    _deliver(domain, clock)
    assert domain.poll_sources() == 0  # the checkpoints moved with the records
    data = b"".join(body(s3, bucket, k) for k in keys(s3, bucket))
    assert sorted(data.replace(b"><", b">\n<").split(b"\n")) == sorted(
        b"<%d>" % i for i in range(20)
    )


def test_kpl_aggregated_records_are_deaggregated(
    server: Any, firehose: Any, s3: Any, domain: Any, clock: ManualClock, bucket: str
) -> None:
    kinesis, stream, arn = _source(server)
    aggregator = RecordAggregator()
    for i in range(5):
        aggregator.add_user_record(f"user{i}", b"u%d;" % i)
    pk, _, packed = aggregator.clear_and_get().get_contents()
    kinesis.put_record(StreamName=stream, Data=packed, PartitionKey=pk)
    name = _delivery(
        firehose,
        arn,
        bucket,
        ProcessingConfiguration={
            "Enabled": True,
            "Processors": [{"Type": "AppendDelimiterToRecord"}],
        },
    )
    assert name
    _deliver(domain, clock)
    (key,) = keys(s3, bucket)
    assert body(s3, bucket, key) == b"u0;\nu1;\nu2;\nu3;\nu4;\n"


def test_child_shards_are_read_after_their_parent(
    server: Any, firehose: Any, s3: Any, domain: Any, clock: ManualClock, bucket: str
) -> None:
    kinesis, stream, arn = _source(server)
    kinesis.put_record(StreamName=stream, Data=b"parent;", PartitionKey="a")
    name = _delivery(firehose, arn, bucket)
    assert domain.poll_sources() == 1
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]
    kinesis.split_shard(
        StreamName=stream,
        ShardToSplit=shard["ShardId"],
        NewStartingHashKey=str(2**127),
    )
    kinesis.put_record(StreamName=stream, Data=b"child;", PartitionKey="a")
    _deliver(domain, clock)
    data = b"".join(body(s3, bucket, k) for k in keys(s3, bucket))
    assert data == b"parent;child;"
    with pytest.raises(ClientError) as err:
        firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"


def test_a_missing_source_stream_is_rejected(firehose: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        _delivery(firehose, "arn:aws:kinesis:us-east-1:000000000000:stream/none", bucket)
    assert err.value.response["Error"]["Code"] == "InvalidArgumentException"
