"""Unit tests of GetPartitions' expression parser and evaluator, and of GetTables' patterns."""

from __future__ import annotations

import pytest

from tule.errors import AwsError
from tule.services.glue.expressions import compile_expression, is_numeric_type
from tule.services.glue.search import name_matcher

KEYS = [("year", "int"), ("month", "string"), ("day", "bigint"), ("region", "varchar(10)")]
ROW = ["2024", "07", "15", "eu-west"]


def matches(expression: str, values: list[str] = ROW) -> bool:
    return compile_expression(expression, KEYS)(values)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("year = 2024", True),
        ("year = '2024'", True),
        ("year <> 2024", False),
        ("year != 2023", True),
        ("year < 2025 and year > 2023", True),
        ("year <= 2023 or day >= 15", True),
        ("not year = 2024", False),
        ("NOT (year = 2024 AND month = '08')", True),
        ("month in ('06', '07')", True),
        ("month not in ('06', '07')", False),
        ("day between 10 and 15", True),
        ("day not between 1 and 14", True),
        ("region like 'eu-%'", True),
        ("region like 'eu_west'", True),
        ("region not like 'us%'", True),
        ("region like 'EU%'", False),
        ("'2024' = year", True),
        ("20 > day", True),
        ("YEAR = 2024", True),
        ("`year` = 2024 AND \"month\" = '07'", True),
        ("year = 2024 OR month = '01' AND day = 1", True),
        ("(year = 2023 OR month = '07') AND day = 15", True),
        ("year = 2.024e3", True),
        ("region = 'it''s'", False),
        ("year IS NOT NULL", True),
        ("year IS NULL", False),
        ("", True),
    ],
)
def test_expression_evaluates_like_sql(expression: str, expected: bool) -> None:
    assert matches(expression) is expected


def test_and_binds_tighter_than_or() -> None:
    # year = 2023 OR (month = '07' AND day = 1): false for ROW, where AND-first grouping matters.
    assert matches("year = 2023 OR month = '07' AND day = 1") is False
    assert matches("(year = 2023 OR month = '07') AND day = 1") is False
    assert matches("year = 2024 OR month = '01' AND day = 1") is True


def test_numeric_keys_compare_as_numbers() -> None:
    assert matches("day > 9", ["2024", "07", "15", "x"]) is True
    assert matches("month > '10'", ["2024", "9", "1", "x"]) is True  # '9' > '10' as strings
    assert matches("month > 10", ["2024", "9", "1", "x"]) is True  # string key: '9' > '10'
    assert matches("year > 999", ["1000", "1", "1", "x"]) is True
    assert matches("year in (1000, 2000)", ["1000.0", "1", "1", "x"]) is True


def test_a_value_that_is_not_a_number_matches_no_numeric_comparison() -> None:
    assert matches("year > 1", ["unknown", "1", "1", "x"]) is False
    assert matches("NOT year > 1", ["unknown", "1", "1", "x"]) is True


@pytest.mark.parametrize(
    "expression",
    [
        "year =",
        "= 2024",
        "unknown = 1",
        "year = 'twenty'",
        "year = 1 and",
        "(year = 1",
        "year = 1)",
        "year == 1",
        "year in ()",
        "year in (1, )",
        "year between 1",
        "'a' = 'b'",
        "year like 5 5",
        "month = #",
        "year = 1 year = 2",
    ],
)
def test_bad_expressions_are_invalid_input(expression: str) -> None:
    with pytest.raises(AwsError) as error:
        compile_expression(expression, KEYS)
    assert error.value.code == "InvalidInputException"
    assert expression in error.value.message


@pytest.mark.parametrize(
    ("column_type", "numeric"),
    [
        ("int", True),
        ("BIGINT", True),
        ("decimal(10,2)", True),
        ("double", True),
        ("string", False),
        ("date", False),
        ("varchar(5)", False),
        (None, False),
    ],
)
def test_numeric_types(column_type: str | None, numeric: bool) -> None:
    assert is_numeric_type(column_type) is numeric


def test_table_name_patterns() -> None:
    assert name_matcher(None)("anything")
    assert name_matcher("sales*")("sales_2024")
    assert not name_matcher("sales")("sales_2024")
    assert name_matcher("a.*|b")("b")
    assert name_matcher("Sales")("sales")
    with pytest.raises(AwsError):
        name_matcher("[")
