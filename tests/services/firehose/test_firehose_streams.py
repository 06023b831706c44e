"""Delivery stream lifecycle: create, describe, list, update, delete, tags, and the rules."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from firehose_helpers import ROLE, s3_destination, unique


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def test_create_answers_the_arn_and_describe_fills_every_default(firehose: Any, name: str) -> None:
    arn = firehose.create_delivery_stream(
        DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_destination("bkt-a")
    )["DeliveryStreamARN"]
    assert arn == f"arn:aws:firehose:us-east-1:000000000000:deliverystream/{name}"
    desc = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert desc["DeliveryStreamStatus"] == "ACTIVE"
    assert desc["DeliveryStreamType"] == "DirectPut"
    assert desc["VersionId"] == "1"
    assert desc["HasMoreDestinations"] is False
    (dest,) = desc["Destinations"]
    assert dest["DestinationId"] == "destinationId-000000000001"
    ext = dest["ExtendedS3DestinationDescription"]
    assert ext["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}
    assert ext["CompressionFormat"] == "UNCOMPRESSED"
    assert ext["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}
    assert ext["S3BackupMode"] == "Disabled"
    plain = dest["S3DestinationDescription"]
    assert plain["BucketARN"] == "arn:aws:s3:::bkt-a"
    assert plain["BufferingHints"] == ext["BufferingHints"]


def test_legacy_s3_destination_is_described_both_ways(firehose: Any, name: str) -> None:
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        S3DestinationConfiguration=s3_destination(
            "bkt-b", BufferingHints={"SizeInMBs": 2, "IntervalInSeconds": 90}
        ),
    )
    (dest,) = firehose.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]["Destinations"]
    assert dest["S3DestinationDescription"]["BufferingHints"]["SizeInMBs"] == 2
    assert dest["ExtendedS3DestinationDescription"]["BufferingHints"]["IntervalInSeconds"] == 90


def test_duplicate_name_is_resource_in_use(firehose: Any, name: str) -> None:
    firehose.create_delivery_stream(
        DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_destination("bkt")
    )
    with pytest.raises(ClientError) as err:
        firehose.create_delivery_stream(
            DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_destination("bkt")
        )
    assert _code(err) == "ResourceInUseException"


def test_unknown_stream_is_not_found_with_aws_message(firehose: Any) -> None:
    with pytest.raises(ClientError) as err:
        firehose.describe_delivery_stream(DeliveryStreamName="nope")
    assert _code(err) == "ResourceNotFoundException"
    assert err.value.response["Error"]["Message"] == (
        "Firehose nope under account 000000000000 not found."
    )


@pytest.mark.parametrize(
    "config",
    [
        {"BufferingHints": {"SizeInMBs": 3}},  # one of the two hints alone
        {"Prefix": "a/!{timestamp:yyyy}/"},  # expressions need an ErrorOutputPrefix
        {"Prefix": "a/!{timestamp:yyyy}/", "ErrorOutputPrefix": "e/!{timestamp:yyyy}/"},
        {"Prefix": "a/!{firehose:error-output-type}/", "ErrorOutputPrefix": "e/"},
        {"Prefix": "a/!{unknown:x}/", "ErrorOutputPrefix": "e/"},
        {"Prefix": "a/!{timestamp:yyyy-qq}/", "ErrorOutputPrefix": "e/"},
        {"Prefix": "!{partitionKeyFromQuery:k}/", "ErrorOutputPrefix": "e/"},  # no DP
        {
            "CompressionFormat": "GZIP",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "DataFormatConversionConfiguration": {
                "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "d", "TableName": "t"},
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
            },
        },
        {
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 60},
            "DataFormatConversionConfiguration": {
                "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": "d", "TableName": "t"},
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
            },
        },
        {"CustomTimeZone": "Mars/Olympus"},
        {"S3BackupMode": "Enabled"},
        {
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [{"Type": "Lambda", "Parameters": []}],
            }
        },
    ],
    ids=[
        "one-hint",
        "expr-without-error-prefix",
        "error-prefix-without-type",
        "error-type-in-prefix",
        "unknown-namespace",
        "bad-timestamp-pattern",
        "partition-key-without-dp",
        "conversion-with-gzip",
        "conversion-small-buffer",
        "bad-time-zone",
        "backup-without-config",
        "lambda-without-arn",
    ],
)
def test_invalid_destinations_are_rejected(firehose: Any, config: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as err:
        firehose.create_delivery_stream(
            DeliveryStreamName=unique("bad"),
            ExtendedS3DestinationConfiguration=s3_destination("bkt", **config),
        )
    assert _code(err) == "InvalidArgumentException"


def test_list_pages_by_name_and_filters_by_type(firehose: Any) -> None:
    base = unique("lst")
    names = [f"{base}-{i}" for i in range(3)]
    for n in names:
        firehose.create_delivery_stream(
            DeliveryStreamName=n, ExtendedS3DestinationConfiguration=s3_destination("bkt")
        )
    first = firehose.list_delivery_streams(Limit=1, ExclusiveStartDeliveryStreamName=f"{base}-")
    assert first["DeliveryStreamNames"] == names[:1]
    assert first["HasMoreDeliveryStreams"] is True
    rest = firehose.list_delivery_streams(Limit=10000, ExclusiveStartDeliveryStreamName=names[0])
    assert [n for n in rest["DeliveryStreamNames"] if n.startswith(base)] == names[1:]
    kinesis_only = firehose.list_delivery_streams(DeliveryStreamType="KinesisStreamAsSource")
    assert not set(names) & set(kinesis_only["DeliveryStreamNames"])


def test_update_destination_checks_and_increments_the_version(firehose: Any, name: str) -> None:
    firehose.create_delivery_stream(
        DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_destination("bkt")
    )
    firehose.update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId="1",
        DestinationId="destinationId-000000000001",
        ExtendedS3DestinationUpdate={"CompressionFormat": "GZIP", "Prefix": "p/"},
    )
    desc = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert desc["VersionId"] == "2"
    ext = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert (ext["CompressionFormat"], ext["Prefix"]) == ("GZIP", "p/")
    assert ext["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}  # kept
    assert "LastUpdateTimestamp" in desc
    with pytest.raises(ClientError) as err:
        firehose.update_destination(
            DeliveryStreamName=name,
            CurrentDeliveryStreamVersionId="1",
            DestinationId="destinationId-000000000001",
            ExtendedS3DestinationUpdate={"CompressionFormat": "ZIP"},
        )
    assert _code(err) == "ConcurrentModificationException"


def test_delete_removes_the_stream(firehose: Any, name: str) -> None:
    firehose.create_delivery_stream(
        DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_destination("bkt")
    )
    firehose.delete_delivery_stream(DeliveryStreamName=name)
    assert name not in firehose.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    with pytest.raises(ClientError) as err:
        firehose.delete_delivery_stream(DeliveryStreamName=name)
    assert _code(err) == "ResourceNotFoundException"


def test_tags_are_added_listed_in_pages_and_removed(firehose: Any, name: str) -> None:
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=s3_destination("bkt"),
        Tags=[{"Key": "a", "Value": "1"}],
    )
    firehose.tag_delivery_stream(
        DeliveryStreamName=name, Tags=[{"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}]
    )
    page = firehose.list_tags_for_delivery_stream(DeliveryStreamName=name, Limit=2)
    assert page["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert page["HasMoreTags"] is True
    firehose.untag_delivery_stream(DeliveryStreamName=name, TagKeys=["a", "c"])
    rest = firehose.list_tags_for_delivery_stream(DeliveryStreamName=name)
    assert rest == {**rest, "Tags": [{"Key": "b", "Value": "2"}], "HasMoreTags": False}


def test_more_than_fifty_tags_is_limit_exceeded(firehose: Any, name: str) -> None:
    firehose.create_delivery_stream(
        DeliveryStreamName=name, ExtendedS3DestinationConfiguration=s3_destination("bkt")
    )
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    firehose.tag_delivery_stream(DeliveryStreamName=name, Tags=tags)
    with pytest.raises(ClientError) as err:
        firehose.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "one-more"}])
    assert _code(err) == "LimitExceededException"


def test_streams_survive_a_restart(tmp_path: Any) -> None:
    from tule.testing import TuleServer

    with TuleServer(tmp_path, fsync=False) as first:
        first.client("firehose").create_delivery_stream(
            DeliveryStreamName="kept",
            ExtendedS3DestinationConfiguration=s3_destination("bkt", Prefix="x/"),
            Tags=[{"Key": "t", "Value": "v"}],
        )
    with TuleServer(tmp_path, fsync=False) as second:
        client = second.client("firehose")
        desc = client.describe_delivery_stream(DeliveryStreamName="kept")
        ext = desc["DeliveryStreamDescription"]["Destinations"][0][
            "ExtendedS3DestinationDescription"
        ]
        assert ext["Prefix"] == "x/"
        assert client.list_tags_for_delivery_stream(DeliveryStreamName="kept")["Tags"] == [
            {"Key": "t", "Value": "v"}
        ]
