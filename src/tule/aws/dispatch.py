"""The one path a request takes: route, authenticate, parse, validate, handle, serialize."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from tule import ids
from tule.aws import eventstream, specs
from tule.aws.auth import payload_mismatch, verify
from tule.aws.body import PayloadMismatch
from tule.aws.http import HttpRequest, HttpResponse
from tule.aws.protocols import registry as protocols
from tule.aws.routing import Route, route
from tule.aws.validation import validate
from tule.aws.workers import WorkerThreads, calling_loop
from tule.clock import Clock
from tule.config import Settings
from tule.context import RequestContext
from tule.errors import AwsError, not_implemented
from tule.services.registry import Handler

log = logging.getLogger("tule.gateway")


@dataclass(frozen=True)
class _Prepared:
    """A request ready for its handler."""

    op: Any
    codec: Any
    handler: Handler
    ctx: RequestContext
    params: dict[str, Any]


class Dispatcher:
    """Turns an `HttpRequest` into an `HttpResponse` through the served services' handlers."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        handlers: Mapping[str, Mapping[str, Handler]],
        domains: Mapping[str, Any],
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.handlers = handlers
        self.domains = domains
        self.services = tuple(handlers)
        # Answers still streaming events (SubscribeToShard), ended when the gateway closes.
        self.streams = eventstream.EventStreams()
        self.workers = WorkerThreads()

    def close(self) -> None:
        self.workers.close()

    def handle(self, req: HttpRequest) -> HttpResponse:
        try:
            r = route(req, self.services)
        except Exception as exc:
            return self._unroutable(exc, req)
        return self._handle_routed(req, r)

    def _handle_routed(self, req: HttpRequest, r: Route) -> HttpResponse:
        request_id = ids.s3_request_id() if r.service == "s3" else ids.request_id()
        try:
            prepared = self._prepare(req, r, request_id)
            output = prepared.handler(prepared.ctx, prepared.params)
            if inspect.isawaitable(output):
                output = _await(output)
            return self._respond(prepared, output)
        except Exception as exc:
            return self._failed(exc, r, req, request_id)

    async def handle_async(self, req: HttpRequest) -> HttpResponse:
        """`handle` for the event loop: an operation whose handler is a coroutine (SageMaker
        Runtime's invocations, which only wait on a model server) runs right here, without a
        worker thread; every other one goes to a worker thread, as `handle`, routed once."""
        try:
            r = route(req, self.services)
        except Exception as exc:
            return self._unroutable(exc, req)
        handler = self.handlers.get(r.service, {}).get(r.operation or "")
        if handler is None or not inspect.iscoroutinefunction(handler):
            return await self.workers.run(self._handle_routed, req, r)
        request_id = ids.request_id()
        try:
            prepared = self._prepare(req, r, request_id)
            return self._respond(prepared, await prepared.handler(prepared.ctx, prepared.params))
        except Exception as exc:
            return self._failed(exc, r, req, request_id)

    def _unroutable(self, exc: Exception, req: HttpRequest) -> HttpResponse:
        if not isinstance(exc, AwsError):
            log.exception("routing failed")
            exc = _internal("s3")
        return self._error(exc, "s3", req, ids.s3_request_id())

    def _failed(self, exc: Exception, r: Route, req: HttpRequest, request_id: str) -> HttpResponse:
        """The answer to a request whose handling raised."""
        if isinstance(exc, AwsError):
            return self._error(exc, r.service, req, request_id, r.wire)
        if isinstance(exc, PayloadMismatch):
            mismatch = payload_mismatch(exc.declared, exc.actual, r.service == "s3")
            return self._error(mismatch, r.service, req, request_id, r.wire)
        log.error("%s.%s failed", r.service, r.operation, exc_info=exc)
        return self._error(_internal(r.service), r.service, req, request_id, r.wire)

    def reject(self, req: HttpRequest, err: AwsError) -> HttpResponse:
        """The error answer to a request refused before dispatch (a body that cannot be read),
        in the shape of the service it was addressed to."""
        try:
            r = route(req, self.services)
            service, wire = r.service, r.wire
        except Exception:
            service, wire = "s3", None
        request_id = ids.s3_request_id() if service == "s3" else ids.request_id()
        return self._error(err, service, req, request_id, wire)

    def _prepare(self, req: HttpRequest, r: Route, request_id: str) -> _Prepared:
        """Authenticate, find the handler, parse and validate: everything before the handler."""
        service_id = specs.service_id(r.service)
        access_key = None
        if self.settings.auth:
            access_key = _verify(req, self.settings.keys, self.clock.time(), r.service)
        if r.operation is None:
            raise _no_operation(r.service, req)
        model = specs.wire_model(r.service, r.wire)
        op = model.operation_model(r.operation)
        protocol = model.metadata["protocol"]
        codec = protocols.for_service(protocol)
        handler = self.handlers[r.service].get(r.operation)
        if handler is None:
            raise not_implemented(service_id, r.operation)
        if req.body_stream is not None and not op.has_streaming_input:
            req.body, req.body_stream = req.body_stream.read(), None
        invalid = protocols.validation_code(r.service, protocol)
        try:
            params = codec.parse_request(op, req, r.path_params)
        except AwsError as err:
            if err.code == "ValidationException":
                err.code = invalid
            raise
        validate(op.input_shape, params, invalid)
        scope = r.scope
        ctx = RequestContext(
            service_name=r.service,
            operation=r.operation,
            region=(scope.region if scope and scope.region else self.settings.default_region),
            account_id=self.settings.account_id,
            request_id=request_id,
            access_key_id=access_key or (scope.access_key_id if scope else None),
            service=self.domains.get(r.service),
            headers=req.headers,
            host=req.host,
        )
        return _Prepared(op, codec, handler, ctx, params)

    def _respond(self, prepared: _Prepared, output: dict[str, Any] | None) -> HttpResponse:
        ctx = prepared.ctx
        if prepared.op.has_event_stream_output:
            resp = eventstream.respond(prepared.op, output or {}, ctx.request_id, self.streams)
        else:
            resp = prepared.codec.serialize_response(prepared.op, output or {}, ctx.request_id)
        if ctx.response_status is not None:
            resp.status_code = ctx.response_status
        resp.headers.update(ctx.response_headers)
        _check_header_values(resp, ctx.service_name)
        return resp

    def _error(
        self,
        err: AwsError,
        service: str,
        req: HttpRequest,
        request_id: str,
        wire: str | None = None,
    ) -> HttpResponse:
        model = specs.wire_model(service, wire)
        codec = protocols.for_service(model.metadata["protocol"])
        return codec.serialize_error(err, model, request_id, req.method)


def _await(awaitable: Any) -> Any:
    """The result of a coroutine handler reached from a thread: on the gateway's event loop
    when the thread is one of its workers, else on a loop of its own."""

    async def wait() -> Any:
        return await awaitable

    loop = calling_loop()
    if loop is not None:  # one of the dispatcher's worker threads
        return asyncio.run_coroutine_threadsafe(wait(), loop).result()
    try:
        return anyio.from_thread.run(wait)
    except RuntimeError:  # not an event loop's worker thread
        return asyncio.run(wait())


# The query services (STS) name the same authentication failures differently.
QUERY_AUTH_CODES = {
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
}


def _verify(req: HttpRequest, keys: Mapping[str, str], now: float, service: str) -> str:
    try:
        return verify(req, keys, now, s3=service == "s3")
    except AwsError as err:
        if specs.protocol(service) == "query" and err.code in QUERY_AUTH_CODES:
            err.code = QUERY_AUTH_CODES[err.code]
        raise


# What a header value cannot hold: anything past ISO-8859-1, line breaks and NUL.
_UNSENDABLE = re.compile("[^\\x00-\\xff]|[\\r\\n\\x00]")


def _check_header_values(resp: HttpResponse, service: str) -> None:
    """Refuse an answer whose header values HTTP cannot carry: ISO-8859-1 text without line
    breaks. They come from request values echoed back (S3's `response-content-disposition`),
    and S3 refuses those requests with this error rather than send a broken header."""
    for value in resp.headers.values():
        if _UNSENDABLE.search(value) is None:
            continue
        close = getattr(resp.stream, "close", None)
        if callable(close):
            close()
        code = "InvalidArgument" if service == "s3" else "ValidationException"
        raise AwsError(code, "Header value cannot be represented using ISO-8859-1.", 400)


def _no_operation(service: str, req: HttpRequest) -> AwsError:
    if service == "s3":
        return AwsError(
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            405,
            fields={"Method": req.method, "ResourceType": "OBJECT"},
        )
    if specs.protocol(service) == "query":
        return AwsError("InvalidAction", "The action or operation requested is invalid.", 400)
    return AwsError("UnknownOperationException", "The requested operation is not recognized.", 400)


def _internal(service: str) -> AwsError:
    if service == "s3":
        return AwsError("InternalError", "We encountered an internal error. Please try again.", 500)
    return AwsError(
        "InternalFailure", "The request processing has failed because of an unknown error.", 500
    )
