"""The Python runtime inside one Lambda execution environment: a warm worker process.

The pool (`lambda_pool`) starts this file as a script (`python -I -u lambda_worker.py <socket>`),
so the worker is a clean interpreter: only the standard library and the site-packages of the
interpreter (boto3, as Lambda's Python runtimes ship it) are importable, and nothing of the
server is loaded. The file therefore imports nothing from tule; the pool imports its framing
functions from here, so both sides share one definition of the protocol.

Protocol, over a Unix stream socket the pool listens on and the worker connects to: every
message is a frame of two big-endian u32 lengths, a UTF-8 JSON header of the first length and a
raw body of the second.

1. pool -> worker `{"sentinel": ...}`: the line the worker prints after every invocation, so
   the pool knows all output of that invocation has come through the shared stdout/stderr pipe.
2. The worker imports the handler (Lambda's Init phase), from `LAMBDA_TASK_ROOT` first on
   `sys.path`, and answers `{"init_ms": ...}` or `{"init_ms": ..., "error": {...}}` with the
   error document as body. After an init error the pool discards the worker, as Lambda does.
3. Then, per invocation: pool -> worker `{"request_id", "deadline_ms", "invoked_arn",
   "client_context"}` with the event as body; worker -> pool `{"status": "ok" | "error" |
   "oom", "max_rss_kb"}` with the JSON answer or the error document as body.

A `MemoryError` (the pool caps the data segment at the function's MemorySize) is answered as
`oom`, after which the worker exits: its heap may be in any state, and Lambda replaces an
environment that ran out of memory. A `SystemExit` from the handler ends the process, which
the pool reports as the runtime exiting, as Lambda does.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib
import json
import logging
import os
import resource
import socket
import struct
import sys
import time
import traceback
import types
from typing import Any

FRAME = struct.Struct(">II")
MAX_FRAME_BYTES = 64 * 1024 * 1024


def send_frame(sock: socket.socket, header: dict[str, Any], body: bytes = b"") -> None:
    """Write one frame."""
    head = json.dumps(header, separators=(",", ":")).encode()
    sock.sendall(FRAME.pack(len(head), len(body)) + head + body)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def recv_frame(sock: socket.socket) -> tuple[dict[str, Any], bytes] | None:
    """Read one frame; None when the other side has closed the connection."""
    sizes = _recv_exact(sock, FRAME.size)
    if sizes is None:
        return None
    head_len, body_len = FRAME.unpack(sizes)
    if head_len + body_len > MAX_FRAME_BYTES:
        raise ValueError("frame too large")
    head = _recv_exact(sock, head_len) if head_len else b"{}"
    body = _recv_exact(sock, body_len) if body_len else b""
    if head is None or body is None:
        return None
    return json.loads(head), body


class LambdaContext:
    """The `context` argument: what the Python runtime's context object offers."""

    def __init__(
        self, request_id: str, deadline_ms: int, invoked_arn: str, client_context: Any
    ) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, as in Lambda's own runtime (it is read from the environment there too).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = _client_context(client_context)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version}])"
        )


def _client_context(document: Any) -> Any:
    """The mobile client context an invoker sent (X-Amz-Client-Context), as attributes."""
    if not isinstance(document, dict):
        return None
    client = document.get("client")
    return types.SimpleNamespace(
        client=types.SimpleNamespace(**client) if isinstance(client, dict) else None,
        custom=document.get("custom"),
        env=document.get("env"),
    )


class _RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id, as the runtime's log format shows it."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_logging() -> _RequestIdFilter:
    # Lambda's Python runtime gives the root logger a handler in this format, so
    # `logging.getLogger().warning(...)` reaches the function's log stream.
    stamp = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(stamp)
    logging.getLogger().addHandler(handler)
    return stamp


def error_document(exc: BaseException, request_id: str | None, *, skip: int = 0) -> dict:
    """The error document Lambda's Python runtime returns for an exception."""
    tb = exc.__traceback__
    for _ in range(skip):  # the runtime's own frames are not the function's stack
        if tb is not None:
            tb = tb.tb_next
    doc: dict[str, Any] = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    if request_id is not None:
        doc["requestId"] = request_id
    doc["stackTrace"] = traceback.format_list(traceback.extract_tb(tb))
    return doc


def _fault(error_type: str, message: str) -> dict:
    return {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": []}


def load_handler(spec: str) -> tuple[Any, dict | None]:
    """The handler function named `module.function` (the module may be a path with `/`), or
    the error document Lambda's runtime gives when it cannot be loaded."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        return None, _fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        return None, _fault("Runtime.ImportModuleError", message)
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_name}': {exc}"
        return None, _fault("Runtime.UserCodeSyntaxError", message)
    except Exception as exc:
        return None, error_document(exc, None, skip=1)
    function = getattr(module, function_name, None)
    if function is None:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return None, _fault("Runtime.HandlerNotFound", message)
    return function, None


def _to_json(value: Any) -> bytes:
    def extra(obj: Any) -> Any:
        # The runtime's encoder also writes Decimals (DynamoDB's numbers), as numbers.
        if isinstance(obj, decimal.Decimal):
            return int(obj) if obj == obj.to_integral_value() else float(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=extra).encode()


def _max_rss_kb() -> int:
    """Peak resident memory of this process. VmHWM belongs to the address space, so it starts
    afresh at exec; ru_maxrss would still count the server this process was forked from."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _invoke(
    handler: Any, header: dict[str, Any], body: bytes, stamp: _RequestIdFilter
) -> tuple[str, bytes]:
    request_id = header["request_id"]
    stamp.request_id = request_id
    context = LambdaContext(
        request_id, int(header["deadline_ms"]), header["invoked_arn"], header.get("client_context")
    )
    try:
        event = json.loads(body) if body.strip() else {}
        result = handler(event, context)
    except MemoryError:
        return "oom", b""
    except Exception as exc:
        return "error", _to_json(error_document(exc, request_id, skip=1))
    try:
        return "ok", _to_json(result)
    except (TypeError, ValueError) as exc:
        doc = _fault("Runtime.MarshalError", f"Unable to marshal response: {exc}")
        doc["requestId"] = request_id
        return "error", _to_json(doc)
    except MemoryError:
        return "oom", b""


def _flush_output(sentinel: bytes) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # the function may have replaced or closed them
            stream.flush()
    os.write(1, sentinel)


def main(socket_path: str) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    first = recv_frame(sock)
    if first is None:
        return 0
    sentinel = (first[0]["sentinel"] + "\n").encode()
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    stamp = _install_logging()
    started = time.monotonic()
    handler, error = load_handler(os.environ.get("_HANDLER", ""))
    init_ms = (time.monotonic() - started) * 1000
    _flush_output(sentinel)
    if error is not None:
        send_frame(sock, {"init_ms": init_ms, "error": True}, _to_json(error))
        return 0
    send_frame(sock, {"init_ms": init_ms})
    while True:
        frame = recv_frame(sock)
        if frame is None:
            return 0
        status, answer = _invoke(handler, frame[0], frame[1], stamp)
        _flush_output(sentinel)
        send_frame(sock, {"status": status, "max_rss_kb": _max_rss_kb()}, answer)
        if status == "oom":
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
