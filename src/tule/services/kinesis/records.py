"""The data plane: putting records into shards and reading them back through iterators.

PutRecords hashes every partition key first, then, under the stream's lock, routes each record
to its open shard, asks the throughput meter which records each shard takes this second, and
writes each shard's batch to its log in one piece. Only then, outside the lock, does the caller
wait for the logs to be durable: concurrent callers share those flushes (see
`tule.storage.shard_log` and `flushing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from tule.errors import AwsError
from tule.services.kinesis import sequence
from tule.services.kinesis.catalog import Live
from tule.services.kinesis.errors import (
    dry_run_refusal,
    invalid_argument,
    rate_exceeded_message,
    stream_not_found,
    throughput_exceeded,
    validation,
)
from tule.services.kinesis.hashkeys import explicit_hash, md5
from tule.services.kinesis.models import Shard
from tule.services.kinesis.throughput import Throughput
from tule.storage.shard_log import LogRecord, ShardLog

MAX_PUT_RECORDS_BYTES = 5 << 20
MAX_GET_RECORDS_BYTES = 10 << 20
MAX_GET_RECORDS = 10_000


class Entries(NamedTuple):
    """Records to put, as columns: the 500 records of a PutRecords cost no object each."""

    partition_keys: list[str]
    datas: list[bytes]
    explicit_hash_keys: list[str | None]


_new = tuple.__new__


class Put(NamedTuple):
    """Where a record went: its shard and sequence number, or why it did not."""

    shard_id: str | None
    sequence_number: str | None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class Batch:
    """What GetRecords answers: the records (position, arrival ms, key, data) with their
    sequence numbers."""

    records: list[LogRecord]
    sequence_numbers: list[str]
    next_position: int | None  # None: the shard is closed and fully read
    millis_behind: int
    children: list[Shard]


def _too_big(limit: int, member: str) -> AwsError:
    return validation(
        f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {limit}"
    )


def write(
    live: Live,
    entries: Entries,
    now: float,
    meter: Throughput | None,
    *,
    whole: bool,
    record_limit: int,
    dry_run: bool = False,
) -> tuple[list[Put], list[tuple[ShardLog, int]]]:
    """Write `entries` into the stream's logs; with `whole` (PutRecord) a throttled record
    fails the call, else (PutRecords) only its own entry. Size limits are checked first, for
    the whole request. Returns the results and, per log written, the position the caller must
    wait to be durable before answering (the records are not visible until then)."""
    # The hot path of PutRecords (up to 500 records a call): per record, only what must be
    # per record, in comprehensions, with names bound locally.
    keys = [k.encode() for k in entries.partition_keys]
    datas = entries.datas
    sizes = [len(k) + len(d) for k, d in zip(keys, datas, strict=True)]
    if max(sizes) > record_limit:
        if whole:
            raise _too_big(record_limit, "data")
        first = next(i for i, n in enumerate(sizes) if n > record_limit)
        raise _too_big(record_limit, f"records.{first + 1}.member.data")
    if sum(sizes) > MAX_PUT_RECORDS_BYTES:
        raise invalid_argument("Records size exceeds 5 MB limit")
    from_bytes = int.from_bytes
    explicit = entries.explicit_hash_keys
    if explicit.count(None) != len(explicit):
        hashes = [
            from_bytes(md5(k).digest()) if x is None else explicit_hash(x)
            for k, x in zip(keys, explicit, strict=True)
        ]
    else:
        hashes = [from_bytes(md5(k).digest()) for k in keys]  # big-endian, the default
    if dry_run:
        raise dry_run_refusal()
    stream = live.stream
    n = len(datas)
    # Built whole when one shard takes every record (a 1-shard stream), else filled by index.
    results: list[Put | None] | None = None
    pending: list[tuple[ShardLog, int]] = []
    arrival_ms = int(now * 1000)
    with live.lock:
        if live.deleted:
            raise stream_not_found(stream.name, stream.account)
        for shard, indices in live.router.group(hashes):
            shard_id = shard.shard_id
            if meter is not None:
                admitted = meter.admit_writes(
                    (stream.uid, shard_id), [sizes[i] for i in indices], now
                )
                if not all(admitted):
                    if whole:
                        raise throughput_exceeded(shard_id, stream.name, stream.account)
                    if results is None:
                        results = [None] * n
                    message = rate_exceeded_message(shard_id, stream.name, stream.account)
                    refused = Put(None, None, "ProvisionedThroughputExceededException", message)
                    for i, ok in zip(indices, admitted, strict=True):
                        if not ok:
                            results[i] = refused
                    indices = [i for i, ok in zip(indices, admitted, strict=True) if ok]
                    if not indices:
                        continue
            log = live.logs[shard_id]
            whole_batch = len(indices) == n
            if whole_batch:
                batch = list(zip(keys, datas, strict=True))
            else:
                batch = [(keys[i], datas[i]) for i in indices]
            positions, arrived = log.write(batch, arrival_ms)
            base = sequence.base(shard.created, shard.index, arrived // 1000)
            # Counter = position + 1 (see `sequence`); a Put made as a tuple skips the named
            # tuple's Python-level constructor.
            made: list[Put] = [
                _new(Put, (shard_id, str(base | (counter << 80)), None, None))
                for counter in range(positions.start + 1, positions.stop + 1)
            ]
            if whole_batch and results is None:
                results = made  # type: ignore[assignment]
            else:
                if results is None:
                    results = [None] * n
                for i, result in zip(indices, made, strict=True):
                    results[i] = result
            pending.append((log, positions.stop))
    return results, pending  # type: ignore[return-value]


def horizon(live: Live, log: ShardLog, now: float) -> int:
    """The first position inside the retention period (older records are trimmed)."""
    floor_ms = int((now - live.stream.retention_hours * 3600) * 1000)
    log.trim(floor_ms)
    return max(log.start, log.position_at(floor_ms))


def iterator_position(
    live: Live,
    shard: Shard,
    kind: str,
    now: float,
    *,
    sequence_number: str | None,
    timestamp: datetime | None,
) -> int:
    """Where GetShardIterator of `kind` starts reading."""
    log = live.logs[shard.shard_id]
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if sequence_number is None:
            raise invalid_argument(
                f"StartingSequenceNumber must be specified for ShardIteratorType {kind}."
            )
        if timestamp is not None:
            raise invalid_argument(f"Timestamp must not be specified for ShardIteratorType {kind}.")
        decoded = sequence.decode(sequence_number)
        if decoded.shard_index != shard.index or decoded.shard_created != int(shard.created) & (
            (1 << 36) - 1
        ):
            named = f"shardId-{decoded.shard_index:012d}"
            raise invalid_argument(
                f"Invalid StartingSequenceNumber. It encodes {named}, while it was used in a "
                f"call to a shard with {shard.shard_id}"
            )
        wanted = decoded.counter if kind == "AFTER_SEQUENCE_NUMBER" else decoded.counter - 1
        return min(max(wanted, horizon(live, log, now)), log.appended_end)
    if sequence_number is not None:
        raise invalid_argument(
            f"StartingSequenceNumber must not be specified for ShardIteratorType {kind}."
        )
    if kind == "AT_TIMESTAMP":
        if timestamp is None:
            raise invalid_argument(
                "Timestamp must be specified for ShardIteratorType AT_TIMESTAMP."
            )
        wanted = log.position_at(int(timestamp.timestamp() * 1000))
        return max(wanted, horizon(live, log, now))
    if timestamp is not None:
        raise invalid_argument(f"Timestamp must not be specified for ShardIteratorType {kind}.")
    if kind == "LATEST":
        return log.end
    return horizon(live, log, now)  # TRIM_HORIZON


def children_of(live: Live, shard: Shard) -> list[Shard]:
    return [s for s in live.stream.shards if shard.shard_id in s.parents]


def get(
    live: Live,
    shard: Shard,
    position: int,
    limit: int,
    now: float,
    *,
    max_bytes: int | None = MAX_GET_RECORDS_BYTES,
) -> Batch:
    """Records of `shard` from `position` on (raised to the retention horizon)."""
    log = live.logs[shard.shard_id]
    start = max(position, horizon(live, log, now))
    found = log.read(start, limit, max_bytes)
    next_position = found[-1][0] + 1 if found else start
    # The appended end, not the visible one: a closed shard is finished only once the
    # records still being flushed when it closed have been read too.
    finished = not shard.is_open and next_position >= log.appended_end
    end = log.end
    behind = 0
    if next_position < end:
        arrived = log.arrival_ms(next_position)
        behind = max(0, int(now * 1000) - arrived) if arrived is not None else 0
    return Batch(
        records=found,
        sequence_numbers=sequence_numbers(shard, found),
        next_position=None if finished else next_position,
        millis_behind=behind,
        children=children_of(live, shard) if finished else [],
    )


def sequence_numbers(shard: Shard, found: list[LogRecord]) -> list[str]:
    out: list[str] = []
    last_ms, base = -1, 0
    for position, arrival_ms, _, _ in found:
        if arrival_ms != last_ms:
            last_ms = arrival_ms
            base = sequence.base(shard.created, shard.index, arrival_ms // 1000)
        out.append(str(base | ((position + 1) << 80)))
    return out


def check_read(meter: Throughput | None, live: Live, shard: Shard, now: float) -> None:
    if meter is not None and not meter.admit_read((live.stream.uid, shard.shard_id), now):
        raise throughput_exceeded(shard.shard_id, live.stream.name, live.stream.account)


def charge_read(meter: Throughput | None, live: Live, shard: Shard, batch: Batch) -> None:
    if meter is not None:
        size = sum(len(key) + len(data) for _, _, key, data in batch.records)
        meter.charge_read((live.stream.uid, shard.shard_id), size)
