"""The indexed REST router picks exactly the operation (and URI labels) that trying every rule
picks, for requests botocore builds for every operation of every served model, and for the
same requests bent the ways clients and attackers bend them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shape_examples import examples
from wire_support import SERVED, botocore_request, s3_client_headers, to_http_request

from tule.aws import specs
from tule.aws.http import HttpRequest
from tule.aws.routing import _candidates, match_rest, match_rest_exhaustive, rest_rules, route

REST_SERVICES = tuple(s for s in SERVED if specs.protocol(s) in ("rest-xml", "rest-json"))


def _requests(service: str) -> Iterator[tuple[str, HttpRequest]]:
    """Every operation's botocore-built requests (one per example variant)."""
    for operation in sorted(specs.service_model(service).operation_names):
        op = specs.operation_model(service, operation)
        variants = [("no input", {})] if op.input_shape is None else examples(op.input_shape)
        for label, params in variants:
            extra = s3_client_headers(op, params)[0] if service == "s3" else {}
            req = to_http_request(botocore_request(op, params, extra_headers=extra))
            yield f"{service}.{operation} ({label})", req


def _bent(req: HttpRequest) -> Iterator[tuple[str, HttpRequest]]:
    """The request as sent, then with its query dropped, an unknown key added, each literal
    key's value changed, a trailing slash, and under every other method."""
    yield "as sent", req
    if req.query:
        yield "no query", HttpRequest(req.method, req.path, "", req.headers)
        for i, pair in enumerate(req.query.split("&")):
            key = pair.partition("=")[0]
            pairs = req.query.split("&")
            pairs[i] = f"{key}=other"
            yield f"{key}=other", HttpRequest(req.method, req.path, "&".join(pairs), req.headers)
    yield "extra key", HttpRequest(req.method, req.path, req.query + "&zz-unknown", req.headers)
    yield "trailing slash", HttpRequest(req.method, req.path + "/", req.query, req.headers)
    for method in ("GET", "PUT", "POST", "DELETE", "HEAD"):
        if method != req.method:
            yield method, HttpRequest(method, req.path, req.query, req.headers)


def _disagreements(service: str) -> list[str]:
    out = []
    for where, sent in _requests(service):
        for how, req in _bent(sent):
            # Each request is also matched against every other REST service's rules, since
            # the router falls back from one to another (Lambda, S3).
            for target in REST_SERVICES:
                got = match_rest(target, req, req.path)
                want = match_rest_exhaustive(target, req, req.path)
                if got != want:
                    out.append(f"{where} [{how}] as {target}: {got} != {want}")
    return out


@pytest.mark.parametrize("service", SERVED)
def test_indexed_router_picks_the_exhaustive_matchers_operation(service: str) -> None:
    failures = _disagreements(service)
    assert not failures, "\n".join(failures[:20])


def test_routed_s3_requests_agree_with_the_exhaustive_matcher_on_the_routed_path() -> None:
    """Through `route` itself, path style and virtual-host style (the path is rebuilt)."""
    checked = 0
    for where, req in _requests("s3"):
        for host in ("127.0.0.1:4566", "mybucket.localhost:4566"):
            req.headers["host"] = host
            r = route(req, SERVED)
            if r.service != "s3":
                continue
            checked += 1
            assert (r.operation, r.path_params) == match_rest_exhaustive("s3", req, r.path), where
    assert checked > 2 * len(specs.service_model("s3").operation_names)


def test_route_keeps_the_signature_scope_it_read() -> None:
    op = specs.operation_model("s3", "GetObject")
    req = to_http_request(botocore_request(op, {"Bucket": "b", "Key": "k"}))
    r = route(req, SERVED)
    assert r.operation == "GetObject"
    assert r.scope is not None
    assert (r.scope.region, r.scope.service) == ("us-east-1", "s3")


def test_unsigned_request_routes_with_no_scope() -> None:
    r = route(HttpRequest("GET", "/b/k", "", {"host": "127.0.0.1:4566"}), SERVED)
    assert (r.operation, r.scope) == ("GetObject", None)


def test_a_plain_object_put_or_get_tries_only_a_few_rules() -> None:
    """The point of the index: S3 has ~40 PUT rules, but a PUT with no query key can only be
    one of the operations without literal query keys."""
    puts = [rule for rule in rest_rules("s3") if rule.method == "PUT"]
    plain_put = {rule.operation for rule in _candidates("s3", "PUT", frozenset())}
    assert len(puts) > 30
    assert plain_put == {"CopyObject", "CreateBucket", "PutObject", "UploadPart", "UploadPartCopy"}
    plain_get = {rule.operation for rule in _candidates("s3", "GET", frozenset())}
    assert "GetObject" in plain_get and len(plain_get) <= 6
    tagging = {rule.operation for rule in _candidates("s3", "PUT", frozenset({("tagging", None)}))}
    assert {"PutObjectTagging", "PutBucketTagging", "PutObject"} <= tagging
    assert "PutBucketPolicy" not in tagging
