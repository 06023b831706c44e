"""Classifying one S3 object: which format it is, and its schema.

The order follows Glue's: custom classifiers first (in the crawler's order), then the built-in
ones: Parquet (`PAR1`), ORC (`ORC`), Avro (`Obj\\x01`), JSON, CSV; anything else is unclassified.
Gzip and bzip2 text is decompressed first and the table records `compressionType`. Text formats
are judged on a sample (the first MiB of text); their record count is then scaled from the
sample to the whole object. Self-describing formats are read whole (their schema and row count
sit in a footer or spread through the file).
"""

from __future__ import annotations

import bz2
import gzip
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import IO

from tule.services.glue.crawlers.columnar import (
    AVRO_MAGIC,
    ORC_MAGIC,
    PARQUET_MAGIC,
    avro_schema,
    orc_schema,
    parquet_schema,
)
from tule.services.glue.crawlers.csv_infer import CsvOptions, infer_csv
from tule.services.glue.crawlers.json_infer import infer_json
from tule.services.glue.crawlers.schema import FileSchema

SAMPLE_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"


@dataclass(frozen=True)
class JsonOptions:
    """A custom JSON classifier: the JsonPath that picks records out of each document."""

    json_path: str
    classifier: str | None = None


CustomRule = CsvOptions | JsonOptions


class _ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks, counting what has been read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self.consumed += n
        return n


def _read_upto(stream: IO[bytes], limit: int) -> bytes:
    out = bytearray()
    while len(out) < limit:
        piece = stream.read(limit - len(out))
        if not piece:
            break
        out += piece
    return bytes(out)


def classify(
    chunks: Iterator[bytes], size: int, custom: Sequence[CustomRule] = ()
) -> FileSchema | None:
    """The schema of an object whose bytes `chunks` yields (`size` bytes in all), or None."""
    raw = _ChunkStream(chunks)
    stream = io.BufferedReader(raw, buffer_size=64 * 1024)
    try:
        magic = stream.peek(4)[:4]
        if magic == PARQUET_MAGIC:
            return parquet_schema(stream.read())
        if magic[:3] == ORC_MAGIC:
            return orc_schema(stream.read())
        if magic == AVRO_MAGIC:
            return avro_schema(stream.read())
        compression = "none"
        text_stream: IO[bytes] = stream
        if magic[:2] == _GZIP_MAGIC:
            compression, text_stream = "gzip", gzip.GzipFile(fileobj=stream)
        elif magic[:3] == _BZIP2_MAGIC:
            compression, text_stream = "bzip2", bz2.BZ2File(stream)
        try:
            data = _read_upto(text_stream, SAMPLE_BYTES + 1)
        except (OSError, EOFError):
            return None  # a corrupt archive
        complete = len(data) <= SAMPLE_BYTES
        schema = classify_text(data[:SAMPLE_BYTES], complete, custom)
        if schema is None:
            return None
        records = schema.records
        if not complete:
            # Scale by the share of the object the sample covered: whole lines of plain text,
            # or the compressed bytes read (approximate: decompressors read ahead).
            covered = (
                data.rfind(b"\n", 0, SAMPLE_BYTES) + 1 if compression == "none" else raw.consumed
            )
            if covered:
                records = round(records * size / covered)
        return replace(schema, compression=compression, records=records)
    except (ValueError, OSError, KeyError):
        return None  # unreadable as what its magic number claims (pyarrow, Avro framing)
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()


def classify_text(
    data: bytes, complete: bool, custom: Sequence[CustomRule] = ()
) -> FileSchema | None:
    """Custom classifiers in order, then built-in JSON, then built-in CSV."""
    text = _decode(data, complete)
    if text is None or not text.strip():
        return None
    for rule in custom:
        if isinstance(rule, CsvOptions):
            schema = infer_csv(text, complete, rule)
        else:
            schema = infer_json(text, complete, rule.json_path)
            if schema is not None:
                schema = replace(schema, classifier=rule.classifier)
        if schema is not None:
            return schema
    return infer_json(text, complete) or infer_csv(text, complete)


def _decode(data: bytes, complete: bool) -> str | None:
    if b"\x00" in data:
        return None  # binary
    if not complete:
        # The sample may end inside a multi-byte character; whole lines are all we use.
        data = data[: data.rfind(b"\n") + 1]
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
