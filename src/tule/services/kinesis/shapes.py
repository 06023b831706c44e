"""Shapes the handlers share: the stream a request names, and the Record, ChildShard and
Consumer shapes several operations answer."""

from __future__ import annotations

from typing import Any

from tule.services.kinesis.errors import invalid_argument
from tule.services.kinesis.models import Consumer, Shard, Stream
from tule.storage.shard_log import LogRecord

Request = dict[str, Any]
Response = dict[str, Any]


def stream_ref(request: Request) -> str:
    """The stream a request names, by StreamName or StreamARN (AWS accepts either)."""
    name, arn = request.get("StreamName"), request.get("StreamARN")
    if name is None and arn is None:
        raise invalid_argument("Either StreamName or StreamARN should be provided.")
    if name is not None and arn is not None and not arn.endswith(f":stream/{name}"):
        raise invalid_argument("StreamARN and StreamName do not name the same stream.")
    return arn if arn is not None else name


def mode(stream: Stream) -> Response:
    """StreamModeDetails."""
    return {"StreamMode": stream.mode}


def record_list(found: list[LogRecord], sequence_numbers: list[str]) -> list[Response]:
    """GetRecords' and SubscribeToShardEvent's Records."""
    return [
        {
            "SequenceNumber": seq,
            "ApproximateArrivalTimestamp": arrival / 1000,
            "Data": data,
            "PartitionKey": key.decode(),
        }
        for (_, arrival, key, data), seq in zip(found, sequence_numbers, strict=True)
    ]


def child_shards(children: list[Shard]) -> list[Response]:
    """The ChildShards that end a closed shard's reading."""
    return [
        {
            "ShardId": child.shard_id,
            "ParentShards": list(child.parents),
            "HashKeyRange": {
                "StartingHashKey": str(child.start_hash),
                "EndingHashKey": str(child.end_hash),
            },
        }
        for child in children
    ]


def consumer_shape(c: Consumer) -> Response:
    return {
        "ConsumerName": c.name,
        "ConsumerARN": c.arn,
        "ConsumerStatus": c.status,
        "ConsumerCreationTimestamp": c.created,
    }
