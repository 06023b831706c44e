"""Hashing beside writing: the same digests whether hashed in line or on the helper thread."""

from __future__ import annotations

import hashlib

import pytest

from tule.storage.hashing import Hashing

CHUNKS = [bytes([i % 256]) * (100_000 + i) for i in range(40)]


@pytest.mark.parametrize("inline_bytes", [0, 250_000, 1 << 40])
def test_digests_match_hashing_in_one_go(inline_bytes: int) -> None:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    hashing = Hashing([md5, sha], inline_bytes=inline_bytes)
    for chunk in CHUNKS:
        hashing.update(chunk)
    hashing.finish()
    whole = b"".join(CHUNKS)
    assert md5.hexdigest() == hashlib.md5(whole, usedforsecurity=False).hexdigest()
    assert sha.hexdigest() == hashlib.sha256(whole).hexdigest()


class _Broken:
    def update(self, data: bytes, /) -> None:
        raise ValueError("hasher failed")


def test_a_failing_hasher_fails_finish_without_blocking_the_writer() -> None:
    hashing = Hashing([_Broken()], inline_bytes=0)
    for chunk in CHUNKS:  # more than the helper's backlog: the writer must never hang
        hashing.update(chunk)
    with pytest.raises(ValueError, match="hasher failed"):
        hashing.finish()


def test_a_failing_hasher_does_not_stop_the_others() -> None:
    md5 = hashlib.md5(usedforsecurity=False)
    hashing = Hashing([_Broken(), md5], inline_bytes=0)
    for chunk in CHUNKS:
        hashing.update(chunk)
    with pytest.raises(ValueError, match="hasher failed"):
        hashing.finish()
    assert md5.hexdigest() == hashlib.md5(b"".join(CHUNKS), usedforsecurity=False).hexdigest()


def test_a_partial_batch_is_hashed_at_finish() -> None:
    sha = hashlib.sha256()
    hashing = Hashing([sha], inline_bytes=0)
    hashing.update(b"abc")  # far less than a batch: handed over only by finish
    hashing.update(b"")
    hashing.finish()
    assert sha.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_abort_stops_every_helper() -> None:
    hashing = Hashing([hashlib.md5(usedforsecurity=False), hashlib.sha1()], inline_bytes=0)
    hashing.update(CHUNKS[0])
    hashing.abort()
    assert len(hashing._helpers) == 2
    assert not any(helper.thread.is_alive() for helper in hashing._helpers)
