"""Deciding which service and operation a request is for, on one shared endpoint (spec §1.6).

Order: `X-Amz-Target` (JSON services, and the earlier JSON form of services botocore now
speaks in REST: `specs.wire_model`); the SageMaker Runtime invocation paths; Lambda's dated
paths; query-protocol `Action=` requests; everything else is S3, path style or virtual-host
style (`bucket.localhost:4566`). REST operations are matched on method, path template, the
literal query keys of their request URI and their required query/header members; the most
specific match wins (so `?uploads`, `?list-type=2` and `x-amz-copy-source` pick their
operations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import parse_qsl, quote

from tule.aws import specs
from tule.aws.auth import Credential, credential_scope
from tule.aws.http import HttpRequest

RUNTIME_PATH = re.compile(
    r"^/endpoints/[^/]+/(invocations|async-invocations|invocations-response-stream)$"
)
LAMBDA_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/")
IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
S3_AWS_HOST = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com$")


@dataclass
class Route:
    """Where a request goes. `operation` is None when no operation of the service matches.
    `scope` is the request's SigV4 credential scope, read once here for routing and kept for
    the dispatcher (region, access key)."""

    service: str
    operation: str | None
    path: str
    path_params: dict[str, str] = field(default_factory=dict)
    bucket_from_host: str | None = None
    scope: Credential | None = None
    # The protocol the request is written in, when routing decided it ("json" for every
    # `X-Amz-Target` request); None: the service model's own.
    wire: str | None = None


@dataclass(frozen=True)
class _Rule:
    operation: str
    method: str
    pattern: re.Pattern[str]
    literals: tuple[tuple[str, str | None], ...]
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    optional_query: frozenset[str]
    deprecated: bool
    # The template's text before its first label: a path not starting with it cannot match.
    prefix: str


@cache
def target_prefixes(services: tuple[str, ...]) -> dict[str, str]:
    """`X-Amz-Target` prefix -> service name, for the JSON services served and the earlier
    JSON form of the others."""
    out = {}
    for name in services:
        prefix = specs.service_model(name).metadata.get("targetPrefix")
        if prefix:
            out[prefix] = name
        if name in specs.EARLIER_JSON:
            out[specs.EARLIER_JSON[name][0]] = name
    return out


def _template_regex(template: str) -> re.Pattern[str]:
    parts, pos = [], 0
    for m in re.finditer(r"\{([^}]+)\}", template):
        parts.append(re.escape(template[pos : m.start()]))
        label = m.group(1)
        if label.endswith("+"):
            parts.append(f"(?P<{_group(label[:-1])}>.+)")
        else:
            parts.append(f"(?P<{_group(label)}>[^/]+)")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    body = "".join(parts)
    if template.endswith("}"):
        body += "/?"  # `/bucket/` addresses the bucket as `/bucket` does
    return re.compile(f"^{body}$")


def _group(label: str) -> str:
    return re.sub(r"\W", "_", label)


@cache
def rest_rules(service: str) -> tuple[_Rule, ...]:
    model = specs.service_model(service)
    rules = []
    for name in model.operation_names:
        op = model.operation_model(name)
        uri = op.http.get("requestUri", "/")
        path, _, qs = uri.partition("?")
        literals = tuple(
            (k, v if v != "" or "=" in part else None)
            for part in filter(None, qs.split("&"))
            for k, v in [tuple(part.split("=", 1)) if "=" in part else (part, "")]
        )
        req_q: list[str] = []
        req_h: list[str] = []
        opt_q: set[str] = set()
        shape = op.input_shape
        if shape is not None:
            for member, member_shape in shape.members.items():
                ser = member_shape.serialization
                required = member in shape.required_members
                if ser.get("location") == "querystring":
                    (req_q.append if required else opt_q.add)(ser.get("name", member))
                elif ser.get("location") == "header" and required:
                    req_h.append(ser.get("name", member).lower())
        rules.append(
            _Rule(
                name,
                op.http["method"],
                _template_regex(path),
                literals,
                tuple(req_q),
                tuple(req_h),
                frozenset(opt_q),
                bool(op.deprecated),
                path.split("{", 1)[0],
            )
        )
    return tuple(rules)


@dataclass(frozen=True)
class _Index:
    """The rules of one service and method, looked up by what a request shows without a
    regex: rules with no literal query key, and rules keyed by their first literal
    (`(key, value)` for `?list-type=2`, `(key, None)` for a bare `?uploads`)."""

    unkeyed: tuple[int, ...]
    keyed: dict[tuple[str, str | None], tuple[int, ...]]
    rules: tuple[_Rule, ...]


@cache
def _index(service: str, method: str) -> _Index:
    # Matching runs on every request: only the rules of its method are worth trying, and of
    # those only the ones whose literal query keys the request carries.
    rules = tuple(rule for rule in rest_rules(service) if rule.method == method)
    unkeyed: list[int] = []
    keyed: dict[tuple[str, str | None], list[int]] = {}
    for i, rule in enumerate(rules):
        if rule.literals:
            key, value = rule.literals[0]
            keyed.setdefault((key, value or None), []).append(i)
        else:
            unkeyed.append(i)
    return _Index(tuple(unkeyed), {k: tuple(v) for k, v in keyed.items()}, rules)


def _index_keys(index: _Index, query: dict[str, str]) -> frozenset[tuple[str, str | None]]:
    """The index keys a request's (first-valued) query pairs select."""
    keyed = index.keyed
    out = []
    for k, v in query.items():
        if (k, None) in keyed:
            out.append((k, None))
        if v and (k, v) in keyed:
            out.append((k, v))
    return frozenset(out)


@cache
def _candidates(
    service: str, method: str, keys: frozenset[tuple[str, str | None]]
) -> tuple[_Rule, ...]:
    """The rules that may match a request carrying these index keys, in the service model's
    order, so that the first of the best-scored stays the winner. The keys are drawn from
    the index's own, so this cache is bounded by what the models name."""
    index = _index(service, method)
    picked = set(index.unkeyed)
    for key in keys:
        picked.update(index.keyed[key])
    return tuple(index.rules[i] for i in sorted(picked))


@cache
def _label_names(service: str, operation: str) -> dict[str, str]:
    """Regex group name -> the URI label botocore names it with."""
    uri = specs.operation_model(service, operation).http.get("requestUri", "/")
    return {_group(lab.rstrip("+")): lab.rstrip("+") for lab in re.findall(r"\{([^}]+)\}", uri)}


def match_rest(service: str, req: HttpRequest, path: str) -> tuple[str | None, dict[str, str]]:
    """The best-matching operation of a REST service, and its raw URI labels.

    Tries only the candidates the index gives, and each distinct path template once; the
    winner is the one `match_rest_exhaustive` picks (a test holds them to it)."""
    query_keys: dict[str, str] = {}
    if req.query:
        for k, v in parse_qsl(req.query, keep_blank_values=True):
            query_keys.setdefault(k, v)
    index = _index(service, req.method)
    keys = _index_keys(index, query_keys) if query_keys else frozenset()
    headers = req.headers
    best: tuple[tuple[int, int, bool], _Rule, re.Match[str]] | None = None
    matched: dict[re.Pattern[str], re.Match[str] | None] = {}
    for rule in _candidates(service, req.method, keys):
        if not path.startswith(rule.prefix):
            continue
        if rule.literals and any(
            k not in query_keys or (v and query_keys[k] != v) for k, v in rule.literals
        ):
            continue
        if rule.required_query and any(q not in query_keys for q in rule.required_query):
            continue
        if rule.required_headers and any(h not in headers for h in rule.required_headers):
            continue
        score = _score(rule, query_keys)
        if best is not None and score <= best[0]:
            continue
        # Many operations share a template (`/{Bucket}`): each is matched once per request.
        if rule.pattern in matched:
            m = matched[rule.pattern]
        else:
            m = matched[rule.pattern] = rule.pattern.match(path)
        if m is not None:
            best = (score, rule, m)
    if best is None:
        return None, {}
    return best[1].operation, _labels(service, best[1], best[2])


def match_rest_exhaustive(
    service: str, req: HttpRequest, path: str
) -> tuple[str | None, dict[str, str]]:
    """The best-matching operation found by trying every rule of the service in order: the
    reference `match_rest` must agree with."""
    query_keys: dict[str, str] = {}
    for k, v in parse_qsl(req.query, keep_blank_values=True):
        query_keys.setdefault(k, v)
    best: tuple[tuple[int, int, bool], _Rule, re.Match[str]] | None = None
    for rule in rest_rules(service):
        if rule.method != req.method:
            continue
        m = rule.pattern.match(path)
        if m is None:
            continue
        if any(k not in query_keys or (v and query_keys[k] != v) for k, v in rule.literals):
            continue
        if any(q not in query_keys for q in rule.required_query):
            continue
        if any(h not in req.headers for h in rule.required_headers):
            continue
        score = _score(rule, query_keys)
        if best is None or score > best[0]:
            best = (score, rule, m)
    if best is None:
        return None, {}
    return best[1].operation, _labels(service, best[1], best[2])


def _score(rule: _Rule, query_keys: dict[str, str]) -> tuple[int, int, bool]:
    # The most specific match wins: literals, then required query keys and headers. Ties (same
    # method, path and required parts) go to the operation that binds more of the optional
    # query keys sent (ListDirectoryBuckets' `max-directory-buckets` against ListBuckets),
    # then to the current operation over its deprecated twin (GetBucketLifecycleConfiguration
    # over GetBucketLifecycle: the same wire request). Equal scores keep the first in the
    # model's order.
    return (
        10 * len(rule.literals) + len(rule.required_query) + len(rule.required_headers),
        len(rule.optional_query.intersection(query_keys)) if query_keys else 0,
        not rule.deprecated,
    )


def _labels(service: str, rule: _Rule, m: re.Match[str]) -> dict[str, str]:
    names = _label_names(service, rule.operation)
    return {names[g]: v for g, v in m.groupdict().items() if v is not None}


def virtual_host_bucket(host: str, base_hosts: frozenset[str] = frozenset()) -> str | None:
    """The bucket named by a virtual-host-style Host header, if any."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else ""
    if not name or IPV4.match(name):
        return None
    for base in ("localhost", *base_hosts):
        if name.endswith("." + base):
            return name[: -len(base) - 1] or None
    m = S3_AWS_HOST.match(name)
    return m.group("bucket") if m else None


def route(req: HttpRequest, services: tuple[str, ...]) -> Route:
    """Decide service and operation for a request."""
    scope = credential_scope(req)
    r = _route(req, services, scope)
    r.scope = scope
    return r


def _route(req: HttpRequest, services: tuple[str, ...], scope: Credential | None) -> Route:
    target = req.headers.get("x-amz-target")
    if target:
        prefix, _, op_name = target.partition(".")
        service = target_prefixes(services).get(prefix)
        if service is not None:
            model = specs.wire_model(service, "json")
            known = op_name if op_name in model.operation_names else None
            return Route(service, known, req.path, wire="json")
    scope_service = scope.service if scope else None
    if "sagemaker-runtime" in services and req.method == "POST" and RUNTIME_PATH.match(req.path):
        return _rest("sagemaker-runtime", req, req.path)
    if "lambda" in services and (scope_service == "lambda" or LAMBDA_PATH.match(req.path)):
        return _rest("lambda", req, req.path)
    if (
        scope_service in services
        and scope_service != "s3"
        and specs.protocol(scope_service) == "rest-json"
    ):
        # Other rest-json services (Athena since botocore 1.44.1x) share paths such as
        # `/workgroups` with bucket names, so only the signature's scope can claim them.
        return _rest(scope_service, req, req.path)
    if _is_query_action(req):
        service = scope_service if scope_service in services else "sts"
        if service in services and specs.protocol(service) == "query":
            action = _action(req)
            model = specs.service_model(service)
            return Route(service, action if action in model.operation_names else None, req.path)
    bucket = virtual_host_bucket(req.host)
    path = req.path
    if bucket is not None:
        # Encoded, so a Host label holding `/` or `%` stays one (invalid) bucket name instead of
        # being split into another bucket and a key prefix.
        path = "/" + quote(bucket, safe="") + ("" if req.path == "/" else req.path)
    r = _rest("s3", req, path)
    r.bucket_from_host = bucket
    return r


def _rest(service: str, req: HttpRequest, path: str) -> Route:
    op, params = match_rest(service, req, path)
    return Route(service, op, path, params)


def _is_query_action(req: HttpRequest) -> bool:
    ctype = req.headers.get("content-type", "")
    if req.method == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
        return b"Action=" in req.body
    return req.method == "GET" and "Action=" in req.query and req.path == "/"


def _action(req: HttpRequest) -> str:
    text = req.body.decode("utf-8", "replace") if req.method == "POST" else req.query
    for k, v in parse_qsl(text, keep_blank_values=True):
        if k == "Action":
            return v
    return ""
