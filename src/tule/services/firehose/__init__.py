"""Amazon Data Firehose: delivery streams that buffer, transform, convert and deliver to S3.

Records are acknowledged only once they are on disk (`buffer`: SQLite, group-committed, under
`<data dir>/firehose/`), delivered once even across crashes (`delivery` explains the seal /
write / finish protocol), and flushed by size at once (the put path wakes the flusher) or by
interval (a ticker every `settings.tick_interval_s` reads the injected clock, so tests move a
ManualClock and call `flush_due()`). Its parts, one concept each: `streams` (the records of
delivery streams), `destination` (the S3 destination's defaults and rules), `prefixes` and
`timeformat` (object names), `processing`, `aggregation` and `lambda_transform` (the record
pipeline), `conversion` and `glue_types` (Parquet / ORC), `compression`, `kinesis_source`.

The in-process API (for other services and for tests; errors are `AwsError`s with Firehose's
codes):

- `create_delivery_stream(account, region, request) -> DeliveryStream` (request: the
  CreateDeliveryStream input shape); `describe(account, region, name) -> dict` (the
  DeliveryStreamDescription shape); `list_names(account, region, stream_type=None) -> list[str]`;
  `update_destination(account, region, name, current_version: str, destination_id: str,
  update: dict, legacy: bool) -> None`; `delete_delivery_stream(account, region, name) -> None`;
  `tag(account, region, name, tags: dict[str, str])`, `untag(account, region, name, keys)`,
  `tags(account, region, name) -> dict[str, str]`.
- `put_records(account, region, name, datas: list[bytes]) -> list[str]` buffers records
  durably and returns their RecordIds.
- `flush_due() -> int` flushes every buffer whose size or interval is reached (objects written);
  `flush(account, region, name) -> int` flushes a stream's buffers now, due or not;
  `poll_sources() -> int` reads every Kinesis source once (records taken).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from tule.errors import AwsError
from tule.metadata import open_store
from tule.services.base import ServiceEnv
from tule.services.firehose import destination
from tule.services.firehose.buffer import INCOMING, BufferStore, NewRow
from tule.services.firehose.delivery import Delivery
from tule.services.firehose.describe import description
from tule.services.firehose.errors import (
    direct_put_not_allowed,
    invalid_argument,
    stream_not_active,
    stream_not_found,
    version_mismatch,
)
from tule.services.firehose.kinesis_source import KinesisReader
from tule.services.firehose.models import DESTINATION_ID, DeliveryStream
from tule.services.firehose.processing import Finisher, Item, backup_rows, split
from tule.services.firehose.streams import StreamRegistry

__all__ = ["DeliveryStream", "Firehose"]

log = logging.getLogger("tule.firehose")

_OTHER_DESTINATIONS = (
    "RedshiftDestinationConfiguration",
    "ElasticsearchDestinationConfiguration",
    "AmazonopensearchserviceDestinationConfiguration",
    "SplunkDestinationConfiguration",
    "HttpEndpointDestinationConfiguration",
    "AmazonOpenSearchServerlessDestinationConfiguration",
    "SnowflakeDestinationConfiguration",
    "IcebergDestinationConfiguration",
)


class Firehose:
    """The Amazon Data Firehose domain."""

    def __init__(self, env: ServiceEnv) -> None:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.clock = env.clock
        self.store = open_store(str(env.data_dir / "firehose.db"), fsync=env.fsync)
        self.streams = StreamRegistry(self.store)
        self.buffers = BufferStore(env.data_dir / "buffer.db", fsync=env.fsync)
        self.delivery = Delivery(
            self.buffers, self.streams.by_uid, self.streams.all, env.peer, env.clock
        )
        self._finishers: dict[tuple[str, int], Finisher] = {}
        self._readers: dict[str, KinesisReader] = {}
        self._readers_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._tick = env.settings.tick_interval_s
        self._ticker: threading.Thread | None = None
        if self._tick > 0:
            self._ticker = threading.Thread(target=self._run, name="firehose-flush", daemon=True)
            self._ticker.start()
        for stream in self.streams.all():
            if stream.kinesis_source is not None and stream.status == "ACTIVE":
                self._start_reader(stream)

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._readers_lock:
            readers = list(self._readers.values())
            self._readers.clear()
        for reader in readers:
            reader.stop()
        if self._ticker is not None:
            self._ticker.join(timeout=60)
        self.buffers.close()
        self.store.close()

    # -- the flusher thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.delivery.flush_due()
            except Exception:
                log.exception("Firehose flush failed")

    def flush_due(self) -> int:
        return self.delivery.flush_due()

    def flush(self, account: str, region: str, name: str) -> int:
        return self.delivery.flush_due(force_uid=self.streams.get(account, region, name).uid)

    # -- delivery streams ------------------------------------------------------------------------

    def create_delivery_stream(
        self, account: str, region: str, request: dict[str, Any]
    ) -> DeliveryStream:
        name = request["DeliveryStreamName"]
        stream_type = request.get("DeliveryStreamType") or "DirectPut"
        if stream_type not in ("DirectPut", "KinesisStreamAsSource"):
            raise invalid_argument(f"DeliveryStreamType {stream_type} is not supported by tule.")
        for member in _OTHER_DESTINATIONS:
            if member in request:
                raise invalid_argument(
                    f"{member}: tule delivers to Amazon S3 only "
                    "(ExtendedS3DestinationConfiguration or S3DestinationConfiguration)."
                )
        extended = request.get("ExtendedS3DestinationConfiguration")
        plain = request.get("S3DestinationConfiguration")
        if (extended is None) == (plain is None):
            raise invalid_argument(
                "Exactly one destination configuration must be specified: "
                "ExtendedS3DestinationConfiguration or S3DestinationConfiguration."
            )
        dest = destination.normalize(extended if extended is not None else plain)
        kinesis_source = request.get("KinesisStreamSourceConfiguration")
        if stream_type == "KinesisStreamAsSource":
            if kinesis_source is None:
                raise invalid_argument(
                    "KinesisStreamSourceConfiguration is required when DeliveryStreamType is "
                    "KinesisStreamAsSource."
                )
            self._check_kinesis(kinesis_source["KinesisStreamARN"])
        elif kinesis_source is not None:
            raise invalid_argument(
                "KinesisStreamSourceConfiguration is only allowed with DeliveryStreamType "
                "KinesisStreamAsSource."
            )
        direct_put = request.get("DirectPutSourceConfiguration")
        if direct_put is not None and stream_type != "DirectPut":
            raise invalid_argument("DirectPutSourceConfiguration is only allowed for DirectPut.")
        now = self.clock.time()
        stream = DeliveryStream(
            account=account,
            region=region,
            name=name,
            uid=uuid.uuid4().hex,
            stream_type=stream_type,
            status="CREATING",
            version=1,
            created=now,
            updated=now,
            destination=dest,
            legacy=plain is not None,
            kinesis_source=dict(kinesis_source) if kinesis_source else None,
            direct_put=dict(direct_put) if direct_put else None,
            encryption=request.get("DeliveryStreamEncryptionConfigurationInput"),
            tags={t["Key"]: t.get("Value", "") for t in request.get("Tags") or []},
        )
        self.streams.add(stream)
        # Creation has nothing to wait for here: the buffer is ready and a reader starts now.
        active = self.streams.change(
            account, region, name, lambda s: s.with_changes(status="ACTIVE")
        )
        if active.kinesis_source is not None:
            self._start_reader(active)
        return active

    def _check_kinesis(self, arn: str) -> None:
        try:
            kin = self.env.peer("kinesis")
        except LookupError:
            raise invalid_argument("Kinesis Data Streams is not available in this tule.") from None
        parts = arn.split(":")
        try:
            kin.stream_arn(parts[4], parts[3], arn)
        except AwsError as err:
            raise invalid_argument(f"Kinesis stream {arn} is not usable: {err.message}") from None

    def describe(self, account: str, region: str, name: str) -> dict[str, Any]:
        return description(self.streams.get(account, region, name))

    def list_names(self, account: str, region: str, stream_type: str | None = None) -> list[str]:
        return [
            s.name
            for s in self.streams.names(account, region)
            if stream_type is None or s.stream_type == stream_type
        ]

    def delete_delivery_stream(self, account: str, region: str, name: str) -> None:
        stream = self.streams.change(
            account, region, name, lambda s: s.with_changes(status="DELETING")
        )
        with self._readers_lock:
            reader = self._readers.pop(stream.uid, None)
        if reader is not None:
            reader.stop()
        # AWS makes no promise to deliver what is still buffered once a stream is deleted.
        self.buffers.drop_stream(stream.uid)
        self.streams.remove(stream)

    def update_destination(
        self,
        account: str,
        region: str,
        name: str,
        current_version: str,
        destination_id: str,
        update: dict[str, Any],
    ) -> None:
        def change(stream: DeliveryStream) -> DeliveryStream:
            if current_version != str(stream.version):
                raise version_mismatch(name, current_version, stream.version)
            if destination_id != DESTINATION_ID:
                raise invalid_argument(f"Destination {destination_id} not found.")
            if stream.status != "ACTIVE":
                raise stream_not_active(name, account, stream.status)
            return stream.with_changes(
                destination=destination.merge(stream.destination, update),
                version=stream.version + 1,
                updated=self.clock.time(),
            )

        self.streams.change(account, region, name, change)

    def tag(self, account: str, region: str, name: str, tags: dict[str, str]) -> None:
        self.streams.change(account, region, name, lambda s: s.with_changes(tags=s.tags | tags))

    def untag(self, account: str, region: str, name: str, keys: list[str]) -> None:
        self.streams.change(
            account,
            region,
            name,
            lambda s: s.with_changes(tags={k: v for k, v in s.tags.items() if k not in keys}),
        )

    def tags(self, account: str, region: str, name: str) -> dict[str, str]:
        return dict(self.streams.get(account, region, name).tags)

    # -- records --------------------------------------------------------------------------------

    def put_records(self, account: str, region: str, name: str, datas: list[bytes]) -> list[str]:
        stream = self.streams.find(account, region, name)
        if stream is None or stream.status != "ACTIVE":
            raise stream_not_found(name, account)
        if stream.stream_type != "DirectPut":
            raise direct_put_not_allowed(name)
        now = self.now_ms()
        self._ingest(stream, [Item(now, data) for data in datas], None)
        return [uuid.uuid4().hex + uuid.uuid4().hex for _ in datas]

    def _finisher(self, stream: DeliveryStream) -> Finisher:
        key = (stream.uid, stream.version)
        found = self._finishers.get(key)
        if found is None:
            found = self._finishers[key] = Finisher(stream.destination)
        return found

    def _ingest(
        self,
        stream: DeliveryStream,
        items: list[Item],
        checkpoint: tuple[str, str | None, bool] | None,
    ) -> None:
        """Buffer records durably: the pipeline up to the Lambda stage, or all of it."""
        current = self.streams.by_uid(stream.uid) or stream
        dest = current.destination
        rows = backup_rows(items, dest)
        items = split(items, dest, kinesis_source=current.kinesis_source is not None)
        if "Lambda" in destination.processors(dest):
            rows += [
                NewRow(
                    None,
                    i.arrival_ms,
                    i.data,
                    None if i.kinesis is None else {"kinesis": i.kinesis},
                )
                for i in items
            ]
        else:
            rows += self._finisher(current).rows(items, self.now_ms())
        self.buffers.append(current.uid, rows, checkpoint)
        self._wake_if_due(current, {INCOMING if r.part is None else r.part for r in rows})

    def _wake_if_due(self, stream: DeliveryStream, parts: set[str]) -> None:
        for part in parts:
            stats = self.buffers.part_stats(stream.uid, part)
            if self.delivery.is_due(stream, part, stats.bytes, stats.oldest_ms):
                self._wake.set()
                return

    # -- Kinesis sources ------------------------------------------------------------------------

    def _start_reader(self, stream: DeliveryStream) -> None:
        reader = KinesisReader(
            stream,
            lambda: self.env.peer("kinesis"),
            self.buffers,
            self._ingest,
            self.now_ms,
            interval_s=min(1.0, self._tick) if self._tick > 0 else 1.0,
        )
        with self._readers_lock:
            self._readers[stream.uid] = reader
        if self._tick > 0:
            reader.start()

    def poll_sources(self) -> int:
        with self._readers_lock:
            readers = list(self._readers.values())
        return sum(reader.poll() for reader in readers)
