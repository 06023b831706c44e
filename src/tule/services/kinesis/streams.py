"""Stream lifecycle rules: what CreateStream, the retention operations and tagging accept.

Each function checks one request against AWS's limits (spec §6.3) and answers the new value or
raises AWS's error; the domain holds its lock around the check and the change, and persists it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from tule.services.kinesis import resharding
from tule.services.kinesis.catalog import Live
from tule.services.kinesis.errors import invalid_argument, limit_exceeded
from tule.services.kinesis.models import (
    DEFAULT_RETENTION_HOURS,
    MAX_RETENTION_HOURS,
    ON_DEMAND_SHARDS,
    ON_DEMAND_STREAM_LIMIT,
    SHARD_LIMIT,
    Shard,
    Stream,
)

MAX_TAGS = 50


def new_stream(
    scope: Iterable[Live],
    account: str,
    region: str,
    name: str,
    now: float,
    *,
    shard_count: int | None,
    mode: str | None,
    tags: dict[str, str] | None,
    max_record_kib: int | None,
) -> Stream:
    """A new stream with its first shards, if the account's limits in this region (`scope`:
    its streams) allow it; the caller checks the name is free."""
    mode = mode or "PROVISIONED"
    if mode == "PROVISIONED" and shard_count is None:
        raise invalid_argument("ShardCount is required for PROVISIONED streams.")
    count = shard_count if shard_count is not None else ON_DEMAND_SHARDS
    streams = [live.stream for live in scope]
    open_now = sum(len(s.open_shards) for s in streams)
    if open_now + count > SHARD_LIMIT:
        raise limit_exceeded(
            f"This request would exceed the shard limit for the account {account} in "
            f"{region}. Current shard count for the account: {open_now}. Limit: "
            f"{SHARD_LIMIT}. Number of additional shards that would have resulted "
            f"from this request: {count}."
        )
    if mode == "ON_DEMAND":
        on_demand = sum(1 for s in streams if s.mode == "ON_DEMAND")
        if on_demand >= ON_DEMAND_STREAM_LIMIT:
            raise limit_exceeded(
                f"This request would exceed the on-demand stream count limit for the "
                f"account {account} in {region}. Limit: {ON_DEMAND_STREAM_LIMIT}."
            )
    stream = Stream(
        account=account,
        region=region,
        name=name,
        uid=uuid.uuid4().hex[:20],
        created=now,
        mode=mode,
        tags=dict(tags or {}),
        max_record_kib=max_record_kib or 1024,
    )
    resharding.initial_shards(stream, count, now)
    return stream


def check_retention(stream: Stream, hours: int, *, increase: bool) -> None:
    """Refuse a retention period out of bounds, or one that moves the wrong way for the
    operation (IncreaseStreamRetentionPeriod never shortens, Decrease never lengthens)."""
    current = stream.retention_hours
    if hours < DEFAULT_RETENTION_HOURS:
        raise invalid_argument(
            f"Minimum allowed retention period is {DEFAULT_RETENTION_HOURS} hours. "
            f"Requested retention period ({hours} hours) is too short."
        )
    if hours > MAX_RETENTION_HOURS:
        raise invalid_argument(
            f"Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. "
            f"Requested retention period ({hours} hours) is too long."
        )
    if increase and hours < current:
        raise invalid_argument(
            f"Requested retention period ({hours} hours) for stream {stream.name} can "
            f"not be shorter than existing retention period ({current} hours). Use "
            "DecreaseRetentionPeriod API."
        )
    if not increase and hours > current:
        raise invalid_argument(
            f"Requested retention period ({hours} hours) for stream {stream.name} can "
            f"not be longer than existing retention period ({current} hours). Use "
            "IncreaseRetentionPeriod API."
        )


def merged_tags(stream: Stream, tags: dict[str, str]) -> dict[str, str]:
    """The stream's tags with `tags` added or replaced; a stream holds at most 50."""
    merged = {**stream.tags, **tags}
    if len(merged) > MAX_TAGS:
        raise limit_exceeded(
            f"Failed to add tags to stream {stream.name} under account {stream.account} "
            f"because a given stream cannot have more than {MAX_TAGS} tags."
        )
    return merged


def visible_shards(stream: Stream, now: float) -> list[Shard]:
    """Open shards and the closed ones whose records may still be within retention."""
    floor = now - stream.retention_hours * 3600
    return [s for s in stream.shards if s.closed_at is None or s.closed_at >= floor]
