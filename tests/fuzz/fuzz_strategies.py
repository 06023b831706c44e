"""Hypothesis strategies for malformed AWS requests, shared by the fuzz properties.

Every strategy yields a `RawRequest`: the request as a client could put it on the wire (raw,
still percent-encoded path and query; header pairs in order, duplicates kept; body bytes). It
turns into the gateway's `HttpRequest` exactly as the ASGI layer builds one, or into HTTP/1.1
bytes for the tests that go through uvicorn. The nastiness comes from `fuzz_values` (short
lists of inputs that have broken real servers), mixed with shape-aware documents built from
botocore's own models, so the parsers get past their first check and are exercised member by
member.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

from botocore.model import Shape
from fuzz_values import (
    BAD_ESCAPES,
    BASELINE_STRINGS,
    CHECKSUM_HEADERS,
    DTD_ATTACKS,
    JSON_VALUES_BY_TYPE,
    METHODS,
    NASTY_BASE64,
    NASTY_DATES,
    NASTY_NUMBERS_TEXT,
    NASTY_STRINGS,
    ODD_AUTHORIZATION,
    ODD_HOSTS,
    ODD_METHODS,
    ODD_QUERIES,
    ODD_RANGES,
    PATH_TRICKS,
    QUERY_KEYS,
    RAW_JSON_BODIES,
    RAW_XML_BODIES,
    S3_REQUESTS,
    S3_XML_OPERATIONS,
    TEXT_VALUES_BY_TYPE,
    TIME_HEADERS,
    XML_TRICKS,
    deep_json,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tule.aws import specs
from tule.aws.http import HttpRequest

# --- the request value -------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRequest:
    """One request as sent: header names keep their case, duplicates are kept in order."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header_names(self) -> set[str]:
        return {k.lower() for k, _ in self.headers}

    def to_http_request(self, host: str = "127.0.0.1:4566") -> HttpRequest:
        """The `HttpRequest` the gateway builds: lower-case names, the last duplicate wins,
        text as received (bytes read as latin-1)."""
        headers = {} if "host" in self.header_names() else {"host": host}
        for name, value in self.headers:
            headers[_received(name).lower()] = _received(value)
        if self.body and "content-length" not in headers:
            headers["content-length"] = str(len(self.body))
        path, query = _received(self.path), _received(self.query)
        return HttpRequest(self.method, path, query, headers, self.body)

    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")

    def to_wire(self, host: str) -> bytes:
        """HTTP/1.1 bytes, one request per connection; Content-Length added unless given."""
        lines = [f"{self.method} {self.target()} HTTP/1.1"]
        names = self.header_names()
        if "host" not in names:
            lines.append(f"Host: {host}")
        if "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {len(self.body)}")
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        lines.append("Connection: close")
        return ("\r\n".join(map(_received, lines)) + "\r\n\r\n").encode("latin-1") + self.body


def _received(text: str) -> str:
    """Text as the gateway receives it: what a client sends as UTF-8, read back as latin-1."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("latin-1")
    return text


# --- settings ----------------------------------------------------------------------------------


# A longer hunt on demand: TULE_FUZZ_SCALE=10 runs ten times the examples, and
# TULE_FUZZ_RANDOM=1 draws fresh ones on every run instead of CI's fixed set.
SCALE = int(os.environ.get("TULE_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("TULE_FUZZ_RANDOM", "") not in ("", "0")


def fuzz_settings(max_examples: int) -> settings:
    """Deterministic (CI runs the same examples every time) and free of timing health checks."""
    return settings(
        max_examples=max_examples * SCALE,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
            HealthCheck.large_base_example,
        ],
    )


# --- which operations ---------------------------------------------------------------------------

# The (service, operation) pairs a property aims at: those the served app implements, so the
# requests get past 501 into the service; None aims at every operation in the models.
Operations = frozenset[tuple[str, str]] | None


def _only(cases: tuple[tuple, ...], operations: Operations) -> tuple[tuple, ...]:
    """The cases (each starting with service, operation) of the given operations; all of them
    when none is given or none matches (nothing implemented yet: they all answer 501)."""
    if operations is None:
        return cases
    return tuple(case for case in cases if case[:2] in operations) or cases


def _only_grouped(groups: dict[Any, tuple], operations: Operations) -> dict[Any, tuple]:
    if operations is None:
        return groups
    kept = {k: tuple(c for c in v if c[:2] in operations) for k, v in groups.items()}
    return {k: v for k, v in kept.items() if v} or groups


# --- building blocks ---------------------------------------------------------------------------


# Those still on the `json` protocol in the installed botocore (Athena became rest-json in
# botocore 1.44.1x).
JSON_SERVICES = tuple(
    s
    for s in ("sagemaker", "kinesis", "logs", "glue", "athena", "firehose")
    if specs.protocol(s) == "json"
)

# Latin-1 text as headers arrive (the gateway decodes header bytes as latin-1), minus the bytes
# HTTP cannot carry inside a header value at all.
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)


def _s3_header_pairs() -> st.SearchStrategy[tuple[str, str]]:
    return st.one_of(
        st.tuples(st.sampled_from(TIME_HEADERS), st.sampled_from(NASTY_DATES)),
        st.tuples(st.just("range"), st.sampled_from(ODD_RANGES)),
        st.tuples(st.sampled_from(CHECKSUM_HEADERS), st.sampled_from(NASTY_BASE64)),
        st.tuples(
            st.sampled_from(("x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm")),
            st.sampled_from(("MD5", "bogus", "", "crc32", "SHA256", "CRC32\x00")),
        ),
        st.tuples(
            st.just("content-md5"), st.sampled_from((*NASTY_BASE64, "1B2M2Y8AsgTpgAmY7PhCfg=="))
        ),
        st.tuples(
            st.just("x-amz-content-sha256"),
            st.sampled_from(
                (
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                    "UNSIGNED-PAYLOAD",
                    "z" * 64,
                    "0" * 64,
                    "",
                )
            ),
        ),
        st.tuples(
            st.just("content-encoding"), st.sampled_from(("aws-chunked", "gzip,aws-chunked"))
        ),
        st.tuples(st.just("x-amz-decoded-content-length"), st.sampled_from(NASTY_NUMBERS_TEXT)),
        st.tuples(
            st.sampled_from(("x-amz-copy-source", "x-amz-copy-source-range")),
            st.sampled_from((*BAD_ESCAPES, "/", "b", "/b/../../etc/passwd", "b/k?versionId=%ff")),
        ),
        st.tuples(st.just("x-amz-tagging"), st.sampled_from(("a=%zz&&=", "=", "&", "k=v" * 200))),
        st.tuples(
            st.sampled_from(
                (
                    "x-amz-acl",
                    "x-amz-storage-class",
                    "x-amz-server-side-encryption",
                    "x-amz-metadata-directive",
                    "x-amz-object-lock-mode",
                    "x-amz-expected-bucket-owner",
                    "x-amz-request-payer",
                    "x-amz-bucket-object-lock-enabled",
                    "x-amz-mfa",
                    "x-amz-max-parts",
                    "x-amz-part-number-marker",
                    "x-amz-object-attributes",
                    "x-amz-write-offset-bytes",
                    "if-match",
                    "if-none-match",
                    "content-type",
                    "cache-control",
                    "content-disposition",
                    "x-amz-meta-é",
                    "x-amz-meta-",
                )
            ),
            st.one_of(st.sampled_from(NASTY_STRINGS[:13] + NASTY_NUMBERS_TEXT), HEADER_TEXT),
        ),
    )


def odd_header_pairs() -> st.SearchStrategy[tuple[str, str]]:
    """Single odd headers: S3's typed headers with bad values, auth junk, huge and latin-1 text."""
    return st.one_of(
        _s3_header_pairs(),
        st.tuples(st.just("authorization"), st.sampled_from(ODD_AUTHORIZATION)),
        st.tuples(st.just("x-amz-target"), st.sampled_from(bad_targets())),
        st.tuples(
            st.sampled_from(("x-odd", "user-agent", "x-amz-meta-big", "content-type")),
            st.integers(1000, 60_000).map(lambda n: "v" * n),
        ),
        st.tuples(st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20), HEADER_TEXT),
    )


@cache
def bad_targets() -> tuple[str, ...]:
    prefixes = [specs.service_model(s).metadata["targetPrefix"] for s in JSON_SERVICES]
    return (
        "",
        ".",
        "SageMaker",
        "SageMaker.",
        "SageMaker.NoSuchOperation",
        "SageMaker.createTrainingJob",
        "SageMaker.CreateTrainingJob.Extra",
        "sagemaker.ListTrainingJobs",
        "Kinesis_20131202.ListStreams\x00",
        "Logs_20140328.%2e%2e",
        "AWSGlue..",
        "AmazonAthena." + "A" * 5000,
        "Firehose_20150804.PutRecord ",
        "NoSuchService_20990101.Op",
        "AWSSecurityTokenServiceV20110615.GetCallerIdentity",
        "DynamoDB_20120810.ListTables",
        "é.é",
        *(p + "." for p in prefixes),
        *(p + ".__init__" for p in prefixes),
    )


@cache
def json_operations() -> tuple[tuple[str, str], ...]:
    """(service, operation) for every operation of the JSON services fuzzed here."""
    return tuple(
        (service, op)
        for service in JSON_SERVICES
        for op in specs.service_model(service).operation_names
    )


def target_of(service: str, operation: str) -> str:
    return f"{specs.service_model(service).metadata['targetPrefix']}.{operation}"


# --- JSON bodies -------------------------------------------------------------------------------

# JSON values of every type, so that whatever type a member wants, most draws are wrong.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from((2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30, 10**400)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from((1e308, -1e308, 5e-324)),
    st.text(max_size=20),
    st.sampled_from(NASTY_STRINGS + NASTY_BASE64 + NASTY_DATES),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


@cache
def json_documents_for(service: str, operation: str) -> st.SearchStrategy[bytes]:
    """Bodies for one JSON operation: the input's members with values of the wrong type or
    size, nested garbage, raw non-JSON, non-objects, huge numbers and invalid UTF-8."""
    shape = specs.operation_model(service, operation).input_shape
    names = sorted(shape.members) if shape is not None else []
    member_names = st.sampled_from(names) if names else st.text(max_size=8)
    return st.one_of(
        st.dictionaries(member_names, json_values, max_size=6).map(_dumps),
        _shaped_json(shape).map(_dumps) if shape is not None else st.just(b"{}"),
        st.sampled_from(RAW_JSON_BODIES),
        json_values.filter(lambda v: not isinstance(v, dict)).map(_dumps),
        st.tuples(
            st.sampled_from((50, 1000, 100_000)), st.sampled_from(("array", "object", "open"))
        ).map(lambda a: deep_json(*a)),
        st.tuples(member_names, st.sampled_from((1000, 100_000))).map(
            lambda a: b'{"%s": ' % a[0].encode() + deep_json(a[1], "array") + b"}"
        ),
        st.binary(max_size=64),
    )


def _shaped_json(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """A document with the shape's layout but nasty leaves (right type or not)."""
    t = shape.type_name
    if depth > 3:
        return json_scalars
    if t == "structure":
        members = {name: _shaped_json(member, depth + 1) for name, member in shape.members.items()}
        if not members:
            return st.just({})
        return st.fixed_dictionaries({}, optional=members)
    if t == "list":
        return st.lists(_shaped_json(shape.member, depth + 1), max_size=3)
    if t == "map":
        return st.dictionaries(
            st.sampled_from(NASTY_STRINGS), _shaped_json(shape.value, depth + 1), max_size=3
        )
    if t == "blob":
        return st.one_of(st.sampled_from(NASTY_BASE64), json_scalars)
    if t == "timestamp":
        return st.one_of(
            st.sampled_from(NASTY_DATES),
            st.sampled_from((1e300, -1e300, 10**20, 2**63, 10**400, 0, -1, 253402300800)),
            json_scalars,
        )
    if t in ("integer", "long", "float", "double"):
        return st.one_of(
            st.sampled_from((2**31, 2**63, 10**400, -(10**400), 1e308, -1e308, 0.5)), json_scalars
        )
    return json_scalars


@cache
def json_requests(operations: Operations = None) -> st.SearchStrategy[RawRequest]:
    """POST / with a valid X-Amz-Target of a JSON service and a malformed body (for the given
    operations only, when given)."""

    def build(args: tuple[str, str]) -> st.SearchStrategy[RawRequest]:
        service, op = args
        version = specs.service_model(service).metadata.get("jsonVersion", "1.1")
        ctype = st.sampled_from(
            (f"application/x-amz-json-{version}", "application/json", "text/plain", "")
        )
        return st.builds(
            lambda body, c: RawRequest(
                "POST",
                "/",
                "",
                (("X-Amz-Target", target_of(service, op)), ("Content-Type", c)),
                body,
            ),
            json_documents_for(service, op),
            ctype,
        )

    return st.sampled_from(_only(json_operations(), operations)).flatmap(build)


def bad_target_requests() -> st.SearchStrategy[RawRequest]:
    """Unknown or malformed X-Amz-Target values, on any method, with any small body."""
    return st.builds(
        lambda target, method, body: RawRequest(
            method,
            "/",
            "",
            (("X-Amz-Target", target), ("Content-Type", "application/x-amz-json-1.1")),
            body,
        ),
        st.one_of(st.sampled_from(bad_targets()), HEADER_TEXT.map(lambda s: "SageMaker." + s)),
        st.sampled_from(METHODS),
        st.sampled_from((b"", b"{}", b"[", b'{"a":1}')),
    )


# --- S3 XML bodies -----------------------------------------------------------------------------


XML_SCALARS = st.one_of(
    st.sampled_from(NASTY_NUMBERS_TEXT + NASTY_DATES + NASTY_BASE64),
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=12),
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _shaped_xml(shape: Shape, tag: str, depth: int = 0) -> st.SearchStrategy[str]:
    """An element with the shape's layout and nasty text in its leaves."""
    t = shape.type_name
    if depth > 3 or t not in ("structure", "list", "map"):
        typed = st.sampled_from(TEXT_VALUES_BY_TYPE.get(t, NASTY_STRINGS))
        return st.one_of(typed, XML_SCALARS).map(lambda s: f"<{tag}>{_escape(s)}</{tag}>")
    if t == "structure":
        # A few children drawn from the members (any order, repeats allowed): cheaper to draw
        # than every member at once, and order and repetition are themselves worth fuzzing.
        children = []
        for name, member in shape.members.items():
            if member.serialization.get("location") or member.serialization.get("xmlAttribute"):
                continue
            sub_tag = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                sub_tag = member.member.serialization.get("name", sub_tag)
                children.append(_shaped_xml(member.member, sub_tag, depth + 1))
            else:
                children.append(_shaped_xml(member, sub_tag, depth + 1))
        if not children:
            return st.just(f"<{tag}/>")
        return st.lists(st.one_of(children), max_size=4).map(
            lambda parts: f"<{tag}>{''.join(parts)}</{tag}>"
        )
    if t == "list":
        inner = shape.member.serialization.get("name", "member")
        return st.lists(_shaped_xml(shape.member, inner, depth + 1), max_size=3).map(
            lambda items: f"<{tag}>{''.join(items)}</{tag}>"
        )
    return st.lists(st.tuples(XML_SCALARS, XML_SCALARS), max_size=2).map(
        lambda kvs: (
            f"<{tag}>"
            + "".join(
                f"<entry><key>{_escape(k)}</key><value>{_escape(v)}</value></entry>" for k, v in kvs
            )
            + f"</{tag}>"
        )
    )


@cache
def xml_documents_for(operation: str) -> st.SearchStrategy[bytes]:
    """Bodies for one S3 operation's XML payload: shape-aware nasty documents, broken XML,
    entity-expansion and external-entity attempts, random bytes."""
    shape = specs.operation_model("s3", operation).input_shape
    payload = shape.serialization["payload"]
    member = shape.members[payload]
    root = member.serialization.get("name", payload)
    namespaced = st.sampled_from(("", ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'))
    shaped = st.tuples(_shaped_xml(member, root), namespaced).map(
        lambda a: a[0].replace(f"<{root}>", f"<{root}{a[1]}>", 1).encode()
    )
    return st.one_of(
        shaped,
        shaped.map(lambda b: b[: len(b) // 2]),
        st.sampled_from(DTD_ATTACKS + XML_TRICKS),
        st.sampled_from(RAW_XML_BODIES),
        st.binary(max_size=64),
    )


def s3_names() -> st.SearchStrategy[tuple[str, str]]:
    """(bucket, key) path segments, already as they appear in a raw path."""
    bucket = st.one_of(
        st.just("fuzz-bucket"),
        st.sampled_from(
            ("..", ".", "a", "Bad_Name", "b" * 70, "%2e%2e", "x%00y", "é", "127.0.0.1")
        ),
    )
    key = st.one_of(
        st.just("key.txt"),
        st.sampled_from(("../../etc/passwd", "%2e%2e/%2e%2e/x", "a/../../b", "k" * 1100, "%ff")),
        st.text(max_size=20).map(lambda s: quote(s, safe="/")),
    )
    return st.tuples(bucket, key)


def s3_xml_requests() -> st.SearchStrategy[RawRequest]:
    """S3 operations that carry XML configuration, with malformed or hostile documents."""

    def build(entry: tuple[str, str, str, str]) -> st.SearchStrategy[RawRequest]:
        method, template, query, op = entry
        return st.builds(
            lambda names, body, extra: RawRequest(
                method,
                template.format(bucket=names[0], key=names[1]),
                query,
                (("Content-Type", "application/xml"), *extra),
                body,
            ),
            s3_names(),
            xml_documents_for(op),
            st.lists(
                st.one_of(
                    st.tuples(st.just("Content-MD5"), st.sampled_from(NASTY_BASE64)),
                    _s3_header_pairs(),
                ),
                max_size=2,
            ),
        )

    return st.sampled_from(S3_XML_OPERATIONS).flatmap(build)


# --- S3 requests with odd headers, encodings and paths -----------------------------------------


def odd_header_requests() -> st.SearchStrategy[RawRequest]:
    """Common S3 requests carrying 1-4 odd headers (duplicates allowed) and a small body."""
    return st.builds(
        lambda base, headers, body: RawRequest(base[0], base[1], base[2], tuple(headers), body),
        st.sampled_from(S3_REQUESTS),
        st.lists(odd_header_pairs(), min_size=1, max_size=4),
        st.sampled_from((b"", b"hello", b"0\r\n\r\n", b"zz;chunk-signature=x\r\n", b"5\r\nab")),
    )


def encoding_requests() -> st.SearchStrategy[RawRequest]:
    """Bad percent-encoding in path segments and query strings, on every method."""
    segment = st.lists(
        st.one_of(st.sampled_from(BAD_ESCAPES), st.sampled_from(("k", "a.b", "..", "."))),
        min_size=1,
        max_size=3,
    ).map("".join)
    path = st.lists(segment, min_size=1, max_size=3).map(lambda segs: "/" + "/".join(segs))
    query = st.one_of(
        st.just(""),
        st.sampled_from(ODD_QUERIES),
        st.lists(st.tuples(segment, segment), max_size=3).map(
            lambda kv: "&".join(f"{k}={v}" for k, v in kv)
        ),
    )
    return st.builds(RawRequest, st.sampled_from(METHODS), path, query)


def path_requests() -> st.SearchStrategy[RawRequest]:
    """Traversal, doubled slashes, backslashes, over-long keys and control characters."""
    control_key = st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=5).map(
        lambda s: "/fuzz-bucket/k" + quote(s, safe="")
    )
    return st.builds(
        RawRequest,
        st.sampled_from(METHODS),
        st.one_of(st.sampled_from(PATH_TRICKS), control_key),
        st.sampled_from(("", "tagging", "uploads", "list-type=2", "uploadId=u&partNumber=1")),
        st.just(()),
        st.sampled_from((b"", b"data")),
    )


def host_requests() -> st.SearchStrategy[RawRequest]:
    """Virtual-host-style Host headers with odd values, against paths that would be keys."""
    return st.builds(
        lambda host, method, path: RawRequest(method, path, "", (("Host", host),)),
        st.one_of(st.sampled_from(ODD_HOSTS), HEADER_TEXT),
        st.sampled_from(METHODS),
        st.sampled_from(("/", "/key", "/../x", "//", "/%2e%2e/x")),
    )


def method_requests() -> st.SearchStrategy[RawRequest]:
    """Every HTTP method (and a few odd ones) against every kind of endpoint tule routes."""
    endpoint = st.sampled_from(
        (
            ("/", "", ()),
            ("/", "", (("X-Amz-Target", "SageMaker.ListTrainingJobs"),)),
            ("/", "", (("X-Amz-Target", "Logs_20140328.DescribeLogGroups"),)),
            ("/", "Action=GetCallerIdentity&Version=2011-06-15", ()),
            ("/endpoints/ep/invocations", "", ()),
            ("/2015-03-31/functions", "", ()),
            ("/2015-03-31/functions/f/invocations", "", ()),
            ("/fuzz-bucket", "", ()),
            ("/fuzz-bucket/key", "", ()),
            ("/fuzz-bucket", "uploads", ()),
            ("/_tule/health", "", ()),
        )
    )
    return st.builds(
        lambda method, ep, body: RawRequest(method, ep[0], ep[1], ep[2], body),
        st.sampled_from(METHODS + ODD_METHODS),
        endpoint,
        st.sampled_from((b"", b"{}", b"<x/>")),
    )


# --- query protocol ----------------------------------------------------------------------------


def query_requests() -> st.SearchStrategy[RawRequest]:
    """STS-style `Action=` requests (form body or GET query) with odd keys and values."""
    action = st.sampled_from(
        (*specs.service_model("sts").operation_names, "", "NoSuchAction", "getcalleridentity")
    )
    pairs = st.lists(
        st.tuples(
            st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=10)),
            st.one_of(st.sampled_from(NASTY_STRINGS + NASTY_NUMBERS_TEXT), st.text(max_size=10)),
        ),
        max_size=6,
    )

    def encode(pairs: list[tuple[str, str]], raw: bool) -> str:
        if raw:
            return "&".join(f"{k}={v}" for k, v in pairs)
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)

    def build(
        act: str, kv: list[tuple[str, str]], raw: bool, post: bool, tail: bytes
    ) -> RawRequest:
        text = encode([("Action", act), ("Version", "2011-06-15"), *kv], raw)
        if post:
            body = text.encode("utf-8", "surrogatepass") + tail
            form = ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
            return RawRequest("POST", "/", "", (form,), body)
        return RawRequest("GET", "/", quote(text, safe="=&%"), ())

    return st.builds(
        build,
        action,
        pairs,
        st.booleans(),
        st.booleans(),
        st.sampled_from((b"", b"&\xff\xfe", b"&Action=AssumeRole", b"&%zz", b"\x00")),
    )


# --- typed members, one at a time ---------------------------------------------------------------
#
# Drawing whole documents rarely lands a bad value on the one member of the one type that breaks
# a parser, so these strategies pick the member type first (timestamp, integer, blob, ...), then
# a member of that type anywhere in the served models, then a hostile value for that type.

SCALAR_TYPES = ("timestamp", "integer", "long", "float", "double", "boolean", "blob", "string")


def _json_paths(shape: Shape, depth: int = 0) -> list[tuple[tuple[str, ...], str]]:
    """(steps, leaf type) for scalar members up to three levels down; a step is a member
    name, `[]` (inside a list) or `{}` (inside a map)."""
    out: list[tuple[tuple[str, ...], str]] = []
    for name, member in shape.members.items():
        if member.serialization.get("location"):
            continue
        for steps, t in _member_paths(member, depth):
            out.append(((name, *steps), t))
    return out


def _member_paths(shape: Shape, depth: int) -> list[tuple[tuple[str, ...], str]]:
    t = shape.type_name
    if t in SCALAR_TYPES:
        return [((), t)]
    if depth >= 2:
        return []
    if t == "structure" and not getattr(shape, "is_document_type", False):
        return _json_paths(shape, depth + 1)
    if t == "list":
        return [(("[]", *s), lt) for s, lt in _member_paths(shape.member, depth + 1)]
    if t == "map":
        return [(("{}", *s), lt) for s, lt in _member_paths(shape.value, depth + 1)]
    return []


@cache
def typed_json_cases() -> dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]]:
    """Leaf type -> (service, operation, steps) for every JSON-bodied member of that type."""
    cases: dict[str, list[tuple[str, str, tuple[str, ...]]]] = defaultdict(list)
    for service in (*JSON_SERVICES, "lambda"):
        model = specs.service_model(service)
        for op in model.operation_names:
            shape = model.operation_model(op).input_shape
            if shape is None or shape.serialization.get("payload"):
                continue
            for steps, t in _json_paths(shape):
                cases[t].append((service, op, steps))
    return {t: tuple(v) for t, v in sorted(cases.items())}


def _set_path(doc: dict[str, Any], steps: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `doc` with `value` put at `steps`, replacing what was there."""
    if not steps:
        return value
    step, rest = steps[0], steps[1:]
    if step == "[]":
        inner = doc[0] if isinstance(doc, list) and doc and isinstance(doc[0], dict) else {}
        return [_set_path(inner, rest, value)]
    if step == "{}":
        return {"k": _set_path({}, rest, value)}
    out = dict(doc) if isinstance(doc, dict) else {}
    inner = out.get(step)
    out[step] = _set_path(inner if isinstance(inner, dict | list) else {}, rest, value)
    return out


@cache
def baseline_document(service: str, operation: str) -> dict[str, Any]:
    """The operation's required members with plain valid values (what a minimal request
    sends), so a single hostile member gets past "member must not be null"."""
    shape = specs.operation_model(service, operation).input_shape
    return _baseline(shape, 0) if shape is not None else {}


def _baseline(shape: Shape, depth: int) -> Any:
    t, meta = shape.type_name, shape.metadata
    if t == "structure":
        if depth > 4:
            return {}
        return {
            name: _baseline(shape.members[name], depth + 1)
            for name in shape.required_members
            if not shape.members[name].serialization.get("location")
        }
    if t == "list":
        return [_baseline(shape.member, depth + 1)] if meta.get("min", 0) > 0 else []
    if t == "map":
        return {}
    if t == "string":
        enum = getattr(shape, "enum", None)
        if enum:
            return enum[0]
        low, high = meta.get("min", 0), meta.get("max", 1 << 30)
        pattern = meta.get("pattern")
        for text in BASELINE_STRINGS:
            if low <= len(text) <= high and (pattern is None or _fullmatch(pattern, text)):
                return text
        return "a" * max(low, 1)
    if t in ("integer", "long"):
        return max(int(meta.get("min", 1)), 1) if meta.get("max", 1) >= 1 else int(meta["max"])
    if t in ("float", "double"):
        return float(meta.get("min", 1.0))
    if t == "boolean":
        return False
    if t == "timestamp":
        return 1_700_000_000
    if t == "blob":
        return "aGk="
    return None


def _fullmatch(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text, re.DOTALL) is not None
    except re.error:  # a Java-only regex; the gateway does not enforce it either
        return True


@cache
def typed_json_requests(operations: Operations = None) -> st.SearchStrategy[RawRequest]:
    """A JSON body whose one member, at any depth, holds a hostile value for its type."""

    def build(case: tuple[str, str, tuple[str, ...]], t: str) -> st.SearchStrategy[RawRequest]:
        service, op, steps = case
        values = st.one_of(st.sampled_from(JSON_VALUES_BY_TYPE[t]), json_scalars)
        # On top of a valid document, so the bad member is what the service has to deal with.
        return st.tuples(values, st.booleans()).map(
            lambda a: _json_request(
                service,
                op,
                _dumps(_set_path(baseline_document(service, op) if a[1] else {}, steps, a[0])),
            )
        )

    cases = _only_grouped(typed_json_cases(), operations)
    return st.sampled_from(sorted(cases)).flatmap(
        lambda t: st.sampled_from(cases[t]).flatmap(lambda case: build(case, t))
    )


def _json_request(service: str, op: str, body: bytes) -> RawRequest:
    if specs.protocol(service) == "json":
        headers = (("X-Amz-Target", target_of(service, op)), ("Content-Type", "application/json"))
        return RawRequest("POST", "/", "", headers, body)
    method, path, query, headers = request_template(service, op)
    return RawRequest(method, path, query, headers, body)


LABEL_VALUES = {"Bucket": "fuzz-bucket", "Key": "key.txt", "EndpointName": "ep"}


@cache
def request_template(service: str, op: str) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    """Method, raw path, query and headers that route to a REST operation: its URI with labels
    filled, its literal query keys, and plain values for its required query keys and headers."""
    model = specs.operation_model(service, op)
    path, _, literal = model.http["requestUri"].partition("?")
    path = _fill_labels(path)
    query = [literal] if literal else []
    headers: list[tuple[str, str]] = []
    shape = model.input_shape
    for name in shape.required_members if shape is not None else ():
        member = shape.members[name]
        wire = member.serialization.get("name", name)
        location = member.serialization.get("location")
        if location == "querystring":
            query.append(f"{wire}=1")
        elif location == "header":
            headers.append((wire, "1"))
    return model.http["method"], path, "&".join(query), tuple(headers)


def _fill_labels(uri_path: str, label: str | None = None, value: str = "") -> str:
    """A URI template's labels filled with plain values, or `value` for the named one."""

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        return value if name == label else LABEL_VALUES.get(name, "x1")

    return re.sub(r"\{([^}+]+)\+?\}", fill, uri_path)


def _header_text(text: str) -> str:
    """A header value as received, without the line breaks no header line can hold."""
    return _received(text).replace("\r", "").replace("\n", "")


@cache
def located_cases() -> dict[tuple[str, str], tuple[tuple[str, str, str, str], ...]]:
    """(location, type) -> (service, operation, member wire name, type) for the REST services'
    members bound to a header, a query key or a URI label."""
    cases: dict[tuple[str, str], list[tuple[str, str, str, str]]] = defaultdict(list)
    for service in ("s3", "lambda", "sagemaker-runtime"):
        model = specs.service_model(service)
        for op in model.operation_names:
            shape = model.operation_model(op).input_shape
            if shape is None:
                continue
            for name, member in shape.members.items():
                location = member.serialization.get("location")
                if location not in ("header", "headers", "querystring", "uri"):
                    continue
                t = member.type_name
                wire = member.serialization.get("name", name)
                cases[(location, t)].append((service, op, wire, t))
    return {k: tuple(v) for k, v in sorted(cases.items())}


@cache
def located_member_requests(operations: Operations = None) -> st.SearchStrategy[RawRequest]:
    """A REST request whose one header, query value or URI label is hostile for its type."""

    def build(case: tuple[str, str, str, str], location: str) -> st.SearchStrategy[RawRequest]:
        service, op, wire, t = case
        method, path, query, headers = request_template(service, op)
        pool = TEXT_VALUES_BY_TYPE.get(t, NASTY_STRINGS)
        values = st.one_of(st.sampled_from(pool), st.sampled_from(BAD_ESCAPES), HEADER_TEXT)
        if location == "header":
            return values.map(
                lambda v: RawRequest(method, path, query, (*headers, (wire, _header_text(v))))
            )
        if location == "headers":
            return values.map(
                lambda v: RawRequest(
                    method, path, query, (*headers, (wire + "x" + _header_text(v)[:20], "v"))
                )
            )
        if location == "querystring":
            encoded = st.one_of(
                values.map(lambda v: quote(v, safe="")), st.sampled_from(BAD_ESCAPES)
            )
            return encoded.map(
                lambda v: RawRequest(
                    method, path, "&".join(filter(None, (query, f"{wire}={v}"))), headers
                )
            )
        uri_path = specs.operation_model(service, op).http["requestUri"].partition("?")[0]
        encoded = st.one_of(values.map(lambda v: quote(v, safe="/")), st.sampled_from(BAD_ESCAPES))
        return encoded.map(
            lambda v: RawRequest(method, _fill_labels(uri_path, wire, v), query, headers)
        )

    cases = _only_grouped(located_cases(), operations)
    return st.sampled_from(sorted(cases)).flatmap(
        lambda key: st.sampled_from(cases[key]).flatmap(lambda case: build(case, key[0]))
    )
