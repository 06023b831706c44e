"""What every answer to a malformed request must look like, whatever the request was.

- no 5xx but the one tule may give on purpose: 501 `NotImplemented` (S3) or
  `NotImplementedException` (the others) for an operation it does not implement yet;
- a request id header (`x-amz-request-id` for S3, `x-amzn-RequestId` for the others);
- header names and values that HTTP can carry (latin-1, no CR/LF), so the ASGI layer can send them;
- for a 4xx/5xx, the error shape of the protocol the client expects (S3's `<Error><Code>` with
  `<RequestId>`, the JSON services' `{"__type", "message"}`, the query services'
  `<ErrorResponse>`), which botocore's own parser reads back to the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from botocore.parsers import create_parser

from tule.aws.http import HttpRequest, HttpResponse

NOT_IMPLEMENTED = {"NotImplemented", "NotImplementedException"}
S3_REQUEST_ID = "x-amz-request-id"
REQUEST_ID = "x-amzn-requestid"


@dataclass(frozen=True)
class Verdict:
    """What the checks learned about an answer: its protocol and, for errors, its code."""

    protocol: str
    code: str | None


def expected_protocol(req: HttpRequest, json_prefixes: dict[str, str]) -> str | None:
    """The protocol a client sending this request expects errors in, when that is certain."""
    target = req.headers.get("x-amz-target", "")
    prefix, dot, _ = target.partition(".")
    if dot and prefix in json_prefixes:
        # Only the JSON protocol names its operation in X-Amz-Target (a service botocore now
        # speaks in REST is answered in the JSON form it had: `specs.wire_model`).
        return "json"
    return None


def check_response(
    req: HttpRequest, resp: HttpResponse, json_prefixes: dict[str, str] | None = None
) -> Verdict:
    """Assert the answer is AWS-shaped (see the module docstring); returns what it found."""
    status = resp.status_code
    assert 100 <= status <= 599, f"status {status}"
    for name, value in resp.headers.items():
        for text in (name, value):
            assert _sendable(text), f"header {name!r} cannot be sent as is: {text[:80]!r}"
    headers = {k.lower(): v for k, v in resp.headers.items()}
    protocol = _protocol_of(headers)
    wanted = expected_protocol(req, json_prefixes or {})
    if wanted is not None:
        assert protocol == wanted, f"{protocol} answer to a {wanted} request"
    code = None
    if status >= 400:
        assert resp.stream is None, "an error is sent as one body"
        code = error_code(protocol, headers, resp.body, req.method, status)
        _check_with_botocore(protocol, headers, resp.body, status, code, req.method)
    if status >= 500:
        # A HEAD answer has no body to name its code; its status alone must say 501.
        allowed = code in NOT_IMPLEMENTED or (code is None and req.method == "HEAD")
        assert status == 501 and allowed, f"{status} {code}: {resp.body[:500]!r}"
    return Verdict(protocol, code)


def _sendable(text: object) -> bool:
    """Whether HTTP/1.1 can carry this as a header name or value: latin-1, no CR/LF/NUL (a
    line break would also let a request value inject a header of its own)."""
    if not isinstance(text, str) or any(c in text for c in "\r\n\x00"):
        return False
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _protocol_of(headers: dict[str, str]) -> str:
    if headers.get(S3_REQUEST_ID):
        return "rest-xml"
    assert headers.get(REQUEST_ID), f"no request id header in {sorted(headers)}"
    ctype = headers.get("content-type", "")
    if ctype.startswith("application/x-amz-json-"):
        return "json"
    if ctype.startswith("text/xml"):
        return "query"
    return "rest-json"


def error_code(
    protocol: str, headers: dict[str, str], body: bytes, method: str, status: int
) -> str | None:
    """The error code in the protocol's error shape, asserting that shape is there; None for a
    HEAD answer, which carries no body (S3 sends none, and HTTP drops any other's)."""
    if protocol == "rest-xml" and (method == "HEAD" or status == 304):
        assert not body, "S3 sends no body with a HEAD answer"
        return None
    if method == "HEAD" and not body:
        return None
    if protocol == "rest-xml":
        root = ET.fromstring(body)
        assert root.tag == "Error", root.tag
        code = root.findtext("Code")
        assert code, body
        assert root.findtext("Message") is not None, body
        assert root.findtext("RequestId") == headers[S3_REQUEST_ID], body
        return code
    if protocol == "query":
        root = ET.fromstring(body)
        assert root.tag.rsplit("}", 1)[-1] == "ErrorResponse", root.tag
        code = _find_local(root, "Code")
        assert code, body
        assert _find_local(root, "RequestId") == headers[REQUEST_ID], body
        return code
    doc = json.loads(body)
    assert isinstance(doc, dict), body
    assert isinstance(doc.get("message", doc.get("Message")), str), body
    if protocol == "json":
        assert isinstance(doc.get("__type"), str) and doc["__type"], body
        return doc["__type"]
    code = headers.get("x-amzn-errortype", "")
    assert code, "rest-json errors name their type in x-amzn-ErrorType"
    return code


def _find_local(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == name:
            return el.text
    return None


def _check_with_botocore(
    protocol: str, headers: dict[str, str], body: bytes, status: int, code: str | None, method: str
) -> None:
    """botocore, which every SDK-based client uses, must read the same code back."""
    if code is None:
        return
    parsed = create_parser(protocol).parse(
        {"status_code": status, "headers": headers, "body": body}, None
    )
    got = parsed.get("Error", {}).get("Code")
    assert got == code.split("#")[-1].split(":")[0], f"botocore read {got!r}, body says {code!r}"
