"""Listings and their paging: DescribeStream's shards, ListShards (with ShardFilter and
NextToken), ListStreams and ListTagsForStream, and the Shard shape they share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tule.services.kinesis import sequence
from tule.services.kinesis.errors import invalid_argument
from tule.services.kinesis.iterators import open_page_token, page_token
from tule.services.kinesis.models import Shard, Stream

if TYPE_CHECKING:
    from tule.services.kinesis import Kinesis


def shard_shape(s: Shard) -> dict[str, Any]:
    numbers = {"StartingSequenceNumber": sequence.starting(s.created, s.index)}
    if s.closed_at is not None:
        numbers["EndingSequenceNumber"] = sequence.ending(s.created, s.index, s.closed_at)
    out: dict[str, Any] = {
        "ShardId": s.shard_id,
        "HashKeyRange": {"StartingHashKey": str(s.start_hash), "EndingHashKey": str(s.end_hash)},
        "SequenceNumberRange": numbers,
    }
    if s.parent_shard_id is not None:
        out["ParentShardId"] = s.parent_shard_id
    if s.adjacent_parent_shard_id is not None:
        out["AdjacentParentShardId"] = s.adjacent_parent_shard_id
    return out


def describe_stream_page(
    shards: list[Shard], exclusive_start: str | None, limit: int
) -> tuple[list[Shard], bool]:
    ordered = sorted(shards, key=lambda s: s.shard_id)
    if exclusive_start is not None:
        ordered = [s for s in ordered if s.shard_id > exclusive_start]
    return ordered[:limit], len(ordered) > limit


def _open_at(s: Shard, t: float) -> bool:
    return s.created <= t and (s.closed_at is None or s.closed_at > t)


def _filtered(stream: Stream, shards: list[Shard], f: dict[str, Any], now: float) -> list[Shard]:
    kind = f["Type"]
    if kind == "AFTER_SHARD_ID":
        after = f.get("ShardId")
        if after is None:
            raise invalid_argument("ShardId must be specified for ShardFilter type AFTER_SHARD_ID.")
        return [s for s in shards if s.shard_id > after]
    if kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
        stamp = f.get("Timestamp")
        if stamp is None:
            raise invalid_argument(f"Timestamp must be specified for ShardFilter type {kind}.")
        t = max(
            float(stamp if isinstance(stamp, int | float) else stamp.timestamp()), stream.created
        )
        if kind == "AT_TIMESTAMP":
            return [s for s in shards if _open_at(s, t)]
        return [s for s in shards if s.closed_at is None or s.closed_at > t]
    if kind == "AT_TRIM_HORIZON":
        t = max(now - stream.retention_hours * 3600, stream.created)
        return [s for s in shards if _open_at(s, t)]
    if kind == "AT_LATEST":
        return [s for s in shards if s.is_open]
    return shards  # FROM_TRIM_HORIZON: every shard within retention


def list_shards_page(
    kinesis: Kinesis, account: str, region: str, request: dict[str, Any]
) -> tuple[list[Shard], str | None]:
    now = kinesis.now()
    now_ms = int(now * 1000)
    token = request.get("NextToken")
    if token is not None:
        scope, after = open_page_token(token, "shards", 3, now_ms)
        name, uid, raw_filter = scope
        live = kinesis.live(account, region, name)
        if live.stream.uid != uid:
            raise invalid_argument("NextToken is invalid or malformed.")
        shard_filter = _filter_from(raw_filter)
        exclusive = after
    else:
        ref = request.get("StreamARN") or request.get("StreamName")
        if ref is None:
            raise invalid_argument("Either StreamName or StreamARN should be provided.")
        live = kinesis.live(account, region, ref)
        shard_filter = request.get("ShardFilter")
        exclusive = request.get("ExclusiveStartShardId")
    stream = live.stream
    shards = sorted(kinesis.visible_shards(stream), key=lambda s: s.shard_id)
    if shard_filter is not None:
        shards = _filtered(stream, shards, shard_filter, now)
    if exclusive is not None:
        shards = [s for s in shards if s.shard_id > exclusive]
    limit = request.get("MaxResults") or 1000
    page = shards[:limit]
    if len(shards) <= limit or not page:
        return page, None
    return page, page_token(
        "shards", [stream.name, stream.uid, _filter_text(shard_filter)], page[-1].shard_id, now_ms
    )


def _filter_text(f: dict[str, Any] | None) -> str:
    if f is None:
        return ""
    stamp = f.get("Timestamp")
    t = "" if stamp is None else str(stamp if isinstance(stamp, int | float) else stamp.timestamp())
    return ",".join([f["Type"], f.get("ShardId") or "", t])


def _filter_from(text: str) -> dict[str, Any] | None:
    if not text:
        return None
    kind, shard, stamp = [*text.split(","), "", ""][:3]
    out: dict[str, Any] = {"Type": kind}
    if shard:
        out["ShardId"] = shard
    if stamp:
        out["Timestamp"] = float(stamp)
    return out


def list_streams_page(
    streams: list[Stream],
    account: str,
    region: str,
    *,
    exclusive_start: str | None,
    next_token: str | None,
    limit: int,
    now_ms: int,
) -> tuple[list[Stream], str | None]:
    after = exclusive_start
    if next_token is not None:
        # ListStreams tokens carry no expiry on AWS that clients rely on; keep them valid.
        scope, after = open_page_token(next_token, "streams", 2, now_ms, ttl_ms=None)
        if scope != [account, region]:
            raise invalid_argument("NextToken is invalid or malformed.")
    if after is not None:
        streams = [s for s in streams if s.name > after]
    page = streams[:limit]
    if len(streams) <= limit or not page:
        return page, None
    return page, page_token("streams", [account, region], page[-1].name, now_ms)


def list_tags_page(
    tags: dict[str, str], exclusive_start: str | None, limit: int
) -> tuple[dict[str, str], bool]:
    keys = sorted(k for k in tags if exclusive_start is None or k > exclusive_start)
    return {k: tags[k] for k in keys[:limit]}, len(keys) > limit
