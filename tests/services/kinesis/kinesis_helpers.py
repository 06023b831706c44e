"""Helpers for the Kinesis tests: reading shards to their end, following ChildShards."""

from __future__ import annotations

from typing import Any


def iterator(
    kinesis: Any, stream: str, shard_id: str, kind: str = "TRIM_HORIZON", **kw: Any
) -> str:
    return kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType=kind, **kw
    )["ShardIterator"]


def drain(kinesis: Any, it: str, limit: int = 10000) -> tuple[list[dict], dict]:
    """Every record from `it` until a call returns nothing new (or the shard ends); the
    records and the last response."""
    out: list[dict] = []
    while True:
        page = kinesis.get_records(ShardIterator=it, Limit=limit)
        out.extend(page["Records"])
        following = page.get("NextShardIterator")
        if following is None or not page["Records"]:
            return out, page
        it = following


def shard_ids(kinesis: Any, stream: str) -> list[str]:
    return [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]


def read_lineage(kinesis: Any, stream: str) -> list[dict]:
    """Every record of the stream, read as KCL would: roots first, each shard to its end, then
    its children once all their parents are done."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    parents = {
        s["ShardId"]: [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p]
        for s in shards
    }
    done: set[str] = set()
    out: list[dict] = []
    todo = [s for s, ps in parents.items() if not ps]
    while todo:
        shard = todo.pop(0)
        records, last = drain(kinesis, iterator(kinesis, stream, shard))
        out.extend(records)
        done.add(shard)
        for child in last.get("ChildShards", []):
            cid = child["ShardId"]
            if (
                cid not in done
                and cid not in todo
                and all(p in done for p in child["ParentShards"])
            ):
                todo.append(cid)
    return out


def put_batch(kinesis: Any, stream: str, items: list[tuple[str, bytes]]) -> dict:
    return kinesis.put_records(
        StreamName=stream, Records=[{"PartitionKey": k, "Data": d} for k, d in items]
    )
