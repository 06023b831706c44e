"""The ASGI application: the single entry for every request, in process or behind uvicorn."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tule import __version__
from tule.aws import specs
from tule.aws.body import BodyPipe, incomplete_body, should_stream
from tule.aws.chunked import decode_aws_chunked, is_aws_chunked
from tule.aws.dispatch import Dispatcher
from tule.aws.http import HttpRequest, HttpResponse
from tule.aws.routing import RUNTIME_PATH
from tule.clock import Clock, SystemClock
from tule.config import Settings
from tule.errors import AwsError
from tule.services.base import ServiceEnv
from tule.services.registry import SERVICES, handler_table

SPOOL_THRESHOLD = 8 * 1024 * 1024
SPOOL_MEMORY = 128 * 1024 * 1024
HEALTH_PATH = "/_tule/health"


class Gateway:
    """The served services and the ASGI callable in front of them."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.domains: dict[str, Any] = {}
        handlers = {}
        for entry in SERVICES:
            env = ServiceEnv(settings, self.clock, settings.data_dir / entry.name, peer=self._peer)
            domain = entry.build(env)
            if domain is not None:
                self.domains[entry.name] = domain
            handlers[entry.name] = handler_table(
                entry, list(specs.service_model(entry.name).operation_names)
            )
        self.dispatcher = Dispatcher(settings, self.clock, handlers, self.domains)

    def _peer(self, name: str) -> Any:
        try:
            return self.domains[name]
        except KeyError:
            raise LookupError(f"service {name!r} is not built before the one asking") from None

    def health(self) -> dict[str, Any]:
        return {
            "status": "running",
            "version": __version__,
            "services": {
                name: {"implemented_operations": len(table)}
                for name, table in self.dispatcher.handlers.items()
            },
        }

    def end_streams(self) -> None:
        """End every event stream being answered (SubscribeToShard), each with a complete
        body. uvicorn waits for open responses before its lifespan shutdown calls `close`, so
        whoever stops the server calls this first."""
        self.dispatcher.streams.close()

    def close(self) -> None:
        self.end_streams()
        # Last built first: a service flushes into its peers (SageMaker's logs, Firehose's S3)
        # while they are still open.
        for domain in reversed(list(self.domains.values())):
            close = getattr(domain, "close", None)
            if callable(close):
                close()
        self.dispatcher.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if scope["path"] == HEALTH_PATH and request.method == "GET":
            body = json.dumps(self.health()).encode()
            await Response(body, media_type="application/json")(scope, receive, send)
            return
        http_req = _request_head(scope)
        chunks: AsyncIterator[bytes] = request.stream()
        if is_aws_chunked(http_req.headers):
            chunks = decode_aws_chunked(chunks)
        if should_stream(http_req, self.settings.auth) and not RUNTIME_PATH.match(http_req.path):
            resp = await self._handle_streaming(http_req, chunks)
            if resp is None:
                return  # the client left before sending its whole body: no one to answer
        else:
            try:
                await _read_body(chunks, http_req)
            except ClientDisconnect:
                return
            except AwsError as err:  # a body that breaks its framing (aws-chunked)
                resp = self.dispatcher.reject(http_req, err)
            else:
                resp = await self.dispatcher.handle_async(http_req)
        await _to_asgi(resp)(scope, receive, send)

    async def _handle_streaming(
        self, req: HttpRequest, chunks: AsyncIterator[bytes]
    ) -> HttpResponse | None:
        """Dispatch while the body is still arriving (see `body`); None if the client left."""
        declared = req.headers.get("x-amz-content-sha256") if self.settings.auth else None
        pipe = BodyPipe(asyncio.get_running_loop(), declared)
        req.body_stream = pipe  # type: ignore[assignment]
        req.body_checked = declared is not None
        left = False

        async def feed() -> None:
            nonlocal left
            try:
                async for chunk in chunks:
                    await pipe.put(chunk)
            except ClientDisconnect:
                left = True
                pipe.fail(incomplete_body())
            except AwsError as err:  # a body that breaks its framing (aws-chunked)
                pipe.fail(err)
            except BaseException:
                pipe.fail(incomplete_body())
                raise
            else:
                pipe.finish()

        def handle() -> HttpResponse:
            try:
                return self.dispatcher.handle(req)
            finally:
                pipe.close()  # whatever the handler left unread is drained and dropped

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(feed)
            resp = await anyio.to_thread.run_sync(handle)
        return None if left else resp

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await anyio.to_thread.run_sync(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(chunks: AsyncIterator[bytes], req: HttpRequest) -> None:
    """Read a body that is not streamed: whole into memory when small; else (a large body
    whose SigV4 payload hash must be known before dispatching) into a spool, hashed."""
    headers = req.headers
    length = headers.get("content-length", "0")
    if "transfer-encoding" not in headers and length.isdigit() and int(length) <= SPOOL_THRESHOLD:
        req.body = b"".join([c async for c in chunks])
        return
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
    digest = hashlib.sha256()
    async for chunk in chunks:
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    req.body_stream = spool  # type: ignore[assignment]
    req.body_sha256 = digest.hexdigest()


def _request_head(scope: Scope) -> HttpRequest:
    """The request line and headers; the body is read next."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return HttpRequest(
        method=scope["method"],
        path=raw_path.decode("latin-1").split("?", 1)[0],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
    )


def _to_asgi(resp: HttpResponse) -> Response:
    if resp.stream is not None:
        return StreamingResponse(resp.stream, status_code=resp.status_code, headers=resp.headers)
    return Response(resp.body, status_code=resp.status_code, headers=resp.headers)


def create_app(settings: Settings, clock: Clock | None = None) -> Gateway:
    """The tule application for these settings."""
    return Gateway(settings, clock)
