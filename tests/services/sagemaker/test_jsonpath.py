"""SageMaker's JSONPath subset for DataProcessing filters (spec §5.4)."""

from __future__ import annotations

import pytest

from tule.services.sagemaker.jsonpath import JsonPathError, compile, compiled

ROW = ["id7", "f1", "f2", "f3", "f4", "f5", "f6"]


def test_root_returns_the_value_itself() -> None:
    value = {"a": [1, 2]}
    path = compile("$")
    assert path.is_root
    assert path.apply(value) is value


def test_single_index_returns_the_element_and_negative_counts_from_the_end() -> None:
    assert compile("$[0]").apply(ROW) == "id7"
    assert compile("$[-1]").apply(ROW) == "f6"
    assert compile("$[-7]").apply(ROW) == "id7"


def test_index_list_returns_a_list_in_the_order_given() -> None:
    assert compile("$[1,3,5]").apply(ROW) == ["f1", "f3", "f5"]
    assert compile("$[0,-1]").apply(ROW) == ["id7", "f6"]
    assert compile("$[-1, 0]").apply(ROW) == ["f6", "id7"]


def test_slice_end_is_inclusive_as_the_sagemaker_guide_documents() -> None:
    # Guide: "$[1:4]" is the second through fifth columns, "$[:5]" the first through sixth.
    assert compile("$[1:4]").apply(ROW) == ["f1", "f2", "f3", "f4"]
    assert compile("$[:5]").apply(ROW) == ROW[:6]
    assert compile("$[2:]").apply(ROW) == ROW[2:]
    assert compile("$[1:]").apply(["id", "x"]) == ["x"]
    assert compile("$[:]").apply(ROW) == ROW


def test_slices_accept_negative_bounds() -> None:
    assert compile("$[-3:]").apply(ROW) == ["f4", "f5", "f6"]
    assert compile("$[:-2]").apply(ROW) == ROW[:-1]
    assert compile("$[1:-1]").apply(ROW) == ROW[1:]


def test_a_bracket_may_mix_indexes_and_slices() -> None:
    # "$[0,5:]" is one of AWS's OutputFilter examples.
    assert compile("$[0,5:]").apply(ROW) == ["id7", "f5", "f6"]


def test_member_access_by_dot_and_by_quoted_name() -> None:
    record = {"id": 3, "features": [0.5, 1.5], "nested": {"x": {"y": True}}}
    assert compile("$.features").apply(record) == [0.5, 1.5]
    assert compile("$['features']").apply(record) == [0.5, 1.5]
    assert compile('$["id"]').apply(record) == 3
    assert compile("$.nested.x.y").apply(record) is True
    assert compile("$.features[1]").apply(record) == 1.5


def test_several_names_build_an_object_with_those_keys() -> None:
    joined = {"id": 1, "features": [1, 2], "SageMakerOutput": {"score": 0.5}}
    assert compile("$['id','SageMakerOutput']").apply(joined) == {
        "id": 1,
        "SageMakerOutput": {"score": 0.5},
    }
    assert compile("$['id', 'missing']").apply(joined) == {"id": 1}


def test_wildcard_selects_all_values_and_later_steps_apply_to_each() -> None:
    assert compile("$.id.*").apply({"id": {"a": 1, "b": 2}}) == [1, 2]
    assert compile("$[*]").apply([3, 4]) == [3, 4]
    assert compile("$.*").apply({"a": 1, "b": [2]}) == [1, [2]]
    rows = [{"a": 1}, {"a": 2}, {"b": 3}]
    assert compile("$[*].a").apply(rows) == [1, 2]
    assert compile("$[0:1].a").apply(rows) == [1, 2]


@pytest.mark.parametrize("path", ["$[7]", "$[-8]", "$[0,9]", "$[3:9]", "$[9:]"])
def test_an_index_outside_the_record_is_an_error_naming_the_path(path: str) -> None:
    with pytest.raises(JsonPathError, match="out of range") as info:
        compile(path).apply(ROW)
    assert path in str(info.value)


def test_a_definite_path_that_does_not_fit_the_value_is_an_error() -> None:
    with pytest.raises(JsonPathError, match="no member 'b'"):
        compile("$.b").apply({"a": 1})
    with pytest.raises(JsonPathError, match="not an array"):
        compile("$[0]").apply({"a": 1})
    with pytest.raises(JsonPathError, match="not an object"):
        compile("$['a','b']").apply([1, 2])


@pytest.mark.parametrize(
    "path",
    [
        "",
        "features",
        "$..a",
        "$[?(@.price < 10)]",
        "$[1",
        "$.a b",
        "$['a',1]",
        "$[1:2:3]",
        "$.length()",
        "$[x]",
        "$.",
    ],
)
def test_paths_outside_the_subset_are_refused_at_compile_time(path: str) -> None:
    with pytest.raises(JsonPathError, match="is not supported") as info:
        compile(path)
    assert f"'{path}'" in str(info.value)


def test_compiled_caches_the_parsed_path() -> None:
    assert compiled("$[1:]") is compiled("$[1:]")
    assert compiled("$[1:]").apply(["a", "b"]) == ["b"]
