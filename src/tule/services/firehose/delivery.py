"""Delivery: buffered records become S3 objects, each exactly once.

A part of a stream's buffer (see `buffer`) is flushed when it holds SizeInMBs of records or
its oldest record has waited IntervalInSeconds, whichever comes first. A size-triggered flush
takes the oldest records up to and including the one that reaches the size, so a burst larger
than the buffer gives one full object at once and leaves the rest for the next trigger.

Once, across crashes, by a two-step protocol:

1. **seal**: the flush's plan (bucket, object key with its uuid, compression, conversion
   settings, and the id of the last record it covers) is committed to the `sealed` table;
2. **write**: the object is built from exactly those records and written to S3;
3. **finish**: one transaction deletes those records and the plan.

A crash before 1 leaves the records buffered, to be flushed later. A crash after 1 leaves the
plan, and the first flush after the restart carries it out again: it writes the *same key*
from the same records, so a crash between 2 and 3 overwrites the object that is already there
instead of adding a second one. A failed S3 write (no such bucket, ...) keeps the plan and
the records, and is retried on every tick, as Firehose retries delivery.

The Lambda stage is the same idea without a plan: records leave `incoming` in the commit that
stages their transformed results, so a crash in between invokes the function again (AWS's
at-least-once invocation) but stages the results once.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from tule.clock import Clock
from tule.services.firehose import destination, prefixes
from tule.services.firehose.buffer import INCOMING, BufferStore, NewRow, Row
from tule.services.firehose.compression import EXTENSIONS, compress
from tule.services.firehose.conversion import convert
from tule.services.firehose.glue_types import arrow_schema
from tule.services.firehose.lambda_transform import Invocation, transform
from tule.services.firehose.models import DeliveryStream
from tule.services.firehose.processing import (
    BACKUP,
    PARTITIONING_FAILED,
    PROCESSING_FAILED,
    Finisher,
    Item,
    partition_keys,
)

log = logging.getLogger("tule.firehose")

Peer = Callable[[str], Any]
ERROR_PARTS = {PROCESSING_FAILED: "processing-failed", PARTITIONING_FAILED: "partitioning-failed"}


def _zone(dest: destination.Shape) -> tzinfo:
    name = dest.get("CustomTimeZone")
    return zoneinfo.ZoneInfo(name) if name else UTC


class Delivery:
    """Flushes due buffers; one flush at a time."""

    def __init__(
        self,
        buffers: BufferStore,
        streams: Callable[[str], DeliveryStream | None],
        all_streams: Callable[[], list[DeliveryStream]],
        peer: Peer,
        clock: Clock,
    ) -> None:
        self.buffers = buffers
        self.stream_by_uid = streams
        self.all_streams = all_streams
        self.peer = peer
        self.clock = clock
        self._lock = threading.Lock()
        self._logged: set[str] = set()

    # -- when --------------------------------------------------------------------------------

    def limits(self, stream: DeliveryStream, part: str) -> tuple[int, float]:
        if part == BACKUP:
            return destination.buffer_limits(stream.destination["S3BackupDescription"])
        return destination.buffer_limits(stream.destination)

    def lambda_limits(self, stream: DeliveryStream) -> tuple[int, float] | None:
        processor = destination.processors(stream.destination).get("Lambda")
        if processor is None:
            return None
        conf = destination.lambda_processor(processor)
        return conf.buffer_bytes, conf.interval_s

    def is_due(self, stream: DeliveryStream, part: str, size: int, oldest_ms: int | None) -> bool:
        if oldest_ms is None:
            return False
        if part == INCOMING:
            limits = self.lambda_limits(stream)
            if limits is None:  # the Lambda processor was removed: process what is left now
                return True
        else:
            limits = self.limits(stream, part)
        max_bytes, interval = limits
        return size >= max_bytes or self.clock.time() * 1000 - oldest_ms >= interval * 1000

    # -- the flush loop ------------------------------------------------------------------------

    def flush_due(self, force_uid: str | None = None) -> int:
        """Flush every due buffer (every buffer of `force_uid`); returns objects written."""
        with self._lock:
            written = self._redo_sealed()
            for stream in self.all_streams():
                if stream.status != "ACTIVE":
                    continue
                force = stream.uid == force_uid
                written += self._flush_stream(stream, force)
            return written

    def _flush_stream(self, stream: DeliveryStream, force: bool) -> int:
        written = 0
        incoming = self.buffers.part_stats(stream.uid, INCOMING)
        while incoming.count and (
            force or self.is_due(stream, INCOMING, incoming.bytes, incoming.oldest_ms)
        ):
            self._process_incoming(stream)
            incoming = self.buffers.part_stats(stream.uid, INCOMING)
        parts = [
            part for (uid, part) in self.buffers.stats() if uid == stream.uid and part != INCOMING
        ]
        for part in parts:
            stats = self.buffers.part_stats(stream.uid, part)
            while stats.count and (
                force or self.is_due(stream, part, stats.bytes, stats.oldest_ms)
            ):
                if not self._flush_part(stream, part):
                    break
                written += 1
                stats = self.buffers.part_stats(stream.uid, part)
        return written

    def _process_incoming(self, stream: DeliveryStream) -> None:
        """Run one Lambda buffer's worth of incoming records through the rest of the pipeline."""
        limits = self.lambda_limits(stream)
        rows = self.buffers.incoming(stream.uid, limits[0] if limits else 6 * 1024 * 1024)
        if not rows:
            return
        items = [Item(r.arrival_ms, r.data, (r.meta or {}).get("kinesis")) for r in rows]
        failed: list[tuple[int, bytes]] = []
        processor = destination.processors(stream.destination).get("Lambda")
        if processor is not None:
            kinesis_arn = (stream.kinesis_source or {}).get("KinesisStreamARN")
            result = transform(
                items,
                self._peer_or_none("lambda"),
                destination.lambda_processor(processor),
                Invocation(stream.account, stream.region, stream.arn, kinesis_arn),
                self.clock,
            )
            items, failed = result.ok, result.failed
        now_ms = int(self.clock.time() * 1000)
        new_rows = Finisher(stream.destination).rows(items, now_ms)
        new_rows += [NewRow(PROCESSING_FAILED, arrival, doc) for arrival, doc in failed]
        self.buffers.process(stream.uid, rows[-1].id, new_rows)

    def _peer_or_none(self, name: str) -> Any:
        try:
            return self.peer(name)
        except LookupError:
            return None

    # -- one object ----------------------------------------------------------------------------

    def _flush_part(self, stream: DeliveryStream, part: str) -> bool:
        max_bytes, _ = self.limits(stream, part)
        rows = self.buffers.staged(stream.uid, part, limit_bytes=max_bytes)
        if not rows:
            return False
        plan = self._plan(stream, part, rows)
        self.buffers.seal(stream.uid, part, rows[-1].id, plan)
        return self._execute(stream.uid, part, rows[-1].id, plan, rows)

    def _plan(self, stream: DeliveryStream, part: str, rows: list[Row]) -> dict[str, Any]:
        dest = stream.destination
        zone = _zone(dest)
        oldest = min(r.arrival_ms for r in rows)
        instant = datetime.fromtimestamp(oldest / 1000, zone)
        object_id = str(uuid.uuid4())
        plan: dict[str, Any] = {"created_ms": int(self.clock.time() * 1000)}
        if part == BACKUP:
            backup = dest["S3BackupDescription"]
            fmt = backup["CompressionFormat"]
            prefix = prefixes.data_prefix(backup.get("Prefix", ""), instant)
            plan |= {"bucket": destination.bucket_name(backup["BucketARN"]), "compression": fmt}
            ext = EXTENSIONS[fmt]
        elif part in ERROR_PARTS:
            fmt = dest["CompressionFormat"]
            prefix = prefixes.error_prefix(
                dest.get("Prefix", ""),
                dest.get("ErrorOutputPrefix", ""),
                instant,
                ERROR_PARTS[part],
            )
            plan |= {"bucket": destination.bucket_name(dest["BucketARN"]), "compression": fmt}
            ext = EXTENSIONS[fmt]
        else:
            fmt = dest["CompressionFormat"]
            prefix = prefixes.data_prefix(dest.get("Prefix", ""), instant, partition_keys(part))
            plan |= {"bucket": destination.bucket_name(dest["BucketARN"]), "compression": fmt}
            ext = dest.get("FileExtension") or EXTENSIONS[fmt]
            if destination.conversion_enabled(dest):
                ext = dest.get("FileExtension") or ""
                error_prefix = prefixes.error_prefix(
                    dest.get("Prefix", ""),
                    dest.get("ErrorOutputPrefix", ""),
                    instant,
                    "format-conversion-failed",
                )
                plan["conversion"] = dest["DataFormatConversionConfiguration"]
                plan["account"], plan["region"] = stream.account, stream.region
                plan["error_key"] = prefixes.object_suffix(
                    stream.name, stream.version, instant, str(uuid.uuid4()), ""
                )
                plan["error_key"] = error_prefix + plan["error_key"]
        suffix = prefixes.object_suffix(stream.name, stream.version, instant, object_id, ext)
        plan["key"] = prefix + suffix
        plan["logging"] = dest.get("CloudWatchLoggingOptions") or {}
        plan["account"], plan["region"] = stream.account, stream.region
        plan["stream"] = stream.name
        return plan

    def _execute(
        self, uid: str, part: str, last_id: int, plan: dict[str, Any], rows: list[Row] | None = None
    ) -> bool:
        if rows is None:
            rows = self.buffers.staged(uid, part, last_id=last_id)
        try:
            self._write(plan, rows)
        except Exception as err:
            log.warning("Firehose delivery of %s failed: %s", plan["key"], err)
            self._log_error(plan, err)
            return False
        self.buffers.finish(uid, part, last_id)
        return True

    def _write(self, plan: dict[str, Any], rows: list[Row]) -> None:
        s3 = self.peer("s3")
        datas = [r.data for r in rows]
        if "conversion" in plan:
            body, failures = self._convert(plan, rows)
            if failures:
                s3.write_object(plan["bucket"], plan["error_key"], b"".join(failures))
            if body is None:
                return
        else:
            body = b"".join(datas)
        name = plan["key"].rsplit("/", 1)[-1].removesuffix(".zip")
        s3.write_object(plan["bucket"], plan["key"], compress(plan["compression"], body, name))

    def _convert(self, plan: dict[str, Any], rows: list[Row]) -> tuple[bytes | None, list[bytes]]:
        conversion = plan["conversion"]
        schema_conf = conversion.get("SchemaConfiguration") or {}
        account = schema_conf.get("CatalogId") or plan["account"]
        region = schema_conf.get("Region") or plan["region"]
        database, table = schema_conf["DatabaseName"], schema_conf["TableName"]
        catalog_table = {
            "catalogId": account,
            "databaseName": database,
            "tableName": table,
            "region": region,
            "versionId": schema_conf.get("VersionId", "LATEST"),
            "catalogArn": f"arn:aws:glue:{region}:{account}:catalog",
        }
        datas = [r.data for r in rows]
        try:
            glue = self.peer("glue")
            columns = glue.catalog.get_table(account, region, database, table)["StorageDescriptor"][
                "Columns"
            ]
            schema = arrow_schema(columns)
        except Exception as err:  # no such table, or a type we cannot map: every record fails
            reason = getattr(err, "message", None) or str(err)
            failed = [(i, reason) for i in range(len(rows))]
            return None, self._conversion_failures(
                plan, rows, failed, catalog_table, "DataFormatConversion.InvalidSchema"
            )
        converted = convert(datas, schema, conversion)
        failures = self._conversion_failures(
            plan, rows, converted.failed, catalog_table, "DataFormatConversion.MalformedData"
        )
        return (converted.body if converted.rows else None), failures

    def _conversion_failures(
        self,
        plan: dict[str, Any],
        rows: list[Row],
        failed: list[tuple[int, str]],
        catalog_table: dict[str, str],
        code: str,
    ) -> list[bytes]:
        out = []
        for index, reason in failed:
            row = rows[index]
            kinesis = (row.meta or {}).get("kinesis") or {}
            doc = {
                "attemptsMade": 1,
                "arrivalTimestamp": row.arrival_ms,
                "lastErrorCode": code,
                "lastErrorMessage": reason,
                "attemptEndingTimestamp": plan["created_ms"],
                "rawData": base64.b64encode(row.data).decode(),
                "sequenceNumber": kinesis.get("sequenceNumber"),
                "subSequenceNumber": kinesis.get("subsequenceNumber"),
                "dataCatalogTable": catalog_table,
            }
            out.append(json.dumps(doc, separators=(",", ":")).encode() + b"\n")
        return out

    def _redo_sealed(self) -> int:
        written = 0
        for uid, part, last_id, plan in self.buffers.sealed():
            if self._execute(uid, part, last_id, plan):
                written += 1
        return written

    def _log_error(self, plan: dict[str, Any], err: Exception) -> None:
        options = plan.get("logging") or {}
        if not options.get("Enabled") or not options.get("LogGroupName"):
            return
        if plan["key"] in self._logged:  # once per object, not on every retry
            return
        self._logged.add(plan["key"])
        try:
            logs = self.peer("logs")
            group = options["LogGroupName"]
            stream = options.get("LogStreamName") or "DestinationDelivery"
            logs.ensure_stream(plan["account"], plan["region"], group, stream)
            message = json.dumps(
                {
                    "deliveryStreamARN": (
                        f"arn:aws:firehose:{plan['region']}:{plan['account']}"
                        f":deliverystream/{plan['stream']}"
                    ),
                    "destination": f"arn:aws:s3:::{plan['bucket']}",
                    "message": getattr(err, "message", None) or str(err),
                    "errorCode": f"S3.{getattr(err, 'code', type(err).__name__)}",
                }
            )
            logs.append(
                plan["account"],
                plan["region"],
                group,
                stream,
                [(int(self.clock.time() * 1000), message)],
            )
        except Exception:
            log.exception("could not log a Firehose delivery error to CloudWatch Logs")
