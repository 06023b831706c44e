"""The Presto/Trino functions and syntax users write for Athena, each checked for its value."""

from __future__ import annotations

from typing import Any

import pytest
from athena_helpers import query

CASES = [
    ("date_format(TIMESTAMP '2024-03-05 07:08:09', '%Y-%m-%d %H:%i:%s')", "2024-03-05 07:08:09"),
    ("from_unixtime(1700000000)", "2023-11-14 22:13:20.000"),
    ("date_parse('2024/01/31', '%Y/%m/%d')", "2024-01-31 00:00:00.000"),
    ("to_unixtime(TIMESTAMP '2024-01-01 00:00:00')", "1.7040672E9"),
    ("date_add('hour', 3, TIMESTAMP '2024-02-28 22:00:00')", "2024-02-29 01:00:00.000"),
    ("1e20 + 0.5e0", "1.0E20"),
    ("CAST(0.25 AS double)", "0.25"),
    ("date_diff('day', DATE '2024-01-01', DATE '2024-03-01')", "60"),
    ("date_trunc('month', TIMESTAMP '2024-05-17 10:00:00')", "2024-05-01 00:00:00.000"),
    ("year(DATE '2024-05-17')", "2024"),
    ("day_of_week(DATE '2024-05-19')", "7"),
    ("cardinality(ARRAY[1, 2, 3])", "3"),
    ("element_at(ARRAY['a', 'b'], 2)", "b"),
    ("element_at(MAP(ARRAY['k'], ARRAY[5]), 'k')", "5"),
    ("contains(ARRAY[1, 2], 2)", "true"),
    ("array_join(ARRAY['a', 'b', 'c'], '-')", "a-b-c"),
    ("slice(ARRAY[1, 2, 3, 4, 5], 2, 3)", "[2, 3, 4]"),
    ("transform(ARRAY[1, 2], x -> x * 10)", "[10, 20]"),
    ("filter(ARRAY[1, 2, 3, 4], x -> x % 2 = 0)", "[2, 4]"),
    ("array_distinct(ARRAY[1, 1, 2])", "[1, 2]"),
    ("map_keys(MAP(ARRAY['a', 'b'], ARRAY[1, 2]))", "[a, b]"),
    ("split('a,b,c', ',')", "[a, b, c]"),
    ("regexp_like('tule', '^t.l')", "true"),
    ("regexp_extract('abc123', '[0-9]+')", "123"),
    ("strpos('hello', 'l')", "3"),
    ("substr('athena', 2, 3)", "the"),
    ("json_extract_scalar('{\"a\": {\"b\": 7}}', '$.a.b')", "7"),
    ("CAST(42 AS varchar)", "42"),
    ("try_cast('x' AS integer)", None),
    ("5 / 2", "2"),
    ("if(1 > 2, 'yes', 'no')", "no"),
    ("sequence(1, 4)", "[1, 2, 3, 4]"),
]


@pytest.mark.parametrize(("expression", "expected"), CASES, ids=[c[0].split("(")[0] for c in CASES])
def test_trino_function_gives_the_trino_value(
    athena: Any, expression: str, expected: str | None
) -> None:
    assert query(athena, f"SELECT {expression} AS v", database=None)[1] == [expected]


def test_aggregates_approx_percentile_arbitrary_count_if_max_by(athena: Any) -> None:
    sql = (
        "SELECT approx_percentile(x, 0.5), count_if(x > 2), max_by(name, x), arbitrary(k) "
        "FROM (VALUES (1, 'a', 'k'), (2, 'b', 'k'), (3, 'c', 'k'), (4, 'd', 'k')) AS t(x, name, k)"
    )
    median, over_two, top, any_k = query(athena, sql, database=None)[1]
    assert float(median) in (2.0, 2.5, 3.0)
    assert (over_two, top, any_k) == ("2", "d", "k")


def test_unnest_with_cross_join_and_double_quoted_identifiers(athena: Any) -> None:
    sql = (
        "SELECT \"Id\", tag FROM (VALUES (1, ARRAY['x', 'y']), (2, ARRAY['z'])) AS t(\"Id\", tags) "
        "CROSS JOIN UNNEST(tags) AS u(tag) ORDER BY tag"
    )
    assert query(athena, sql, database=None)[1:] == [["1", "x"], ["1", "y"], ["2", "z"]]


def test_with_clause_and_window_function(athena: Any) -> None:
    sql = (
        "WITH s AS (SELECT * FROM (VALUES ('a', 1), ('a', 3), ('b', 2)) AS t(g, v)) "
        "SELECT g, v, row_number() OVER (PARTITION BY g ORDER BY v DESC) AS rn FROM s ORDER BY g, v"
    )
    assert query(athena, sql, database=None)[1:] == [
        ["a", "1", "2"],
        ["a", "3", "1"],
        ["b", "2", "1"],
    ]
