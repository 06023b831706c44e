"""Requests the fuzz properties found answering 500 (or a broken body), kept as fixed cases.

The properties draw a fixed but ever-changing-with-the-code set of examples; these pin each bug
they found, so it stays fixed whatever the fuzzer draws next. Each runs through the gateway with
every operation accepted (so it reaches the protocol parser even where the service is not
written yet), or through the real S3 where the bug lay in an answer S3 gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fuzz_checks import check_response
from fuzz_strategies import RawRequest

from tule.aws import specs
from tule.aws.dispatch import Dispatcher
from tule.aws.gateway import Gateway, create_app
from tule.clock import ManualClock
from tule.config import Settings
from tule.context import RequestContext
from tule.services.registry import SERVICES


def _accept(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def every_operation(tmp_path_factory: pytest.TempPathFactory) -> Dispatcher:
    stubs = {
        entry.name: dict.fromkeys(specs.service_model(entry.name).operation_names, _accept)
        for entry in SERVICES
    }
    settings = Settings(data_dir=tmp_path_factory.mktemp("found") / "data", fsync=False)
    return Dispatcher(settings, ManualClock(), stubs, {})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("found-s3") / "data", fsync=False))
    yield app
    app.close()


def _json(target: str, body: bytes) -> RawRequest:
    return RawRequest("POST", "/", "", (("X-Amz-Target", target),), body)


def _answer(dispatcher: Dispatcher, raw: RawRequest) -> tuple[int, str | None]:
    req = raw.to_http_request()
    resp = dispatcher.handle(req)
    return resp.status_code, check_response(req, resp).code


JSON_CASES = {
    "nesting deeper than the decoder's recursion limit": (
        _json("SageMaker.ListTrainingJobs", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        "SerializationException",
    ),
    "NaN, which is not JSON": (
        _json("Kinesis_20131202.ListStreams", b'{"Limit": NaN}'),
        "SerializationException",
    ),
    "a lone UTF-16 surrogate escape": (
        _json("Logs_20140328.CreateLogGroup", b'{"logGroupName": "a\\ud800"}'),
        "SerializationException",
    ),
    "an integer member beyond 32 bits": (
        _json("Kinesis_20131202.CreateStream", b'{"StreamName": "s", "ShardCount": 1099511627776}'),
        "ValidationException",
    ),
    "an integer literal beyond a double's range for a double member": (
        _json("AWSGlue.CreateJob", b'{"MaxCapacity": 1' + b"0" * 400 + b"}"),
        "ValidationException",
    ),
    "an epoch timestamp beyond year 9999": (
        _json("Kinesis_20131202.GetShardIterator", b'{"Timestamp": 1e300}'),
        "ValidationException",
    ),
    "a timestamp offset that moves year 1 out of range": (
        _json(
            "Kinesis_20131202.GetShardIterator",
            json.dumps(
                {
                    "StreamName": "s",
                    "ShardId": "shardId-000000000000",
                    "ShardIteratorType": "AT_TIMESTAMP",
                    "Timestamp": "0001-01-01T00:00:00+23:59",
                }
            ).encode(),
        ),
        "ValidationException",
    ),
    "a null inside a list": (
        _json(
            "SageMaker.CreateDataQualityJobDefinition",
            b'{"DataQualityAppSpecification": {"ContainerEntrypoint": [null]}}',
        ),
        "ValidationException",
    ),
}


@pytest.mark.parametrize("case", JSON_CASES.values(), ids=list(JSON_CASES))
def test_json_bodies_once_answered_500(every_operation: Dispatcher, case: tuple) -> None:
    raw, code = case
    assert _answer(every_operation, raw) == (400, code)


@pytest.mark.parametrize("value", ["inf", "1e300", "-1e300"])
def test_out_of_range_dates_in_conditional_headers_are_ignored(
    every_operation: Dispatcher, value: str
) -> None:
    # Ignored as HTTP servers and S3 ignore any unparseable date there; they once raised.
    raw = RawRequest("GET", "/b/k", "", (("If-Modified-Since", value),))
    assert _answer(every_operation, raw) == (200, None)


# The byte check for `<!DOCTYPE` cannot see it in UTF-16; the entity used to be expanded.
UTF16_ENTITY = (
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE t [<!ENTITY e "expanded">]>'
    "<Tagging><TagSet><Tag><Key>&e;</Key><Value>v</Value></Tag></TagSet></Tagging>"
).encode("utf-16")

S3_CASES = {
    "a max-keys beyond 32 bits": (
        RawRequest("GET", "/b", "list-type=2&max-keys=99999999999999999999"),
        "InvalidArgument",
    ),
    "an XML timestamp of inf": (
        RawRequest(
            "POST",
            "/b",
            "delete",
            (),
            b"<Delete><Object><Key>k</Key><LastModifiedTime>inf</LastModifiedTime></Object></Delete>",
        ),
        "InvalidArgument",
    ),
    "an XML document in an unknown encoding": (
        RawRequest(
            "PUT", "/b", "tagging", (), b'<?xml version="1.0" encoding="x-nope"?><Tagging/>'
        ),
        "MalformedXML",
    ),
    "a UTF-16 document declaring an entity": (
        RawRequest("PUT", "/b", "tagging", (), UTF16_ENTITY),
        "MalformedXML",
    ),
}


@pytest.mark.parametrize("case", S3_CASES.values(), ids=list(S3_CASES))
def test_s3_requests_once_answered_500(every_operation: Dispatcher, case: tuple) -> None:
    raw, code = case
    assert _answer(every_operation, raw) == (400, code)


def test_a_query_list_item_without_fields_is_a_validation_error(
    every_operation: Dispatcher,
) -> None:
    form = b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn&RoleSessionName=s&Tags.member.1="
    raw = RawRequest(
        "POST", "/", "", (("Content-Type", "application/x-www-form-urlencoded"),), form
    )
    assert _answer(every_operation, raw) == (400, "ValidationError")


def test_an_error_message_quoting_a_control_character_is_still_xml(
    every_operation: Dispatcher,
) -> None:
    # The validation message quotes the value; XML 1.0 cannot carry U+001F at all.
    raw = RawRequest("GET", "/", "Action=AssumeRole&Version=2011-06-15&RoleArn=%1F")
    assert _answer(every_operation, raw) == (400, "ValidationError")


@pytest.mark.parametrize("value", ["%0D%0AX-Injected:%20yes", "%E2%80%AE", "%E6%97%A5"])
def test_s3_response_overrides_http_cannot_carry_are_refused(served: Gateway, value: str) -> None:
    if "GetObject" not in served.dispatcher.handlers["s3"]:
        pytest.skip("S3 objects are not implemented yet")
    served.dispatcher.handle(RawRequest("PUT", "/found-bucket").to_http_request())
    put = RawRequest("PUT", "/found-bucket/k", "", (), b"data")
    served.dispatcher.handle(put.to_http_request())
    raw = RawRequest("GET", "/found-bucket/k", f"response-content-disposition={value}")
    assert _answer(served.dispatcher, raw) == (400, "InvalidArgument")
