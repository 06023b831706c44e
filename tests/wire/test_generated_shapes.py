"""The structure converters and validation predicates written as source per shape
(`tule.aws.generated`) answer as the reference walks do, at and around every bound, for
member names that need quoting, and refuse to write a literal that would not read back."""

from __future__ import annotations

import math
from typing import Any

import pytest
from botocore.model import ShapeResolver

from tule.aws import generated
from tule.aws.protocols import json as json_protocol
from tule.aws.protocols import json_shapes
from tule.aws.validation import predicate, problems

ODD_NAME = "Odd'Name\"\\"
SHAPES: dict[str, Any] = {
    "Thing": {
        "type": "structure",
        "required": ["Name"],
        "members": {
            "Name": {"shape": "Name"},
            "Payload": {"shape": "Payload"},
            "Count": {"shape": "Count"},
            "Ratio": {"shape": "Ratio"},
            "Code": {"shape": "Code"},
            "Kind": {"shape": "Kind"},
            "Free": {"shape": "Free"},
            "Flag": {"shape": "Flag"},
            ODD_NAME: {"shape": "Free"},
        },
    },
    "Name": {"type": "string", "min": 1, "max": 4},
    "Payload": {"type": "blob", "max": 3},
    "Count": {"type": "integer", "min": -2, "max": 5},
    "Ratio": {"type": "double", "min": 0.5},
    "Code": {"type": "string", "pattern": "[a-z]+", "max": 3},
    "Kind": {"type": "string", "enum": ["A", "B"]},
    "Free": {"type": "string"},
    "Flag": {"type": "boolean"},
}
THING = ShapeResolver(SHAPES).get_shape_by_name("Thing")

VALUES: list[dict[str, Any]] = [
    {"Name": "a"},
    {"Name": ""},
    {"Name": "abcd"},
    {"Name": "abcde"},
    {},
    {"Name": None},
    {"Name": "ab", "Payload": b""},
    {"Name": "ab", "Payload": b"xyz"},
    {"Name": "ab", "Payload": b"wxyz"},
    {"Name": "ab", "Payload": bytearray(b"wxyz")},
    {"Name": "ab", "Count": -2},
    {"Name": "ab", "Count": -3},
    {"Name": "ab", "Count": 5},
    {"Name": "ab", "Count": 6},
    {"Name": "ab", "Ratio": 0.5},
    {"Name": "ab", "Ratio": 0.49999},
    {"Name": "ab", "Ratio": math.inf},
    {"Name": "ab", "Code": "abc"},
    {"Name": "ab", "Code": "ab1"},
    {"Name": "ab", "Code": "abcd"},
    {"Name": "ab", "Kind": "A"},
    {"Name": "ab", "Kind": "C"},
    {"Name": "ab", "Free": "x" * 1000, ODD_NAME: "y"},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_a_generated_predicate_agrees_with_the_problems_found(value: dict[str, Any]):
    valid = predicate(THING)
    assert valid is not None
    assert valid(value) == (problems(THING, value) == [])


def test_a_nan_bound_check_is_left_to_the_walk_which_finds_nothing():
    # NaN fails every comparison: the predicate refuses it, as the looped one did, and
    # `validate` then asks `problems`, which finds no bound broken either.
    value = {"Name": "ab", "Ratio": math.nan}
    assert predicate(THING)(value) is False  # type: ignore[misc]
    assert problems(THING, value) == []


JSON_VALUES: list[Any] = [
    {"Name": "ab", "Payload": "eHl6", "Count": 3, "Ratio": 2, "Flag": True, ODD_NAME: "q"},
    {"Name": "ab", "Payload": "not base64!"},
    {"Name": 7},
    {"Name": "ab", "Flag": "yes"},
    {"Name": "ab", "Count": 2**40},
    {"Name": "ab", "Count": True},
    {"Name": "ab", "Ratio": "1.5"},
    {"Name": "ab", "Unknown": 1, "Free": None},
    {},
    [],
    "text",
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=range(len(JSON_VALUES)))
def test_a_generated_converter_answers_as_the_reference(value: Any):
    def outcome(fn: Any) -> tuple[str, Any]:
        try:
            return "ok", fn()
        except Exception as exc:
            return "error", (type(exc).__name__, str(exc))

    compiled = json_shapes.input_converter(THING)
    assert compiled is not None
    reference = outcome(lambda: json_protocol.from_json(THING, value, ""))
    fast = outcome(lambda: compiled(value))
    if fast[0] == "ok":
        assert fast == reference  # what it takes, it converts exactly as the reference
    else:
        # What it leaves, the reference answers (convert_input falls back to it).
        assert outcome(lambda: json_protocol.convert_input(THING, value, "")) == reference


def test_generated_source_takes_only_literals_that_read_back():
    assert generated.literal(ODD_NAME) == repr(ODD_NAME)
    assert generated.literal(-3) == "-3" and generated.literal(0.1) == "0.1"
    for bad in (math.inf, -math.inf, math.nan, True, None, b"x"):
        with pytest.raises(TypeError):
            generated.literal(bad)  # type: ignore[arg-type]
    add = generated.function("add", "a, b", ["return a + b + k"], {"k": 1})
    assert add(2, 3) == 6
