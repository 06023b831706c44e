"""Services botocore now speaks in REST, spoken to in the JSON protocol they had before
(`specs.wire_model`): every operation of that form, serialized by botocore's own JSON
serializer, routes to its operation and parses back to the same params; every output tule
writes in it parses in botocore's JSON parser to the dict the handler returned; errors come
back with their code and message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from shape_examples import examples
from wire_support import (
    SERVED,
    botocore_request,
    drop_wire_defaults,
    first_difference,
    normalise,
    to_http_request,
)

from tule.aws import specs
from tule.aws.protocols import json as json_codec
from tule.aws.routing import route
from tule.errors import AwsError

EARLIER = [s for s in specs.EARLIER_JSON if s in SERVED]


def _operations(service: str) -> list[str]:
    return sorted(specs.wire_model(service, "json").operation_names)


def test_every_earlier_json_service_is_served() -> None:
    assert list(specs.EARLIER_JSON) == EARLIER
    for service in EARLIER:
        assert specs.protocol(service) != "json"
        assert _operations(service)


@pytest.mark.parametrize("service", EARLIER)
def test_every_operation_routes_and_parses_back(service: str) -> None:
    model = specs.wire_model(service, "json")
    failures = []
    for operation in _operations(service):
        op = model.operation_model(operation)
        variants = examples(op.input_shape) if op.input_shape is not None else [("no input", {})]
        for label, params in variants:
            req = to_http_request(botocore_request(op, params))
            try:
                assert (req.method, req.path) == ("POST", "/")
                r = route(req, SERVED)
                assert (r.service, r.operation, r.wire) == (service, operation, "json")
                parsed = json_codec.parse_request(op, req, r.path_params)
                drop_wire_defaults(op, params, parsed)
                got, want = normalise(op.input_shape, parsed), normalise(op.input_shape, params)
                assert got == want, first_difference(got, want)
            except AssertionError as exc:
                failures.append(f"{operation} ({label}): {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("service", EARLIER)
def test_every_output_parses_in_botocore(service: str) -> None:
    model = specs.wire_model(service, "json")
    parser = create_parser("json")
    failures = []
    for operation in _operations(service):
        op = model.operation_model(operation)
        if op.output_shape is None:
            continue
        for label, output in examples(op.output_shape):
            resp = json_codec.serialize_response(op, output, "rid")
            parsed = parser.parse(
                {"status_code": 200, "headers": HeadersDict(resp.headers), "body": resp.body},
                op.output_shape,
            )
            parsed.pop("ResponseMetadata")
            got, want = normalise(op.output_shape, parsed), normalise(op.output_shape, output)
            if resp.headers["content-type"] != "application/x-amz-json-1.1" or got != want:
                failures.append(f"{operation} ({label}): {first_difference(got, want)}")
    assert not failures, "\n".join(failures)


def test_errors_parse_in_botocore() -> None:
    model = specs.wire_model("athena", "json")
    err = AwsError("InvalidRequestException", "QueryExecution q was not found", 400)
    resp = json_codec.serialize_error(err, model, "rid")
    assert resp.headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(resp.body)["__type"] == "InvalidRequestException"
    parsed: Any = create_parser("json").parse(
        {"status_code": 400, "headers": HeadersDict(resp.headers), "body": resp.body},
        model.operation_model("GetQueryExecution").output_shape,
    )
    assert parsed["Error"] == {
        "Code": "InvalidRequestException",
        "Message": "QueryExecution q was not found",
    }
