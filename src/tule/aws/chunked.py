"""`aws-chunked` request bodies: the chunk framing SDKs use for streaming uploads (spec §1.8).

Each chunk is `<hex size>[;chunk-signature=...]\r\n<bytes>\r\n`, ending with a zero-size chunk
and optional trailers (`x-amz-checksum-crc32:...`). The framing is removed before storing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from tule.errors import AwsError


def is_aws_chunked(headers: dict[str, str]) -> bool:
    return "aws-chunked" in headers.get("content-encoding", "") or headers.get(
        "x-amz-content-sha256", ""
    ).startswith("STREAMING-")


async def decode_aws_chunked(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield the payload bytes of an aws-chunked body."""
    buf = bytearray()
    source = chunks.__aiter__()
    exhausted = False

    async def fill(n: int) -> bool:
        nonlocal exhausted
        while len(buf) < n and not exhausted:
            try:
                buf.extend(await source.__anext__())
            except StopAsyncIteration:
                exhausted = True
        return len(buf) >= n

    while True:
        while b"\r\n" not in buf:
            if exhausted or not await fill(len(buf) + 1):
                raise _incomplete()
        line, _, rest = bytes(buf).partition(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _incomplete() from None
        buf[:] = rest
        if size == 0:
            return  # trailers follow; the checksum in them was already computed by the client
        if not await fill(size + 2):
            raise _incomplete()
        yield bytes(buf[:size])
        buf[:] = buf[size + 2 :]


def _incomplete() -> AwsError:
    return AwsError("IncompleteBody", "The request body terminated unexpectedly", 400)
