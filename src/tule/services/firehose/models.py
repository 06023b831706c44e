"""A delivery stream as stored: identity, status, version, source, destination and tags."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

DESTINATION_ID = "destinationId-000000000001"


@dataclass(frozen=True)
class DeliveryStream:
    """One delivery stream of an (account, region).

    `uid` tells apart streams that reuse a deleted stream's name, so records buffered for the
    old one can never be delivered for the new one. `destination` is the S3 destination's
    description (see `destination`); `legacy` says it was created as S3DestinationConfiguration.
    """

    account: str
    region: str
    name: str
    uid: str
    stream_type: str
    status: str
    version: int
    created: float
    updated: float
    destination: dict[str, Any]
    legacy: bool = False
    kinesis_source: dict[str, Any] | None = None  # {KinesisStreamARN, RoleARN}
    direct_put: dict[str, Any] | None = None  # {ThroughputHintInMBs}
    encryption: dict[str, Any] | None = None  # {KeyType, KeyARN}
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:firehose:{self.region}:{self.account}:deliverystream/{self.name}"

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DeliveryStream:
        return cls(**record)

    def with_changes(self, **changes: Any) -> DeliveryStream:
        return replace(self, **changes)
