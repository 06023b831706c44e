"""CompressionFormat: how a flushed object's bytes are compressed, and the key extension for it.

`Snappy` is the snappy *framing* format (stream identifier, CRC-checked chunks), which
`cramjam.snappy.compress` writes. `HADOOP_SNAPPY` is Hadoop's block format, what Hadoop's
`SnappyCodec` (and so Hive, Spark and Athena) reads: for each block of up to 256 KiB of input,
a 4-byte big-endian uncompressed length, then one chunk of a 4-byte big-endian compressed length
followed by raw snappy bytes.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import cramjam

EXTENSIONS = {
    "UNCOMPRESSED": "",
    "GZIP": ".gz",
    "ZIP": ".zip",
    "Snappy": ".snappy",
    "HADOOP_SNAPPY": ".snappy",
}
HADOOP_BLOCK = 256 * 1024


def compress(fmt: str, data: bytes, entry_name: str = "data") -> bytes:
    """`data` compressed as `fmt`; `entry_name` names the single file inside a ZIP."""
    if fmt == "GZIP":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if fmt == "ZIP":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(entry_name, data)
        return out.getvalue()
    if fmt == "Snappy":
        return bytes(cramjam.snappy.compress(data))
    if fmt == "HADOOP_SNAPPY":
        return hadoop_snappy(data)
    return data


def hadoop_snappy(data: bytes) -> bytes:
    out = bytearray()
    view = memoryview(data)
    for start in range(0, len(data), HADOOP_BLOCK):
        block = view[start : start + HADOOP_BLOCK]
        packed = bytes(cramjam.snappy.compress_raw(bytes(block)))
        out += struct.pack(">II", len(block), len(packed)) + packed
    return bytes(out)


def hadoop_snappy_decompress(data: bytes) -> bytes:
    """The inverse of `hadoop_snappy` (for reading such objects back)."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        (expected,) = struct.unpack_from(">I", data, pos)
        pos += 4
        got = 0
        while got < expected:
            (size,) = struct.unpack_from(">I", data, pos)
            pos += 4
            chunk = bytes(cramjam.snappy.decompress_raw(data[pos : pos + size]))
            pos += size
            out += chunk
            got += len(chunk)
    return bytes(out)
