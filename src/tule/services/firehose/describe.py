"""DeliveryStreamDescription: a stream record in AWS's output shape, defaults filled in."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tule.services.firehose.models import DESTINATION_ID, DeliveryStream

_PLAIN_MEMBERS = (
    "RoleARN",
    "BucketARN",
    "Prefix",
    "ErrorOutputPrefix",
    "BufferingHints",
    "CompressionFormat",
    "EncryptionConfiguration",
    "CloudWatchLoggingOptions",
)


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def destination_description(stream: DeliveryStream) -> dict[str, Any]:
    dest = copy.deepcopy(stream.destination)
    plain = {k: dest[k] for k in _PLAIN_MEMBERS if k in dest}
    out: dict[str, Any] = {"DestinationId": DESTINATION_ID, "S3DestinationDescription": plain}
    # AWS describes an S3 destination both ways, whichever way it was created.
    out["ExtendedS3DestinationDescription"] = dest
    return out


def description(stream: DeliveryStream) -> dict[str, Any]:
    source: dict[str, Any] = {}
    if stream.kinesis_source is not None:
        source["KinesisStreamSourceDescription"] = {
            "KinesisStreamARN": stream.kinesis_source["KinesisStreamARN"],
            "RoleARN": stream.kinesis_source["RoleARN"],
            "DeliveryStartTimestamp": _time(stream.created),
        }
    elif stream.direct_put is not None:
        source["DirectPutSourceDescription"] = dict(stream.direct_put)
    encryption: dict[str, Any] = {"Status": "DISABLED"}
    if stream.encryption is not None:
        encryption = {"KeyType": stream.encryption["KeyType"], "Status": "ENABLED"}
        if stream.encryption.get("KeyARN"):
            encryption["KeyARN"] = stream.encryption["KeyARN"]
    out: dict[str, Any] = {
        "DeliveryStreamName": stream.name,
        "DeliveryStreamARN": stream.arn,
        "DeliveryStreamStatus": stream.status,
        "DeliveryStreamEncryptionConfiguration": encryption,
        "DeliveryStreamType": stream.stream_type,
        "VersionId": str(stream.version),
        "CreateTimestamp": _time(stream.created),
        "Destinations": [destination_description(stream)],
        "HasMoreDestinations": False,
    }
    if stream.version > 1:
        out["LastUpdateTimestamp"] = _time(stream.updated)
    if source:
        out["Source"] = source
    return out
