"""KinesisStreamAsSource: a reader thread per delivery stream, feeding its buffer.

The reader lists the Kinesis stream's shards and reads each from TRIM_HORIZON (or from its
checkpoint) through the Kinesis domain's in-process API. A child shard is read only after its
parents are read to their end, so records of a partition key stay in order across a reshard.
Each batch of records goes into the buffer in the same commit as the shard's new checkpoint,
so a restart resumes exactly after the last records taken: none twice, none lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tule.services.firehose.buffer import BufferStore
from tule.services.firehose.models import DeliveryStream
from tule.services.firehose.processing import Item

log = logging.getLogger("tule.firehose")

Ingest = Callable[[DeliveryStream, list[Item], tuple[str, str | None, bool] | None], None]
READ_LIMIT = 10000


def _millis(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


def _where(arn: str) -> tuple[str, str]:
    """(account, region) of a Kinesis stream ARN."""
    parts = arn.split(":")
    return parts[4], parts[3]


class KinesisReader:
    """Reads one delivery stream's Kinesis source on a thread of its own (`poll` reads once)."""

    def __init__(
        self,
        stream: DeliveryStream,
        kinesis: Callable[[], Any],
        buffers: BufferStore,
        ingest: Ingest,
        now_ms: Callable[[], int],
        interval_s: float,
    ) -> None:
        self.stream = stream
        self.kinesis = kinesis
        self.buffers = buffers
        self.ingest = ingest
        self.now_ms = now_ms
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"firehose-kinesis-{stream.name}", daemon=True
        )

    def start(self) -> KinesisReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception as err:
                log.warning("reading the Kinesis source of %s failed: %s", self.stream.name, err)

    def poll(self) -> int:
        """Read every readable shard up to its end; returns how many records were taken."""
        with self._lock:
            if self._stop.is_set():
                return 0
            kin = self.kinesis()
            arn = self.stream.kinesis_source["KinesisStreamARN"]  # type: ignore[index]
            account, region = _where(arn)
            shards = kin.shards(account, region, arn)
            known = {s.shard_id for s in shards}
            checkpoints = self.buffers.checkpoints(self.stream.uid)
            finished = {shard for shard, (_, done) in checkpoints.items() if done}
            taken = 0
            for shard in shards:
                if shard.shard_id in finished:
                    continue
                parents = [
                    p
                    for p in (shard.parent_shard_id, shard.adjacent_parent_shard_id)
                    if p and p in known
                ]
                if any(p not in finished for p in parents):
                    continue
                after = checkpoints.get(shard.shard_id, (None, False))[0]
                while not self._stop.is_set():
                    records = kin.read_shard(
                        account,
                        region,
                        arn,
                        shard.shard_id,
                        after_sequence_number=after,
                        limit=READ_LIMIT,
                    )
                    if not records:
                        if shard.closed:
                            self.ingest(self.stream, [], (shard.shard_id, after, True))
                            finished.add(shard.shard_id)
                        break
                    now = self.now_ms()
                    items = [
                        Item(
                            now,
                            bytes(r.data),
                            {
                                "shardId": shard.shard_id,
                                "partitionKey": r.partition_key,
                                "approximateArrivalTimestamp": _millis(
                                    r.approximate_arrival_timestamp
                                ),
                                "sequenceNumber": r.sequence_number,
                                "subsequenceNumber": 0,
                            },
                        )
                        for r in records
                    ]
                    after = records[-1].sequence_number
                    self.ingest(self.stream, items, (shard.shard_id, after, False))
                    taken += len(records)
            return taken
