"""Malformed requests handed straight to `Dispatcher.handle` always get an AWS-shaped error.

Each property runs against two dispatchers:
- `served`: the real application (`create_app`), with whatever services tule implements today;
- `every-operation`: the same gateway with a handler that accepts anything on every operation of
  every routed service, so the protocol parsers and input validation are fuzzed for operations
  whose service is not written yet (an unimplemented operation answers 501 before parsing).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fuzz_checks import check_response
from fuzz_strategies import (
    RawRequest,
    bad_target_requests,
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
from fuzz_values import DTD_ATTACKS, S3_XML_OPERATIONS, XML_TRICKS
from hypothesis import given
from hypothesis import strategies as st

from tule.aws import specs
from tule.aws.dispatch import Dispatcher
from tule.aws.gateway import Gateway, create_app
from tule.aws.routing import route, target_prefixes
from tule.clock import ManualClock
from tule.config import Settings
from tule.context import RequestContext
from tule.services.registry import SERVICES as SERVICE_TABLE

# The resources the strategies name, so requests get past "no such bucket" into the service
# (where it is implemented; elsewhere these answer 501 and change nothing).
SERVICES = tuple(entry.name for entry in SERVICE_TABLE)

SEEDS = (
    RawRequest("PUT", "/fuzz-bucket"),
    RawRequest("PUT", "/fuzz-bucket/key.txt", "", (), b"hello"),
    RawRequest(
        "POST",
        "/",
        "",
        (("X-Amz-Target", "Logs_20140328.CreateLogGroup"),),
        b'{"logGroupName": "fuzz-group"}',
    ),
    RawRequest(
        "POST",
        "/",
        "",
        (("X-Amz-Target", "Logs_20140328.CreateLogStream"),),
        b'{"logGroupName": "fuzz-group", "logStreamName": "fuzz-group"}',
    ),
)

# Hypothesis warns when it prints a huge drawn value (60 kB headers are the point here).
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def _accept(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return {}


class Target:
    """A dispatcher under test: the operations it implements (None: every one) and the
    requests that restore the resources the strategies name before each example."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        operations: frozenset[tuple[str, str]] | None = None,
        seeds: tuple[RawRequest, ...] = (),
    ) -> None:
        self.dispatcher = dispatcher
        self.operations = operations
        self.seeds = seeds
        self.prefixes = target_prefixes(dispatcher.services)

    def check(self, raw: RawRequest) -> None:
        for seed in self.seeds:  # an earlier example may have deleted them
            self.dispatcher.handle(seed.to_http_request())
        req = raw.to_http_request()
        resp = self.dispatcher.handle(req)
        check_response(req, resp, self.prefixes)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data = tmp_path_factory.mktemp("fuzz-dispatch") / "data"
    gateway = create_app(Settings(data_dir=data, fsync=False), ManualClock())
    yield gateway
    gateway.close()


@pytest.fixture(scope="module", params=["served", "every-operation"])
def target(request: pytest.FixtureRequest, app: Gateway) -> Target:
    if request.param == "served":
        implemented = frozenset(
            (service, op) for service, table in app.dispatcher.handlers.items() for op in table
        )
        return Target(app.dispatcher, implemented, SEEDS)
    stubs = {
        name: dict.fromkeys(specs.service_model(name).operation_names, _accept)
        for name in app.dispatcher.services
    }
    settings = Settings(data_dir=Path(app.settings.data_dir), fsync=False)
    return Target(Dispatcher(settings, ManualClock(), stubs, {}))


@fuzz_settings(150)
@given(data=st.data())
def test_malformed_json_bodies_get_json_errors(target: Target, data: st.DataObject) -> None:
    target.check(data.draw(json_requests(target.operations)))


@fuzz_settings(150)
@given(data=st.data())
def test_hostile_values_for_typed_json_members_get_errors(
    target: Target, data: st.DataObject
) -> None:
    target.check(data.draw(typed_json_requests(target.operations)))


@fuzz_settings(150)
@given(data=st.data())
def test_hostile_header_query_and_uri_members_get_errors(
    target: Target, data: st.DataObject
) -> None:
    target.check(data.draw(located_member_requests(target.operations)))


@fuzz_settings(60)
@given(raw=bad_target_requests())
def test_unknown_or_malformed_targets_get_aws_errors(target: Target, raw: RawRequest) -> None:
    target.check(raw)


@fuzz_settings(150)
@given(raw=s3_xml_requests())
def test_malformed_s3_configuration_xml_gets_s3_errors(target: Target, raw: RawRequest) -> None:
    target.check(raw)


@pytest.mark.parametrize("entry", S3_XML_OPERATIONS, ids=[e[3] for e in S3_XML_OPERATIONS])
def test_xml_declaring_a_dtd_is_refused_in_any_encoding(target: Target, entry: tuple) -> None:
    method, template, query, operation = entry
    path = template.format(bucket="fuzz-bucket", key="key.txt")
    implemented = operation in target.dispatcher.handlers["s3"]
    expected = (400, "MalformedXML") if implemented else (501, "NotImplemented")
    for body in DTD_ATTACKS:
        raw = RawRequest(method, path, query, (("Content-Type", "application/xml"),), body)
        req = raw.to_http_request()
        resp = target.dispatcher.handle(req)
        verdict = check_response(req, resp)
        assert (resp.status_code, verdict.code) == expected, body[:80]
    for body in XML_TRICKS:
        target.check(RawRequest(method, path, query, (), body))


@fuzz_settings(80)
@given(raw=query_requests())
def test_query_bodies_with_odd_keys_get_query_errors(target: Target, raw: RawRequest) -> None:
    target.check(raw)


@fuzz_settings(150)
@given(raw=odd_header_requests())
def test_odd_headers_get_aws_errors(target: Target, raw: RawRequest) -> None:
    target.check(raw)


@fuzz_settings(100)
@given(raw=encoding_requests())
def test_bad_percent_encoding_gets_aws_errors(target: Target, raw: RawRequest) -> None:
    target.check(raw)


@fuzz_settings(80)
@given(raw=path_requests())
def test_path_tricks_get_aws_errors(target: Target, raw: RawRequest) -> None:
    target.check(raw)


@fuzz_settings(60)
@given(raw=host_requests())
def test_odd_virtual_hosts_get_aws_errors(target: Target, raw: RawRequest) -> None:
    target.check(raw)


@fuzz_settings(60)
@given(raw=method_requests())
def test_every_method_on_every_endpoint_gets_an_aws_answer(target: Target, raw: RawRequest) -> None:
    target.check(raw)


@fuzz_settings(100)
@given(
    label=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters=":[\x7f"),
        min_size=1,
        max_size=20,
    )
)
def test_a_virtual_host_bucket_is_one_bucket_whatever_its_label(label: str) -> None:
    # `victim/evil.localhost` must not become bucket `victim` with a key under `evil/`.
    req = RawRequest("PUT", "/x", "", (("Host", f"{label}.localhost"),), b"data")
    r = route(req.to_http_request(), SERVICES)
    assert r.operation == "PutObject"
    assert (unquote(r.path_params["Bucket"]), r.path_params["Key"]) == (label, "x")
