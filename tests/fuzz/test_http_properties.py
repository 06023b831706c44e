"""Malformed requests over a real socket to `TuleServer`: uvicorn's own parsing is in the path.

uvicorn may refuse invalid HTTP itself (a bare 400, no request id): that is fine. Whatever it
lets through must get tule's AWS-shaped answer, nothing may be logged as an error (no
tracebacks), and the server must keep answering afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from fuzz_checks import check_response
from fuzz_strategies import (
    RawRequest,
    encoding_requests,
    fuzz_settings,
    host_requests,
    json_requests,
    located_member_requests,
    method_requests,
    odd_header_requests,
    path_requests,
    query_requests,
    s3_xml_requests,
    typed_json_requests,
)
from hypothesis import given
from hypothesis import strategies as st

from tule.aws.gateway import HEALTH_PATH
from tule.aws.http import HttpResponse
from tule.aws.routing import target_prefixes
from tule.testing import TuleServer

# Statuses uvicorn answers by itself for requests it cannot parse (no request id header).
SERVER_REFUSALS = {400, 413, 414, 431}
WATCHED_LOGGERS = ("uvicorn", "uvicorn.error", "tule", "starlette")

# Hypothesis warns when it prints a huge drawn value (60 kB headers are the point here).
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class ErrorRecords(logging.Handler):
    """Collects error records (tracebacks included) from the server's loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        found = [f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        return found


@pytest.fixture(scope="module")
def errors() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, errors: ErrorRecords) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("fuzz-http") / "data", fsync=False) as srv:
        yield srv


def exchange(
    server: TuleServer, data: bytes, method: str = "GET", wait_s: float = 3.0
) -> Answer | None:
    """Send raw bytes on a fresh connection; the answer, or None if the server hung up without
    one. If nothing comes within `wait_s` (a body shorter than its Content-Length), the client
    stops sending, as a real one that gave up would."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait_s) as sock:
        # Refused before we finished sending? The answer may still be there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        try:
            sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            sock.shutdown(socket.SHUT_WR)
        except ConnectionResetError:
            return None
        resp = http.client.HTTPResponse(sock, method=method)
        try:
            resp.begin()
            body = resp.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, TimeoutError):
            return None
        except http.client.IncompleteRead as partial:
            raise AssertionError(f"truncated answer: {partial.partial[:200]!r}") from None
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return Answer(resp.status, headers, body)


def check_answer(server: TuleServer, raw: RawRequest, answer: Answer | None) -> None:
    if answer is None:
        return  # uvicorn dropped a request it could not read; that the server lives is checked
    assert answer.status < 500 or answer.status == 501, (answer.status, answer.body[:300])
    from_tule = "x-amz-request-id" in answer.headers or "x-amzn-requestid" in answer.headers
    if not from_tule:
        health = raw.method == "GET" and raw.path == HEALTH_PATH and answer.status == 200
        assert health or answer.status in SERVER_REFUSALS, (answer.status, answer.body[:300])
        return
    req = raw.to_http_request(f"127.0.0.1:{server.port}")
    resp = HttpResponse(answer.status, answer.headers, answer.body)
    check_response(req, resp, target_prefixes(server.app.dispatcher.services))


@pytest.fixture(scope="module")
def sts(server: TuleServer) -> Any:
    return server.client("sts")


def assert_still_serving(server: TuleServer, errors: ErrorRecords, sts: Any) -> None:
    assert errors.take() == []
    answer = exchange(server, b"GET /_tule/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer is not None and answer.status == 200
    assert sts.get_caller_identity()["Account"] == "000000000000"


def _wire_safe(raw: RawRequest) -> bool:
    # A request line cannot carry spaces or line breaks; such paths are sent to uvicorn in the
    # hand-written cases below instead.
    return not any(c in raw.target() for c in " \r\n") and raw.method.strip() == raw.method


@cache
def wire_requests(operations: frozenset[tuple[str, str]]) -> st.SearchStrategy[RawRequest]:
    """Every kind of malformed request the dispatch properties send, that a request line can
    carry; shape-aware ones aimed at the operations the server implements."""
    return st.one_of(
        json_requests(operations),
        typed_json_requests(operations),
        s3_xml_requests(),
        located_member_requests(operations),
        odd_header_requests(),
        encoding_requests(),
        path_requests(),
        host_requests(),
        method_requests(),
        query_requests(),
    ).filter(_wire_safe)


def implemented(server: TuleServer) -> frozenset[tuple[str, str]]:
    handlers = server.app.dispatcher.handlers
    return frozenset((service, op) for service, table in handlers.items() for op in table)


@fuzz_settings(120)
@given(data=st.data())
def test_fuzzed_requests_over_http_get_aws_answers(
    server: TuleServer, errors: ErrorRecords, data: st.DataObject
) -> None:
    raw = data.draw(wire_requests(implemented(server)))
    host = f"127.0.0.1:{server.port}"
    answer = exchange(server, raw.to_wire(host), raw.method)
    check_answer(server, raw, answer)
    assert errors.take() == [], raw


# Requests uvicorn must parse (or refuse) itself: broken request lines, framing and headers.
INVALID_HTTP: tuple[bytes, ...] = (
    b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    b"GET /%zz%%% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /bucket/%00%c0%af HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /bucket/\x01\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /bucket/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://evil.example/bucket/key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\r\n\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x00Name: v\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Ctl: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\nConnection: close\n\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nhello",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nhello",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nhello",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: \xc2\xb2\r\n\r\nhello",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nshort",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Encoding: aws-chunked\r\nContent-Length: 10\r\n"
    b"Connection: close\r\n\r\nzz;x=y\r\nab",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
    b"Content-Length: 7\r\nConnection: close\r\n\r\n5\r\nab\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Logs_20140328.DescribeLogGroups\r\n"
    b"Content-Encoding: aws-chunked\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: v\r\n" * 2000 + b"Connection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"v" * 200_000 + b"\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: \xff\xfe.localhost\r\nConnection: close\r\n\r\n",
    b"GET /_tule/health/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE AFTER THE REQUEST\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET /\r\n\r\n",
)


@pytest.mark.parametrize("data", INVALID_HTTP, ids=range(len(INVALID_HTTP)))
def test_invalid_http_is_refused_and_the_server_keeps_serving(
    server: TuleServer, errors: ErrorRecords, sts: Any, data: bytes
) -> None:
    method = data.split(b" ", 1)[0].decode("latin-1")
    check_answer(server, RawRequest(method, "/"), exchange(server, data, method, wait_s=1.0))
    assert_still_serving(server, errors, sts)


def test_server_still_serves_after_the_fuzzing(
    server: TuleServer, errors: ErrorRecords, sts: Any
) -> None:
    assert_still_serving(server, errors, sts)
