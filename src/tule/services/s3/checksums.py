"""Object integrity: Content-MD5 and the `x-amz-checksum-*` algorithms (spec §1.8).

A request may carry one checksum header (`x-amz-checksum-crc32: <base64>`) and/or name an
algorithm (`x-amz-sdk-checksum-algorithm`). S3 computes the checksum while storing the bytes,
refuses the upload with `BadDigest` on a mismatch, stores the value, and returns it on GET/HEAD
only when asked (`x-amz-checksum-mode: ENABLED`). CRCs come from `awscrt`, which is what
botocore itself uses, so values agree bit for bit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from awscrt import checksums as crt

from tule.services.s3 import errors

FULL_OBJECT = "FULL_OBJECT"
COMPOSITE = "COMPOSITE"


class _Crc:
    """A running CRC with hashlib's `update`/`digest` shape."""

    def __init__(self, fn: Callable[[bytes, int], int], size: int) -> None:
        self._fn = fn
        self._size = size
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


class _XxHash:
    def __init__(self, factory: Callable[[], Any]) -> None:
        self._h = factory()

    def update(self, data: bytes, /) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return bytes(self._h.finalize())


@dataclass(frozen=True)
class _Algorithm:
    size: int  # digest bytes
    new: Callable[[], Any]
    combine: Callable[[int, int, int], int] | None = None  # CRCs combine without the data


ALGORITHMS: dict[str, _Algorithm] = {
    "CRC32": _Algorithm(4, lambda: _Crc(crt.crc32, 4), crt.combine_crc32),
    "CRC32C": _Algorithm(4, lambda: _Crc(crt.crc32c, 4), crt.combine_crc32c),
    "CRC64NVME": _Algorithm(8, lambda: _Crc(crt.crc64nvme, 8), crt.combine_crc64nvme),
    "SHA1": _Algorithm(20, hashlib.sha1),
    "SHA256": _Algorithm(32, hashlib.sha256),
    "SHA512": _Algorithm(64, hashlib.sha512),
    "MD5": _Algorithm(16, lambda: hashlib.md5(usedforsecurity=False)),
    "XXHASH64": _Algorithm(8, lambda: _XxHash(crt.XXHash.new_xxhash64)),
    "XXHASH3": _Algorithm(8, lambda: _XxHash(crt.XXHash.new_xxhash3_64)),
    "XXHASH128": _Algorithm(16, lambda: _XxHash(crt.XXHash.new_xxhash3_128)),
}


def header_name(algorithm: str) -> str:
    return f"x-amz-checksum-{algorithm.lower()}"


def _encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _decode(algorithm: str, value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_checksum_header(header_name(algorithm)) from None
    if len(raw) != ALGORITHMS[algorithm].size:
        raise errors.invalid_checksum_header(header_name(algorithm))
    return raw


@dataclass(frozen=True)
class Checksum:
    """A stored checksum: algorithm, base64 value (`...-N` for composite), and its type."""

    algorithm: str
    value: str
    type: str = FULL_OBJECT


class Expectation:
    """What one upload claims: at most one checksum value, or just an algorithm to compute.

    Feed `hashers` to the blob store while the bytes are written, then `finish()` verifies
    the claim and gives the checksum to store."""

    def __init__(self, claims: dict[str, str], algorithm: str | None = None) -> None:
        if len(claims) > 1:
            raise errors.invalid_request(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not "
                "allowed."
            )
        self.claimed: tuple[str, bytes] | None = None
        for name, value in claims.items():
            self.claimed = (name, _decode(name, value))
        self.algorithm = self.claimed[0] if self.claimed else (algorithm or None)
        if self.algorithm is not None and self.algorithm not in ALGORITHMS:
            raise errors.invalid_request(f"Checksum algorithm {self.algorithm} is not supported.")
        if algorithm and self.claimed and algorithm.upper() != self.claimed[0]:
            raise errors.invalid_request(
                f"Value for x-amz-sdk-checksum-algorithm header is invalid: {algorithm} does not "
                f"match the checksum header provided."
            )
        self._hasher = ALGORITHMS[self.algorithm].new() if self.algorithm else None

    @property
    def hashers(self) -> list[Any]:
        return [self._hasher] if self._hasher is not None else []

    def finish(self) -> Checksum | None:
        if self._hasher is None or self.algorithm is None:
            return None
        digest = self._hasher.digest()
        if self.claimed is not None and self.claimed[1] != digest:
            raise errors.bad_checksum(self.algorithm)
        return Checksum(self.algorithm, _encode(digest))


def check_content_md5(value: str | None) -> bytes | None:
    """The 16-byte digest a Content-MD5 header promises; `InvalidDigest` if it is malformed."""
    if value is None:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_digest(value) from None
    if len(raw) != 16:
        raise errors.invalid_digest(value)
    return raw


def verify_content_md5(expected: bytes | None, md5_hex: str) -> None:
    """`BadDigest` unless the bytes received hash to the promised Content-MD5."""
    if expected is not None and expected.hex() != md5_hex:
        raise errors.bad_digest(_encode(expected), _encode(bytes.fromhex(md5_hex)))


def composite(algorithm: str, part_values: list[str]) -> str:
    """A multipart object's COMPOSITE checksum: the checksum of the parts' raw checksums,
    suffixed with the part count (S3 user guide, "Checking object integrity")."""
    hasher = ALGORITHMS[algorithm].new()
    for value in part_values:
        hasher.update(base64.b64decode(value))
    return f"{_encode(hasher.digest())}-{len(part_values)}"


def combine_full(algorithm: str, parts: list[tuple[str, int]]) -> str | None:
    """A multipart object's FULL_OBJECT CRC, combined from each part's CRC and size without
    rereading the data; None for algorithms that cannot be combined."""
    spec = ALGORITHMS[algorithm]
    if spec.combine is None:
        return None
    total = 0
    for value, size in parts:
        crc = int.from_bytes(base64.b64decode(value), "big")
        total = spec.combine(total, crc, size)
    return _encode(total.to_bytes(spec.size, "big"))
