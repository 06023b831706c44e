"""Object names (prefix expressions, Java time patterns), de-aggregation and dynamic
partitioning with a JQ MetadataExtraction query."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from firehose_helpers import body, keys, s3_destination, unique

from tule.clock import ManualClock
from tule.errors import AwsError
from tule.services.firehose import prefixes
from tule.services.firehose.timeformat import compile_pattern

INSTANT = datetime(2018, 8, 27, 10, 30, 5, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy", "2018"),
        ("yy-M-d", "18-8-27"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2018-08-27T10:30:05.123"),
        ("MMM EEE a hh", "Aug Mon AM 10"),
        ("'quoted''s' D", "quoted's 239"),
    ],
)
def test_java_time_patterns_format_like_java(pattern: str, expected: str) -> None:
    assert compile_pattern(pattern)(INSTANT) == expected


@pytest.mark.parametrize("pattern", ["yyyy-qq", "'open", "[yyyy]"])
def test_patterns_java_rejects_are_errors(pattern: str) -> None:
    with pytest.raises(ValueError):
        compile_pattern(pattern)


def test_prefixes_without_expressions_get_the_time_folders() -> None:
    assert prefixes.data_prefix("", INSTANT) == "2018/08/27/10/"
    assert prefixes.data_prefix("logs/", INSTANT) == "logs/2018/08/27/10/"
    assert prefixes.data_prefix("d=!{timestamp:yyyy-MM-dd}/", INSTANT) == "d=2018-08-27/"
    assert (
        prefixes.error_prefix("", "", INSTANT, "processing-failed")
        == "processing-failed/2018/08/27/10/"
    )
    assert (
        prefixes.error_prefix("p/", "err/!{firehose:error-output-type}/", INSTANT, "x-failed")
        == "err/x-failed/"
    )


def test_partition_keys_are_evaluated_from_their_source() -> None:
    prefix = "c=!{partitionKeyFromQuery:c}/l=!{partitionKeyFromLambda:l}/"
    keys_ = {"query": {"c": "7"}, "lambda": {"l": "x"}}
    assert prefixes.data_prefix(prefix, INSTANT, keys_) == "c=7/l=x/"


def test_error_output_type_is_only_for_the_error_prefix() -> None:
    with pytest.raises(AwsError) as err:
        prefixes.validate("!{firehose:error-output-type}/", "e/", dynamic_partitioning=False)
    assert err.value.code == "InvalidArgumentException"


def _dynamic(firehose: Any, bucket: str, processors: list[dict[str, Any]]) -> str:
    name = unique("stream")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=s3_destination(
            bucket,
            Prefix="customer=!{partitionKeyFromQuery:customer}/",
            ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
            DynamicPartitioningConfiguration={"Enabled": True},
            ProcessingConfiguration={"Enabled": True, "Processors": processors},
        ),
    )
    return name


JQ = {
    "Type": "MetadataExtraction",
    "Parameters": [
        {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer:.c}"},
        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
    ],
}


def test_jq_partitioning_gives_one_object_per_key_and_errors_for_the_rest(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, bucket: str
) -> None:
    name = _dynamic(firehose, bucket, [JQ])
    records = [b'{"c": 1, "v": "a"}', b'{"c": 2, "v": "b"}', b'{"c": 1, "v": "c"}', b"oops"]
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])
    clock.advance(61)
    domain.flush_due()
    one, two = sorted(keys(s3, bucket, "customer="))
    assert one.startswith("customer=1/") and two.startswith("customer=2/")
    assert body(s3, bucket, one) == records[0] + records[2]
    (error_key,) = keys(s3, bucket, "errors/")
    assert error_key.startswith("errors/partitioning-failed/")
    (failure,) = [json.loads(x) for x in body(s3, bucket, error_key).splitlines()]
    assert failure["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed"


def test_json_sub_records_are_split_before_partitioning(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, bucket: str
) -> None:
    split = {
        "Type": "RecordDeAggregation",
        "Parameters": [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}],
    }
    newline = {"Type": "AppendDelimiterToRecord"}
    name = _dynamic(firehose, bucket, [split, JQ, newline])
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b'{"c":"x"} {"c":"y"}{"c":"x"}'})
    clock.advance(61)
    domain.flush_due()
    x, y = sorted(keys(s3, bucket))
    assert body(s3, bucket, x) == b'{"c":"x"}\n{"c":"x"}\n'
    assert body(s3, bucket, y) == b'{"c":"y"}\n'
