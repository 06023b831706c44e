"""The pipe that streams a request body from the event loop to the handler's thread."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest

from tule.aws.body import BodyPipe, PayloadMismatch, should_stream
from tule.aws.http import HttpRequest
from tule.errors import AwsError

PIECES = [bytes([i]) * (1000 + i) for i in range(50)]
BODY = b"".join(PIECES)


def _read_all(pipe: BodyPipe, size: int, out: list[bytes], errors: list[BaseException]) -> None:
    try:
        while piece := pipe.read(size):
            assert len(piece) <= size
            out.append(piece)
    except BaseException as exc:
        errors.append(exc)


async def _feed(pipe: BodyPipe, pieces: list[bytes]) -> None:
    for piece in pieces:
        await pipe.put(piece)
    pipe.finish()


def _run(declared: str | None = None, limit: int = 4096, read_size: int = 700) -> list[bytes]:
    """Feed PIECES through a pipe into a reading thread; return what it read."""
    out: list[bytes] = []
    errors: list[BaseException] = []

    async def main() -> None:
        pipe = BodyPipe(asyncio.get_running_loop(), declared, limit=limit)
        reader = threading.Thread(target=_read_all, args=(pipe, read_size, out, errors))
        reader.start()
        await _feed(pipe, PIECES)
        await asyncio.get_running_loop().run_in_executor(None, reader.join)

    asyncio.run(main())
    if errors:
        raise errors[0]
    return out


def test_bytes_arrive_whole_and_in_order_through_a_small_pipe() -> None:
    # The limit is far below the body, so the feeder must wait for the reader many times.
    assert b"".join(_run(limit=2048)) == BODY


def test_a_body_matching_its_declared_hash_reads_to_the_end() -> None:
    assert b"".join(_run(declared=hashlib.sha256(BODY).hexdigest().upper())) == BODY


def test_a_body_not_matching_its_declared_hash_fails_at_its_end() -> None:
    with pytest.raises(PayloadMismatch) as caught:
        _run(declared="0" * 64)
    assert caught.value.actual == hashlib.sha256(BODY).hexdigest()


def test_read_all_returns_the_rest_of_the_body() -> None:
    async def main() -> bytes:
        pipe = BodyPipe(asyncio.get_running_loop())
        loop = asyncio.get_running_loop()
        reading = loop.run_in_executor(None, pipe.read)
        await _feed(pipe, PIECES)
        return await reading

    assert asyncio.run(main()) == BODY


def test_a_failure_reaches_the_reader() -> None:
    async def main() -> None:
        pipe = BodyPipe(asyncio.get_running_loop())
        await pipe.put(b"part of it")
        pipe.fail(AwsError("IncompleteBody", "cut short", 400))
        await asyncio.get_running_loop().run_in_executor(None, pipe.read, 100)

    with pytest.raises(AwsError, match="cut short"):
        asyncio.run(main())


def test_closing_the_reader_frees_a_waiting_feeder_and_drops_the_rest() -> None:
    async def main() -> None:
        pipe = BodyPipe(asyncio.get_running_loop(), limit=10)
        blocked = asyncio.ensure_future(pipe.put(b"x" * 20))  # over the limit: waits
        await asyncio.sleep(0.01)
        assert not blocked.done()
        pipe.close()
        await asyncio.wait_for(blocked, 5)
        await asyncio.wait_for(pipe.put(b"dropped"), 5)  # no reader: no waiting either

    asyncio.run(main())


@pytest.mark.parametrize(
    ("headers", "auth", "streams"),
    [
        ({"content-length": "100"}, False, False),
        ({"content-length": str(8 << 20)}, False, True),
        ({"transfer-encoding": "chunked"}, False, True),
        ({}, False, False),  # no length, no chunking: no body
        ({"content-length": str(8 << 20)}, True, False),  # SigV4 must hash it first
        ({"content-length": str(8 << 20), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, True, True),
    ],
)
def test_which_bodies_stream(headers: dict[str, str], auth: bool, streams: bool) -> None:
    assert should_stream(HttpRequest("PUT", "/b/k", headers=headers), auth) is streams
