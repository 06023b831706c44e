"""AWS event streams: the binary message framing, and the streamed HTTP answer of an operation
whose output member is an event stream (Kinesis SubscribeToShard).

A message is

    total length u32 | headers length u32 | CRC32 of those 8 bytes u32 |
    headers | payload | CRC32 of everything before it u32

(big-endian). Each header is its name's length (u8), the name (UTF-8), a type byte and the
value; string values (type 7) carry a u16 length. botocore's `EventStreamBuffer` checks both
CRCs and the limits below, and its parser reads a message by its `:message-type` header:

- `event`: `:event-type` names the member of the stream shape; the payload is that member's
  shape in the protocol's body format. The json protocol starts with an `initial-response`
  event holding the output's other members.
- `exception`: `:exception-type` names a modeled exception member; botocore raises it as an
  `EventStreamError` with that code and the payload's `message`.
- `error`: `:error-code` and `:error-message` headers, for an error the model does not list.

The handler returns its output with an iterator (async or not) of events as the stream
member; each event is a one-key dict `{member name: value}` like those boto3 hands back. An
`AwsError` raised by the iterator becomes the stream's last message. The HTTP body is chunked,
one message per chunk, written as events come. `EventStreams` tracks the open ones so that
closing the gateway ends them with a complete body instead of leaving clients hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import anyio
from botocore.model import OperationModel, Shape

from tule.aws.http import HttpResponse
from tule.aws.protocols.json import to_json
from tule.errors import AwsError

log = logging.getLogger("tule.eventstream")

CONTENT_TYPE = "application/vnd.amazon.eventstream"
PRELUDE = struct.Struct("!II")
MAX_HEADERS_BYTES = 128 * 1024  # what botocore's decoder accepts
MAX_PAYLOAD_BYTES = 24 * 1024 * 1024

_STRING = 7
_BYTES = 6
_TRUE, _FALSE = 0, 1
_LONG = 5

HeaderValue = str | bytes | bool | int


def _header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode()
    head = struct.pack("!B", len(raw_name)) + raw_name
    if isinstance(value, bool):
        return head + struct.pack("!B", _TRUE if value else _FALSE)
    if isinstance(value, int):
        return head + struct.pack("!Bq", _LONG, value)
    raw = value.encode() if isinstance(value, str) else value
    return head + struct.pack("!BH", _STRING if isinstance(value, str) else _BYTES, len(raw)) + raw


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One event-stream message with these headers (in order) and payload."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    if len(head) > MAX_HEADERS_BYTES or len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError("event-stream message too large")
    prelude = PRELUDE.pack(PRELUDE.size + 4 + len(head) + len(payload) + 4, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event_message(event_type: str, payload: bytes) -> bytes:
    return encode_message(
        {
            ":message-type": "event",
            ":event-type": event_type,
            ":content-type": "application/json",
        },
        payload,
    )


def exception_message(exception_type: str, payload: bytes) -> bytes:
    return encode_message(
        {
            ":message-type": "exception",
            ":exception-type": exception_type,
            ":content-type": "application/json",
        },
        payload,
    )


def error_message(code: str, message: str) -> bytes:
    return encode_message(
        {":message-type": "error", ":error-code": code, ":error-message": message}, b""
    )


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _event_payload(shape: Shape, value: Mapping[str, Any]) -> bytes:
    """An event's payload in the json protocols: the member marked `eventpayload` as is (blob,
    string) or as JSON, else the whole event shape as JSON."""
    for name, member in shape.members.items():
        if member.serialization.get("eventpayload"):
            item = value.get(name)
            if member.type_name == "blob":
                return bytes(item or b"")
            if member.type_name == "string":
                return str(item or "").encode()
            return _json(to_json(member, item or {}))
    return _json(to_json(shape, value))


def _failure(stream_shape: Shape, exc: BaseException) -> bytes:
    """The last message of a stream whose events stopped with `exc`."""
    if isinstance(exc, AwsError):
        member = stream_shape.members.get(exc.code)
        if member is not None and member.metadata.get("exception"):
            return exception_message(exc.code, _json({"message": exc.message, **exc.fields}))
        return error_message(exc.code, exc.message)
    log.error("event stream failed", exc_info=exc)
    return error_message(
        "InternalFailure", "The request processing has failed because of an unknown error."
    )


class EventStreams:
    """The event streams being written; `close` ends each after its current message."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._closed = False

    def _enter(self) -> tuple[int, asyncio.Event]:
        stop = asyncio.Event()
        key = id(stop)
        with self._lock:
            self._open[key] = (asyncio.get_running_loop(), stop)
            if self._closed:
                stop.set()
        return key, stop

    def _leave(self, key: int) -> None:
        with self._lock:
            self._open.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        """End every open stream (from any thread); streams opened later end at once."""
        with self._lock:
            self._closed = True
            waiting = list(self._open.values())
        for loop, stop in waiting:
            # A loop already closed has nothing left to end.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)


async def _aiter(events: Any) -> AsyncIterator[Any]:
    """Events from a plain iterator, each fetched on a worker thread."""
    it: Iterator[Any] = iter(events)
    done = object()
    while True:
        item = await anyio.to_thread.run_sync(next, it, done)
        if item is done:
            return
        yield item


async def _first(step: asyncio.Future[Any], stop: asyncio.Event) -> None:
    """Wait until `step` is done or `stop` is set."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({step, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()


async def _messages(
    streams: EventStreams,
    stream_shape: Shape,
    initial: bytes | None,
    events: Any,
) -> AsyncIterator[bytes]:
    source: AsyncIterator[Any] = events if hasattr(events, "__anext__") else _aiter(events)
    key, stop = streams._enter()
    # Each event is awaited as a task of its own, so that `stop` can end the body while the
    # source waits for something to send.
    step: asyncio.Future[Any] | None = None
    try:
        if initial is not None:
            yield initial
        while True:
            try:
                step = asyncio.ensure_future(source.__anext__())
                await _first(step, stop)
                if not step.done():
                    return
                event = step.result()
                messages = [
                    event_message(name, _event_payload(stream_shape.members[name], value))
                    for name, value in event.items()
                ]
            except StopAsyncIteration:
                return
            except Exception as exc:
                yield _failure(stream_shape, exc)
                return
            for message in messages:
                yield message
    finally:
        streams._leave(key)
        if step is not None and not step.done():
            # Cancelling the waiting step runs through the source and ends it (its own
            # clean-up included); closing it now would find it still running.
            step.cancel()
        else:
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()


def respond(
    op: OperationModel, output: Mapping[str, Any], request_id: str, streams: EventStreams
) -> HttpResponse:
    """The streamed answer of `op`, whose output has an event-stream member.

    Only the json protocol's layout is written (an `initial-response` event carrying the other
    output members, as Kinesis has); the rest protocols would put those members in headers."""
    output_shape = op.output_shape
    name = output_shape.event_stream_name
    rest = {k: v for k, v in output.items() if k != name}
    initial = None
    if op.metadata.get("protocol") == "json":
        initial = encode_message(
            {":message-type": "event", ":event-type": "initial-response"},
            _json(to_json(output_shape, rest)),
        )
    stream = _messages(streams, output_shape.members[name], initial, output.get(name) or ())
    return HttpResponse(
        200, {"content-type": CONTENT_TYPE, "x-amzn-requestid": request_id}, stream=stream
    )
