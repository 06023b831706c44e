"""Resharding: SplitShard, MergeShards and UpdateShardCount as changes to a stream's shards.

Parents are closed (their records stay readable in their logs) and children start empty, so a
reader that finishes a parent before its children sees every record once, in order per key.
The functions change the `Stream` in place and return the new shards; the caller holds the
stream's lock and persists the result.

AWS performs UpdateShardCount as a series of splits and merges. Here it closes every open shard
and opens `TargetShardCount` children with even ranges at once; each child's `parents` lists
every old shard its range overlaps (ParentShardId and AdjacentParentShardId show the first two,
ChildShards in GetRecords all of them).
"""

from __future__ import annotations

from tule.services.kinesis.errors import (
    invalid_argument,
    limit_exceeded,
    shard_not_found,
    validation,
)
from tule.services.kinesis.models import Shard, Stream, even_ranges, shard_id

SCALINGS_PER_DAY = 10
MAX_SHARDS_PER_STREAM = 10_000


def _new_shard(stream: Stream, start: int, end: int, now: float, parents: tuple[str, ...]) -> Shard:
    index = stream.next_index
    stream.next_index += 1
    shard = Shard(shard_id(index), index, start, end, now, parents)
    stream.shards.append(shard)
    return shard


def initial_shards(stream: Stream, count: int, now: float) -> None:
    for start, end in even_ranges(count):
        _new_shard(stream, start, end, now, ())


def _open_shard(stream: Stream, wanted: str) -> Shard:
    shard = stream.shard(wanted)
    if shard is None:
        raise shard_not_found(wanted, stream.name, stream.account)
    if not shard.is_open:
        raise invalid_argument(
            f"Shard {wanted} in stream {stream.name} under account {stream.account} has "
            "already been merged or split, and thus is not eligible for merging or splitting."
        )
    return shard


def split(stream: Stream, wanted: str, new_starting_hash_key: str, now: float) -> list[Shard]:
    parent = _open_shard(stream, wanted)
    key = int(new_starting_hash_key)
    if not parent.start_hash < key <= parent.end_hash:
        raise invalid_argument(
            f"NewStartingHashKey {new_starting_hash_key} used in SplitShard() on shard "
            f"{wanted} in stream {stream.name} under account {stream.account} is not both "
            "greater than one plus the shard's StartingHashKey "
            f"{parent.start_hash} and less than the shard's EndingHashKey {parent.end_hash}."
        )
    parent.closed_at = now
    return [
        _new_shard(stream, parent.start_hash, key - 1, now, (parent.shard_id,)),
        _new_shard(stream, key, parent.end_hash, now, (parent.shard_id,)),
    ]


def merge(stream: Stream, wanted: str, adjacent: str, now: float) -> list[Shard]:
    first = _open_shard(stream, wanted)
    second = _open_shard(stream, adjacent)
    low, high = sorted((first, second), key=lambda s: s.start_hash)
    if low.end_hash + 1 != high.start_hash:
        raise invalid_argument(
            f"Shards {wanted} and {adjacent} in stream {stream.name} under account "
            f"{stream.account} are not an adjacent pair of shards eligible for merging"
        )
    first.closed_at = second.closed_at = now
    return [_new_shard(stream, low.start_hash, high.end_hash, now, (wanted, adjacent))]


def uniform(stream: Stream, target: int, now: float) -> list[Shard]:
    if stream.mode == "ON_DEMAND":
        raise validation(
            f"UpdateShardCount is not supported for stream {stream.name} under account "
            f"{stream.account} in ON_DEMAND mode."
        )
    current = stream.open_shards
    count = len(current)
    if target > 2 * count:
        raise limit_exceeded(
            f"UpdateShardCount cannot scale up over double your current open shard count. "
            f"Current open shard count: {count} Target shard count: {target}"
        )
    if 2 * target < count:
        raise limit_exceeded(
            f"UpdateShardCount cannot scale down below half your current open shard count. "
            f"Current open shard count: {count} Target shard count: {target}"
        )
    if target > MAX_SHARDS_PER_STREAM:
        raise limit_exceeded(
            f"UpdateShardCount cannot scale above {MAX_SHARDS_PER_STREAM} shards per stream."
        )
    recent = [t for t in stream.scalings if now - t < 86400]
    if len(recent) >= SCALINGS_PER_DAY:
        raise limit_exceeded(
            f"Exceeded the number of allowed UpdateShardCount operations for stream "
            f"{stream.name} under account {stream.account} in a rolling 24 hour period: "
            f"{SCALINGS_PER_DAY}."
        )
    stream.scalings = [*recent, now]
    if target == count:
        return []
    for shard in current:
        shard.closed_at = now
    ordered = sorted(current, key=lambda s: s.start_hash)
    children: list[Shard] = []
    for start, end in even_ranges(target):
        parents = tuple(s.shard_id for s in ordered if s.start_hash <= end and s.end_hash >= start)
        children.append(_new_shard(stream, start, end, now, parents))
    return children
