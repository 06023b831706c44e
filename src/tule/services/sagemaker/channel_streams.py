"""Pipe-mode channel bytes: what one epoch's FIFO `<channel>_<epoch>` carries (spec §2.7).

`stream` delivers objects one after another, gunzipped when the channel's CompressionType is
`Gzip` (SageMaker decompresses in Pipe mode) and wrapped one record per object when its
RecordWrapperType is `RecordIO`; `augmented_records` turns an augmented manifest (JSON Lines)
into one RecordIO record per attribute of each line, fetching `-ref` attributes from S3.
"""

from __future__ import annotations

import json
import random
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from tule.errors import AwsError
from tule.services.sagemaker.channels import (
    ChannelError,
    SourceObject,
    parse_s3_uri,
    read_chunks,
)

if TYPE_CHECKING:
    from tule.services.s3 import S3

# MXNet/dmlc RecordIO framing, which SageMaker uses for RecordWrapperType=RecordIO: a magic word,
# then a word whose lower 29 bits are the payload length and upper 3 bits a continuation flag
# (0: the record is whole), then the payload padded to a multiple of 4 bytes.
RECORDIO_MAGIC = 0xCED7230A
_RECORDIO_MAX_LENGTH = (1 << 29) - 1

_CHUNK = 1 << 20
# A record's length must precede its payload; payloads whose length is not known up front (a
# decompressed object, an augmented manifest's `-ref` object) wait here, spilling to disk when
# large so that a big object does not have to fit in memory.
_SPOOL_IN_MEMORY = 16 << 20


# -- Pipe mode --------------------------------------------------------------------------------


def stream(
    s3: S3,
    objects: list[SourceObject],
    *,
    compression: str | None,
    record_wrapper: str | None,
) -> Iterator[bytes]:
    """The bytes of one epoch's FIFO: the objects one after another, each gunzipped first when
    `compression` is `Gzip` and wrapped as one RecordIO record when `record_wrapper` is
    `RecordIO`. Bytes flow in chunks; only a record whose length is not known up front (a
    decompressed object) is held back until it is complete."""
    gunzip = _flag(compression, "Gzip", "CompressionType")
    wrap = _flag(record_wrapper, "RecordIO", "RecordWrapperType")
    for obj in objects:
        chunks = read_chunks(s3, obj)
        if gunzip:
            chunks = _gunzip(chunks, obj)
        if not wrap:
            yield from chunks
        elif gunzip:
            yield from _record_spooled(chunks, obj.url)
        else:
            yield from _record_of_size(chunks, obj.size, obj)


def _flag(value: str | None, on: str, member: str) -> bool:
    if value in (None, "None"):
        return False
    if value == on:
        return True
    raise ChannelError(
        f'ClientError: {member} "{value}" is not supported. Please use None or {on}.'
    )


def _gunzip(chunks: Iterable[bytes], obj: SourceObject) -> Iterator[bytes]:
    # wbits=31: gzip framing only. A gzip file may hold several members back to back (RFC 1952
    # §2.2), each decompressed in turn. Output is capped per call so a small, highly compressed
    # object cannot expand into memory all at once.
    inflater = zlib.decompressobj(wbits=31)
    started = False
    try:
        for chunk in chunks:
            pending = chunk
            while pending:
                started = True
                out = inflater.decompress(pending, _CHUNK)
                if out:
                    yield out
                if inflater.eof:
                    pending = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
                    started = False
                    continue
                pending = inflater.unconsumed_tail
                # A full output buffer may leave output inside zlib with no input left.
                while not pending and len(out) == _CHUNK:
                    out = inflater.decompress(b"", _CHUNK)
                    if out:
                        yield out
        if started and not inflater.eof:
            raise zlib.error("the compressed data ends early")
    except zlib.error as e:
        raise ChannelError(
            f'ClientError: S3 object "{obj.url}" is not a valid gzip file ({e}). The channel\'s '
            "CompressionType is Gzip, so each of its objects must be gzip-compressed."
        ) from e


def _recordio_header(length: int, what: str) -> bytes:
    if length > _RECORDIO_MAX_LENGTH:
        raise ChannelError(
            f"ClientError: {what} is {length} bytes, more than the {_RECORDIO_MAX_LENGTH} bytes "
            "a RecordIO record can hold."
        )
    return struct.pack("<II", RECORDIO_MAGIC, length)


def _recordio_padding(length: int) -> bytes:
    return b"\x00" * (-length % 4)


def _record_of_size(chunks: Iterable[bytes], size: int, obj: SourceObject) -> Iterator[bytes]:
    # The listing gave the size, so the header can go first and the payload stream behind it.
    yield _recordio_header(size, f'S3 object "{obj.url}"')
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        if sent > size:
            break
        yield chunk
    if sent != size:
        raise ChannelError(
            f'ClientError: S3 object "{obj.url}" changed while it was being read '
            f"({sent} bytes, listed as {size})."
        )
    yield _recordio_padding(size)


def _record_spooled(chunks: Iterable[bytes], what: str) -> Iterator[bytes]:
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        for chunk in chunks:
            spool.write(chunk)
        length = spool.tell()
        yield _recordio_header(length, f'"{what}"')
        spool.seek(0)
        yield from _read_in_chunks(spool)
        yield _recordio_padding(length)


def _read_in_chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(_CHUNK):
        yield chunk


def augmented_records(
    s3: S3,
    manifest: SourceObject,
    attribute_names: list[str],
    *,
    seed: int | None = None,
    epoch: int = 0,
) -> Iterator[bytes]:
    """The Pipe-mode bytes of an augmented manifest (JSON Lines): per line, per attribute in
    order, one RecordIO record holding the referenced object's bytes (`-ref` attributes) or the
    value (a string as its UTF-8 text, anything else as JSON). With a `seed`, the lines are
    shuffled per epoch, as ShuffleConfig does for augmented manifests."""
    if not attribute_names:
        raise ChannelError(
            f'ClientError: The augmented manifest file "{manifest.url}" needs AttributeNames in '
            "its S3DataSource."
        )
    lines = [(n, line) for n, line in _lines(read_chunks(s3, manifest)) if line.strip()]
    if seed is not None:
        random.Random(f"{seed}:{epoch}").shuffle(lines)
    for number, line in lines:
        record = _json_line(line, number, manifest)
        for name in attribute_names:
            if name not in record:
                raise ChannelError(
                    f'ClientError: Line {number} of augmented manifest file "{manifest.url}" has '
                    f'no attribute "{name}". Please ensure that every line has every attribute '
                    "named in AttributeNames."
                )
            value = record[name]
            if name.endswith("-ref"):
                yield from _referenced_record(s3, value, name, number, manifest)
                continue
            if isinstance(value, str):
                payload = value.encode()
            else:
                payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
            yield (
                _recordio_header(len(payload), f'Attribute "{name}" on line {number}')
                + payload
                + _recordio_padding(len(payload))
            )


def _lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Numbered lines (from 1) of a byte stream, without their line ends."""
    number = 0
    rest = b""
    for chunk in chunks:
        *complete, rest = (rest + chunk).split(b"\n")
        for line in complete:
            number += 1
            yield number, line
    if rest:
        yield number + 1, rest


def _json_line(line: bytes, number: int, manifest: SourceObject) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as e:
        raise ChannelError(
            f'ClientError: Line {number} of augmented manifest file "{manifest.url}" is not valid '
            f"JSON ({e})."
        ) from e
    if not isinstance(record, dict):
        raise ChannelError(
            f'ClientError: Line {number} of augmented manifest file "{manifest.url}" is not a '
            "JSON object."
        )
    return record


def _referenced_record(
    s3: S3, value: Any, name: str, number: int, manifest: SourceObject
) -> Iterator[bytes]:
    where = f'attribute "{name}" on line {number} of augmented manifest file "{manifest.url}"'
    if not isinstance(value, str):
        raise ChannelError(f"ClientError: The {where} is not an S3 URI string.")
    try:
        bucket, key = parse_s3_uri(value)
    except ChannelError as e:
        raise ChannelError(f'ClientError: The {where} is "{value}", not an S3 URI.') from e
    try:
        chunks = s3.read_object(bucket, key)
        first = next(chunks, b"")
    except AwsError as e:
        raise ChannelError(
            f'ClientError: Could not read S3 object "{value}" named by the {where} '
            f'({e.code}). Please ensure that it exists and that the role has "s3:GetObject" '
            "permissions on it."
        ) from e
    yield from _record_spooled(_prepend(first, chunks), value)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
