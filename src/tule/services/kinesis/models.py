"""Streams, shards and consumers as plain data, and how they are stored as records.

A stream record holds its shards (open and closed), tags, consumers and resharding history:
everything but the records themselves, which live in one shard log per shard. Shard ids are
`shardId-` + a 12-digit index; the index also goes into sequence numbers (see `sequence`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_HASH_KEY = (1 << 128) - 1
DEFAULT_RETENTION_HOURS = 24
MAX_RETENTION_HOURS = 8760
ON_DEMAND_SHARDS = 4  # what an on-demand stream starts with
SHARD_LIMIT = 500  # AWS's default open-shard quota per account and region (us-east-1)
ON_DEMAND_STREAM_LIMIT = 50


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def stream_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:kinesis:{region}:{account}:stream/{name}"


def consumer_arn(stream: str, name: str, created: float) -> str:
    return f"{stream}/consumer/{name}:{int(created)}"


@dataclass
class Shard:
    """One shard: its hash-key range, lineage and lifetime (epoch seconds)."""

    shard_id: str
    index: int
    start_hash: int
    end_hash: int
    created: float
    parents: tuple[str, ...] = ()  # every shard whose range it took over
    closed_at: float | None = None

    @property
    def parent_shard_id(self) -> str | None:
        return self.parents[0] if self.parents else None

    @property
    def adjacent_parent_shard_id(self) -> str | None:
        return self.parents[1] if len(self.parents) > 1 else None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.shard_id,
            "index": self.index,
            "start": str(self.start_hash),
            "end": str(self.end_hash),
            "created": self.created,
            "parents": list(self.parents),
            "closed": self.closed_at,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Shard:
        return cls(
            shard_id=r["id"],
            index=r["index"],
            start_hash=int(r["start"]),
            end_hash=int(r["end"]),
            created=r["created"],
            parents=tuple(r["parents"]),
            closed_at=r["closed"],
        )


@dataclass
class Consumer:
    """An enhanced fan-out consumer registered on a stream."""

    name: str
    arn: str
    created: float
    status: str = "ACTIVE"


@dataclass
class Stream:
    """A data stream of one account and region."""

    account: str
    region: str
    name: str
    uid: str  # tells a re-created stream from an earlier one of the same name
    created: float
    mode: str = "PROVISIONED"
    retention_hours: int = DEFAULT_RETENTION_HOURS
    status: str = "ACTIVE"
    shards: list[Shard] = field(default_factory=list)
    next_index: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    scalings: list[float] = field(default_factory=list)  # UpdateShardCount times
    max_record_kib: int = 1024

    @property
    def arn(self) -> str:
        return stream_arn(self.account, self.region, self.name)

    @property
    def open_shards(self) -> list[Shard]:
        return [s for s in self.shards if s.is_open]

    def shard(self, shard_id: str) -> Shard | None:
        for s in self.shards:
            if s.shard_id == shard_id:
                return s
        return None

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uid": self.uid,
            "created": self.created,
            "mode": self.mode,
            "retention": self.retention_hours,
            "status": self.status,
            "shards": [s.to_record() for s in self.shards],
            "nextIndex": self.next_index,
            "tags": self.tags,
            "consumers": [
                {"name": c.name, "arn": c.arn, "created": c.created, "status": c.status}
                for c in self.consumers.values()
            ],
            "scalings": self.scalings,
            "maxRecordKiB": self.max_record_kib,
        }

    @classmethod
    def from_record(cls, account: str, region: str, r: dict[str, Any]) -> Stream:
        consumers = [
            Consumer(c["name"], c["arn"], c["created"], c["status"]) for c in r["consumers"]
        ]
        return cls(
            account=account,
            region=region,
            name=r["name"],
            uid=r["uid"],
            created=r["created"],
            mode=r["mode"],
            retention_hours=r["retention"],
            status=r["status"],
            shards=[Shard.from_record(s) for s in r["shards"]],
            next_index=r["nextIndex"],
            tags=dict(r["tags"]),
            consumers={c.name: c for c in consumers},
            scalings=list(r["scalings"]),
            max_record_kib=r.get("maxRecordKiB", 1024),
        )


def even_ranges(count: int, low: int = 0, high: int = MAX_HASH_KEY) -> list[tuple[int, int]]:
    """`count` contiguous ranges splitting [low, high] evenly, the last taking the remainder
    (AWS's layout for a new stream: step = floor(2^128 / N))."""
    step = (high - low + 1) // count
    ranges = [(low + i * step, low + (i + 1) * step - 1) for i in range(count)]
    ranges[-1] = (ranges[-1][0], high)
    return ranges
