"""The record pipeline between a Put (or a Kinesis read) and the S3 buffers.

Order, as AWS documents it: de-aggregation, then the Lambda processor, then partition-key
extraction (MetadataExtraction with JQ, or the keys the Lambda returned) and the appended
delimiter. A stream without a Lambda processor runs the whole pipeline as records arrive; one
with it buffers them in `incoming` first, and the Lambda stage (`lambda_transform`) runs when
the Lambda buffer is due, then `finish` here.

Records whose partition keys cannot be extracted go to the `partitioning-failed` error buffer
as JSON documents like the processing-failed ones (the error type name is our inference; AWS
documents only that such records go to the error prefix).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import jq

from tule.services.firehose import destination
from tule.services.firehose.buffer import NewRow
from tule.services.firehose.prefixes import parse
from tule.services.kinesis import deaggregate, is_aggregated

PROCESSING_FAILED = "!processing-failed"
PARTITIONING_FAILED = "!partitioning-failed"
BACKUP = "!backup"


@dataclass
class Item:
    """A record on its way through the pipeline."""

    arrival_ms: int
    data: bytes
    kinesis: dict[str, Any] | None = None  # kinesisRecordMetadata, for Kinesis-sourced records
    lambda_keys: dict[str, str] = field(default_factory=dict)


def error_document(
    item: Item,
    *,
    code: str,
    message: str,
    attempts: int,
    now_ms: int,
    raw: bytes | None = None,
    **extra: Any,
) -> bytes:
    """One failed record as the JSON line Firehose writes under the error prefix."""
    doc: dict[str, Any] = {
        "attemptsMade": attempts,
        "arrivalTimestamp": item.arrival_ms,
        "errorCode": code,
        "errorMessage": message,
        "attemptEndingTimestamp": now_ms,
        "rawData": base64.b64encode(item.data if raw is None else raw).decode(),
    }
    doc.update(extra)
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def split(items: list[Item], dest: destination.Shape, *, kinesis_source: bool) -> list[Item]:
    """De-aggregation: KPL aggregated records (always from a Kinesis source, and with the
    RecordDeAggregation processor), then JSON or delimited sub-records."""
    procs = destination.processors(dest)
    deagg = procs.get("RecordDeAggregation")
    if deagg is None and not kinesis_source:
        return items
    out: list[Item] = []
    for item in items:
        if not is_aggregated(item.data):
            out.append(item)
            continue
        for user in deaggregate(item.data):
            meta = None
            if item.kinesis is not None:
                meta = item.kinesis | {"subsequenceNumber": user.sub_sequence_number}
                if user.partition_key:
                    meta["partitionKey"] = user.partition_key
            out.append(Item(item.arrival_ms, user.data, meta))
    if deagg is None:
        return out
    params = destination.parameters(deagg)
    if params.get("SubRecordType", "JSON") == "DELIMITED":
        sep = destination.delimiter(params)
        return [
            Item(i.arrival_ms, piece, i.kinesis)
            for i in out
            for piece in i.data.split(sep)
            if piece
        ]
    return [Item(i.arrival_ms, piece, i.kinesis) for i in out for piece in _json_objects(i.data)]


def _json_objects(data: bytes) -> list[bytes]:
    """The JSON documents written back to back in `data` (each as its own bytes); a record
    that is not such a sequence stays whole."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return [data]
    decoder = json.JSONDecoder()
    pieces: list[bytes] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return pieces or [data]
        try:
            _, end = decoder.raw_decode(text, pos)
        except ValueError:
            return [data]
        pieces.append(text[pos:end].encode())
        pos = end


def backup_rows(items: list[Item], dest: destination.Shape) -> list[NewRow]:
    """Source records, before any transformation, for the S3 backup (S3BackupMode Enabled)."""
    if dest.get("S3BackupMode") != "Enabled":
        return []
    return [NewRow(BACKUP, i.arrival_ms, i.data) for i in items]


class Finisher:
    """Partition-key extraction and the appended delimiter, compiled once per configuration."""

    def __init__(self, dest: destination.Shape) -> None:
        procs = destination.processors(dest)
        self.dynamic = destination.dynamic_partitioning(dest)
        extraction = procs.get("MetadataExtraction")
        self.query = None
        if extraction is not None:
            self.query = jq.compile(destination.parameters(extraction)["MetadataExtractionQuery"])
        parts = parse(dest.get("Prefix", ""), "Prefix")
        self.query_keys = sorted(
            {
                p.value
                for p in parts
                if not isinstance(p, str) and p.namespace == "partitionKeyFromQuery"
            }
        )
        self.lambda_keys = sorted(
            {
                p.value
                for p in parts
                if not isinstance(p, str) and p.namespace == "partitionKeyFromLambda"
            }
        )
        delimit = procs.get("AppendDelimiterToRecord")
        self.delimiter = (
            None if delimit is None else destination.delimiter(destination.parameters(delimit))
        )

    def rows(self, items: list[Item], now_ms: int) -> list[NewRow]:
        rows: list[NewRow] = []
        for item in items:
            part = ""
            if self.dynamic:
                try:
                    part = self._partition(item)
                except ValueError as err:
                    doc = error_document(
                        item,
                        code="DynamicPartitioning.MetadataExtractionFailed",
                        message=str(err),
                        attempts=1,
                        now_ms=now_ms,
                    )
                    rows.append(NewRow(PARTITIONING_FAILED, item.arrival_ms, doc))
                    continue
            data = item.data if self.delimiter is None else item.data + self.delimiter
            meta = None if item.kinesis is None else {"kinesis": item.kinesis}
            rows.append(NewRow(part, item.arrival_ms, data, meta))
        return rows

    def _partition(self, item: Item) -> str:
        keys: dict[str, dict[str, str]] = {}
        if self.query_keys:
            if self.query is None:
                raise ValueError(
                    "Prefix uses partitionKeyFromQuery but no MetadataExtraction is set."
                )
            try:
                result = self.query.input_text(item.data.decode()).first()
            except (ValueError, UnicodeDecodeError, StopIteration) as err:
                raise ValueError(f"Non JSON record or JQ query failure: {err}") from None
            if not isinstance(result, dict):
                raise ValueError("The MetadataExtractionQuery did not produce a JSON object.")
            keys["query"] = {k: _key_value(result.get(k), k) for k in self.query_keys}
        if self.lambda_keys:
            keys["lambda"] = {k: _key_value(item.lambda_keys.get(k), k) for k in self.lambda_keys}
        return json.dumps(keys, sort_keys=True, separators=(",", ":"))


def _key_value(value: Any, key: str) -> str:
    if value is None:
        raise ValueError(f"The partition key {key} is missing or null.")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise ValueError(f"The partition key {key} is not a scalar value.")
    return str(value)


def partition_keys(part: str) -> dict[str, dict[str, str]]:
    """The partition keys a data part stands for (empty without dynamic partitioning)."""
    return json.loads(part) if part.startswith("{") else {}
