"""The record codec writes exactly json.dumps's text and reads exactly json.loads's values."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tule.metadata import codec
from tule.metadata.codec import decode, encode


def reference(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def same_value(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1 is not 1.0), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b) and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


class Color(enum.Enum):
    RED = 1


class Size(enum.IntEnum):
    BIG = 2


class Mode(enum.StrEnum):
    FAST = "fast"


class Text(str):
    pass


class Number(int):
    pass


class Mapping(dict):  # type: ignore[type-arg]
    pass


@dataclasses.dataclass
class Point:
    x: int = 1


def nested(depth: int) -> list[Any]:
    """A list nested `depth` deep: past the depth the codec walks, it falls back to json."""
    value: list[Any] = [1.5]
    for _ in range(depth):
        value = [value]
    return value


# Each differs between orjson and json somewhere: text, notation, range, types or errors.
TRICKY: list[Any] = [
    {"s": "ascii only", "n": 1, "f": 1760000000.123, "b": True, "z": None, "l": [1, "a"]},
    {"é": "ünïcode", "emoji": "\U0001f600", "cjk": "漢字", "nbsp": "\u00a0"},
    {"del": "\x7f", "controls": "\x00\x01\x08\x09\x0a\x0c\x0d\x1f", "quote": '"\\/'},
    {"sep": "\u2028\u2029", "bom": "\ufeff", "max": "\uffff"},
    {"f": [0.0, -0.0, 1e-4, 0.0001234, 9.999e-5, 1e-5, 1e-7, 5e-324, 1e15, 1e16, 1e22, 0.1]},
    {"f": [9999999999999998.0, 1.7976931348623157e308, -2.5, 1 / 3, 123456789.125]},
    {"nan": math.nan, "inf": math.inf, "-inf": -math.inf},
    {"i": [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, -(10**30)]},
    {"tuple": (1, (2, 3)), "nested": {"a": {"b": {"c": [{}]}}}},
    {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
    {"enum": Size.BIG, "strenum": Mode.FAST, "sub": Text("t"), "int": Number(5)},
    {"mapping": Mapping(a=1)},
    {"deep": nested(70), "shallow": nested(3)},
    {"lone": "\ud800", "pair": "\ud83d\ude00"},
    {},
]


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_encode_writes_json_text(value: Any) -> None:
    assert encode(value) == reference(value)


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_decode_reads_json_values(value: Any) -> None:
    text = reference(value)
    assert same_value(decode(text), json.loads(text))


@pytest.mark.parametrize(
    "value", [{"enum": Color.RED}, {"uuid": uuid.UUID(int=7)}, {"point": Point()}, {"b": b"x"}]
)
def test_encode_refuses_what_json_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        reference(value)
    with pytest.raises(TypeError):
        encode(value)


def test_encode_refuses_a_cycle_as_json_does() -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(ValueError, match="Circular"):
        encode(cycle)


@pytest.mark.parametrize(
    "text",
    [
        '{"big":18446744073709551616,"neg":-9223372036854775809,"huge":123456789012345678901234}',
        '{"edge":[18446744073709551615,-9223372036854775808,9223372036854775808]}',
        '{"f":1e+19,"g":-1.5e+300,"h":1e-07}',
        '{"nan":NaN,"inf":Infinity,"ninf":-Infinity}',
        '{"over":1e400}',
        '{"lone":"\\ud800","pair":"\\ud83d\\ude00","esc":"\\u00e9\\u007f\\u0000"}',
        '{"minus_zero":-0,"float_zero":-0.0}',
        '{"dup":1,"dup":2}',
        "[" * 200 + "]" * 200,
        '{"a":' * 100 + "1" + "}" * 100,
    ],
)
def test_decode_matches_json_on_texts_orjson_reads_differently(text: str) -> None:
    assert same_value(decode(text), json.loads(text))


def test_decode_refuses_what_json_refuses() -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads('{"a":')
    with pytest.raises(json.JSONDecodeError):
        decode('{"a":')


def test_decoded_records_are_fresh_objects() -> None:
    text = encode({"a": [1, {"b": 2}]})
    first, second = decode(text), decode(text)
    first["a"][1]["b"] = 3
    assert second == {"a": [1, {"b": 2}]}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_codec_matches_json_on_generated_records(value: dict[str, Any]) -> None:
    text = reference(value)
    assert encode(value) == text
    assert same_value(decode(text), json.loads(text))


@settings(max_examples=600, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_encode_writes_every_float_as_json_does(value: float) -> None:
    assert encode({"f": value, "l": [value]}) == reference({"f": value, "l": [value]})


def test_plain_records_take_orjson_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    record = {"key": "a/b.csv", "size": 4096, "mtime": 1760000000.5, "tags": {"t": "v"}}
    text = reference(record)

    def refuse(*_: Any) -> Any:
        raise AssertionError("took json")

    monkeypatch.setattr(codec, "_json_encode", refuse)
    monkeypatch.setattr(codec.json, "loads", refuse)
    assert encode(record) == text
    assert same_value(decode(text), record)
