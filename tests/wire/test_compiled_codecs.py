"""The compiled fast paths (per-shape JSON converters, orjson, compiled validation predicates)
answer exactly what the reference walks over botocore's shapes answer: the same values for
well-formed input and output, the same verdict on every constraint, and, for anything they do
not take, the same error (they hand it to the reference path).

Values come from the deterministic example generator, over every operation of the JSON
services' sampled operations, and from mutations of them that break one thing at a time.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from botocore.model import Shape
from shape_examples import examples
from wire_support import op_id, sampled_operations

from tule.aws import specs
from tule.aws.http import HttpRequest
from tule.aws.protocols import json as json_protocol
from tule.aws.validation import predicate, problems
from tule.errors import AwsError

JSON_PROTOCOLS = ("json", "rest-json")
OPERATIONS = [
    pair
    for pair in sampled_operations()
    if specs.protocol(pair[0]) in JSON_PROTOCOLS or pair[0] == "kinesis"
]
ALL_OPERATIONS = sampled_operations()
MUTATIONS_PER_EXAMPLE = 12


def _shapes(service: str, operation: str) -> tuple[Shape | None, Shape | None]:
    op = specs.operation_model(service, operation)
    return op.input_shape, op.output_shape


def _has_body(shape: Shape | None) -> bool:
    return shape is not None and not shape.event_stream_name


# Only operations with a JSON input (or output) shape: the others have nothing to compare.
WITH_INPUT = [p for p in OPERATIONS if _has_body(_shapes(*p)[0])]
WITH_OUTPUT = [p for p in OPERATIONS if _has_body(_shapes(*p)[1])]
ALL_WITH_INPUT = [p for p in ALL_OPERATIONS if _has_body(_shapes(*p)[0])]


def _reference_parse(shape: Shape, body: bytes) -> Any:
    return json_protocol.from_json(shape, json_protocol.load_body(body), "")


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except AwsError as err:
        return "error", (err.code, err.message)


def _parse(shape: Shape, body: bytes) -> Any:
    op_like = type("Op", (), {"input_shape": shape})()
    return json_protocol.parse_request(op_like, HttpRequest("POST", "/", body=body), {})


def _typed(value: Any) -> Any:
    """The value with each leaf's type beside it: 1 == 1.0 == True must not pass as equal."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


@pytest.mark.parametrize("pair", WITH_INPUT, ids=op_id)
def test_compiled_request_parsing_matches_the_reference(pair: tuple[str, str]) -> None:
    shape, _ = _shapes(*pair)
    assert shape is not None
    for label, value in examples(shape):
        body = json.dumps(json_protocol.to_json(shape, value)).encode()
        want = _outcome(lambda b=body: _reference_parse(shape, b))
        got = _outcome(lambda b=body: _parse(shape, b))
        assert _typed(got) == _typed(want), label


@pytest.mark.parametrize("pair", WITH_OUTPUT, ids=op_id)
def test_compiled_response_writing_matches_the_reference(pair: tuple[str, str]) -> None:
    _, shape = _shapes(*pair)
    assert shape is not None
    for label, value in examples(shape):
        want = json.loads(json.dumps(json_protocol.to_json(shape, value)))
        got = json.loads(json_protocol.render(shape, value))
        assert _typed(got) == _typed(want), label


def _mutations(shape: Shape, value: Any, rng: random.Random) -> list[Any]:
    """Copies of `value` with one thing broken: a member dropped or replaced by a value of the
    wrong type, a text too long or off its pattern, a number out of range, a null item."""
    paths = list(_paths(shape, value, ()))
    rng.shuffle(paths)
    out = []
    for steps, member in paths[:MUTATIONS_PER_EXAMPLE]:
        for bad in _bad_values(member):
            out.append(_replaced(value, steps, bad))
    return out


_DROP = object()


def _paths(shape: Shape, value: Any, steps: tuple) -> Any:
    yield steps, shape
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _paths(member, value[name], (*steps, name))
    elif shape.type_name == "list" and value:
        yield from _paths(shape.member, value[0], (*steps, 0))
    elif shape.type_name == "map" and value:
        key = next(iter(value))
        yield from _paths(shape.value, value[key], (*steps, key))


def _bad_values(shape: Shape) -> list[Any]:
    meta = shape.metadata
    t = shape.type_name
    bad: list[Any] = [_DROP, None, "text", 7, True, [1], {"x": 1}, 2**70, 1.5]
    if t == "string":
        bad += ["", "x" * (meta.get("max", 10) + 1), "\u00e9\u2028", "not in any enum"]
    if t in ("integer", "long", "float", "double"):
        bad += [meta.get("min", 0) - 1, meta.get("max", 2**31) + 1, -(2**63) - 1]
    if t == "blob":
        bad += ["!!not base64", "QUJD", "QQ="]
    if t == "timestamp":
        bad += ["2024-13-45", 1e20, "1700000000.5"]
    if t == "list":
        bad += [[None], [], [None] * 3]
    return bad


def _replaced(value: Any, steps: tuple, bad: Any) -> Any:
    if not steps:
        return {} if bad is _DROP else bad
    copy = _copy(value)
    node = copy
    for step in steps[:-1]:
        node = node[step]
    if bad is _DROP:
        if isinstance(node, dict):
            node.pop(steps[-1], None)
        else:
            node.pop(steps[-1])
    else:
        node[steps[-1]] = bad
    return copy


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


@pytest.mark.parametrize("pair", WITH_INPUT, ids=op_id)
def test_broken_requests_get_the_reference_answer(pair: tuple[str, str]) -> None:
    """Whatever is wrong (type, base64, range, a big integer orjson would read as a float),
    the fast path either gives what the reference gives or leaves it to the reference."""
    shape, _ = _shapes(*pair)
    assert shape is not None
    rng = random.Random(f"mutate-{pair}")
    for _, value in examples(shape, (None, 1)):
        doc = json_protocol.to_json(shape, value)
        for broken in _mutations(shape, doc, rng):
            body = json.dumps(broken).encode()
            want = _outcome(lambda b=body: _reference_parse(shape, b))
            got = _outcome(lambda b=body: _parse(shape, b))
            assert _typed(got) == _typed(want), body[:300]


@pytest.mark.parametrize("pair", ALL_WITH_INPUT, ids=op_id)
def test_compiled_predicates_agree_with_the_problems_found(pair: tuple[str, str]) -> None:
    shape, _ = _shapes(*pair)
    assert shape is not None
    valid = predicate(shape)
    rng = random.Random(f"validate-{pair}")
    for _, value in examples(shape, (None, 1)):
        assert valid is None or valid(value)  # the examples keep every constraint
        for candidate in _mutations(shape, value, rng):
            try:
                found = problems(shape, candidate)
            except Exception:  # a value no parser would hand over (a list for a structure)
                continue
            try:
                verdict = valid is None or valid(candidate)
            except Exception:
                continue  # validate() then asks `problems`, which answered above
            assert verdict == (not found), (found, candidate)


def test_documents_holding_big_integers_keep_them_whole() -> None:
    """orjson reads integers beyond 64 bits as floats; a document member keeps the integer."""
    shape = specs.operation_model("glue", "CreateTable").input_shape
    body = (
        b'{"DatabaseName":"d","TableInput":{"Name":"t"},'
        b'"OpenTableFormatInput":{"IcebergInput":{"MetadataOperation":"CREATE",'
        b'"CreateIcebergTableInput":{"Location":"s3://b/t","Schema":{"SchemaId":1,"Type":"struct",'
        b'"Fields":[{"Id":1,"Name":"c","Type":{"big":123456789012345678901234567890},'
        b'"Required":true}]}}}}}'
    )
    parsed = _parse(shape, body)
    field = parsed["OpenTableFormatInput"]["IcebergInput"]["CreateIcebergTableInput"]["Schema"][
        "Fields"
    ][0]
    assert field["Type"] == {"big": 123456789012345678901234567890}
    assert isinstance(field["Type"]["big"], int)


def test_an_integer_beyond_its_range_is_refused_with_the_reference_words() -> None:
    shape = specs.operation_model("kinesis", "GetRecords").input_shape
    body = b'{"ShardIterator":"x","Limit":123456789012345678901234567890}'
    with pytest.raises(AwsError) as caught:
        _parse(shape, body)
    assert "Member must be an integer from -2147483648 to 2147483647" in caught.value.message


def test_lone_surrogates_are_refused_as_before() -> None:
    shape = specs.operation_model("kinesis", "PutRecord").input_shape
    with pytest.raises(AwsError) as caught:
        _parse(shape, b'{"StreamName":"s\\ud800","PartitionKey":"k","Data":"QUJD"}')
    assert caught.value.message == "Invalid UTF-16 surrogate in a JSON string."


def test_non_finite_floats_are_written_as_json_dumps_writes_them() -> None:
    """orjson writes NaN as null; such a body is written the stdlib's way."""
    shape = specs.operation_model("sagemaker", "DescribeTrainingJob").output_shape
    value = {"FinalMetricDataList": [{"MetricName": "m", "Value": float("nan")}]}
    assert (
        json_protocol.render(shape, value)
        == json.dumps(json_protocol.to_json(shape, value), separators=(",", ":")).encode()
    )


def test_non_ascii_text_reads_back_the_same() -> None:
    shape = specs.operation_model("kinesis", "DescribeStreamSummary").output_shape
    value = {"StreamDescriptionSummary": {"StreamName": "caf\u00e9 \u2028 \U0001f600"}}
    got = json.loads(json_protocol.render(shape, value))
    assert got["StreamDescriptionSummary"]["StreamName"] == "caf\u00e9 \u2028 \U0001f600"
