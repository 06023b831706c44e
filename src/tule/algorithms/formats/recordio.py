"""RecordIO framing (MXNet / dmlc-core), the container format around SageMaker's Records.

Each record is: magic `0xCED7230A` (little-endian), a uint32 whose low 29 bits are the payload
length and whose top 3 bits are the continuation flag, the payload, then zero padding to a
4-byte boundary (specs §R.1). We write like the SageMaker SDK (flag 0, never split) and read
like dmlc: mask the flag, and join multi-part records (flags 1, 2..., 3) by re-inserting the
magic number that the writer removed where it split.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from tule.algorithms.base import DataError

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
LENGTH_MASK = (1 << 29) - 1
BLOCK = 16 << 20
_PADDING = (b"", b"\0", b"\0\0", b"\0\0\0")


def frame(payload: bytes) -> bytes:
    """One RecordIO frame, written as the SDK's `_write_recordio` does (cflag 0)."""
    n = len(payload)
    return MAGIC_BYTES + struct.pack("<I", n) + payload + _PADDING[(4 - n % 4) % 4]


def split_frames(buf: bytes, final: bool) -> tuple[list[bytes], int]:
    """Complete records in `buf` (multi-part ones joined) and the offset where parsing stopped."""
    records: list[bytes] = []
    parts: list[bytes] = []
    pos = 0
    consumed = 0
    size = len(buf)
    while pos + 8 <= size:
        magic, word = struct.unpack_from("<II", buf, pos)
        if magic != MAGIC:
            raise DataError(
                f"Invalid RecordIO magic number at byte {pos}: not RecordIO-protobuf data"
            )
        length, cflag = word & LENGTH_MASK, word >> 29
        end = pos + 8 + length
        if end > size:
            break
        payload = buf[pos + 8 : end]
        pos = end + (4 - length % 4) % 4
        if cflag == 0:
            records.append(payload)
            consumed = pos
        elif cflag == 1:
            parts = [payload]
        elif cflag == 2:
            parts.append(payload)
        elif cflag == 3:
            parts.append(payload)
            # dmlc removed each aligned magic number from the payload; put them back.
            records.append(MAGIC_BYTES.join(parts))
            parts = []
            consumed = pos
        else:
            raise DataError(f"Invalid RecordIO continuation flag {cflag} at byte {pos}")
    if final and (consumed < size and buf[consumed:].strip(b"\0")):
        raise DataError("Truncated RecordIO record at the end of the data")
    return records, consumed


def iter_payloads(stream: BinaryIO) -> Iterator[bytes]:
    """Record payloads from a stream of frames, reading a block at a time."""
    rest = b""
    while True:
        block = stream.read(BLOCK)
        buf = rest + block if rest else block
        records, consumed = split_frames(buf, final=not block)
        yield from records
        rest = buf[consumed:]
        if not block:
            return
