"""Unit tests for grouping files into tables and partitions, exclusion globs and table names."""

from __future__ import annotations

import pytest

from tule.services.glue.crawlers.grouping import CrawledFile, plan_tables
from tule.services.glue.crawlers.paths import S3Path, excluded, skipped, table_name
from tule.services.glue.crawlers.schema import FileSchema, compatible

CSV_AB = FileSchema("csv", (("a", "bigint"), ("b", "string")), 1, delimiter=",", header=True)
CSV_XY = FileSchema("csv", (("x", "double"), ("y", "string")), 1, delimiter=",", header=True)
JSON_AB = FileSchema("json", (("a", "int"), ("b", "string")), 1)


def file(key: str, schema: FileSchema = CSV_AB, size: int = 10) -> CrawledFile:
    *parts, name = key.split("/")
    return CrawledFile(tuple(parts), name, size, schema)


def test_hive_style_folders_become_named_partitions() -> None:
    (plan,) = plan_tables(
        [
            file("year=2024/month=01/a.csv"),
            file("year=2024/month=02/a.csv"),
            file("year=2023/month=12/b.csv"),
        ]
    )
    assert plan.root == ()
    assert plan.partition_keys == ["year", "month"]
    assert [(p.values, p.folder) for p in plan.partitions] == [
        (("2023", "12"), "year=2023/month=12/"),
        (("2024", "01"), "year=2024/month=01/"),
        (("2024", "02"), "year=2024/month=02/"),
    ]


def test_plain_folders_become_partition_n_and_mixed_levels_too() -> None:
    (plan,) = plan_tables([file("2024/k=1/a.csv"), file("2025/other/a.csv")])
    assert plan.partition_keys == ["partition_0", "partition_1"]
    assert [p.values for p in plan.partitions] == [("2024", "k=1"), ("2025", "other")]


def test_incompatible_sub_folders_split_into_tables() -> None:
    plans = plan_tables(
        [file("users/a.csv"), file("orders/o.csv", CSV_XY), file("clicks/c.json", JSON_AB)]
    )
    assert [p.root for p in plans] == [("clicks",), ("orders",), ("users",)]
    assert all(p.partition_keys == [] for p in plans)


def test_files_at_different_depths_do_not_make_one_table() -> None:
    plans = plan_tables([file("a.csv"), file("sub/b.csv")])
    assert [(p.root, p.partition_keys) for p in plans] == [((), []), (("sub",), [])]


def test_incompatible_files_side_by_side_are_tables_of_their_own() -> None:
    plans = plan_tables([file("a.csv"), file("b.json", JSON_AB)])
    assert [p.single_file for p in plans] == ["a.csv", "b.json"]
    assert plans[1].relative_location == "b.json"


def test_combine_compatible_schemas_ignores_column_differences() -> None:
    plans = plan_tables([file("p=1/a.csv"), file("p=2/b.csv", CSV_XY)], combine_all=True)
    assert len(plans) == 1
    assert [n for n, _ in plans[0].schema.columns] == ["a", "b", "x", "y"]


def test_table_level_puts_roots_below_the_include_path() -> None:
    plans = plan_tables(
        [file("t1/p=1/a.csv"), file("t1/p=2/a.csv"), file("t2/p=1/a.csv")], table_depth=1
    )
    assert [(p.root, p.partition_keys) for p in plans] == [(("t1",), ["p"]), (("t2",), ["p"])]


def test_similarity_threshold_keeps_an_added_column_in_one_table() -> None:
    wide = FileSchema(
        "csv", (("a", "bigint"), ("b", "string"), ("c", "bigint")), 1, delimiter=",", header=True
    )
    four = FileSchema("csv", (*wide.columns, ("d", "string")), 1, delimiter=",", header=True)
    assert compatible([wide, four])  # 3 of 4 columns
    assert not compatible([CSV_AB, CSV_XY])
    assert not compatible([CSV_AB, JSON_AB])  # formats differ


@pytest.mark.parametrize(
    ("key", "patterns", "expected"),
    [
        ("a.csv", ("*.csv",), True),
        ("sub/a.csv", ("*.csv",), False),  # `*` stays within one level
        ("sub/a.csv", ("**.csv",), True),
        ("archive/2020/x.json", ("archive/**",), True),
        ("live/x.json", ("archive/**",), False),
        ("a.tmp", ("*.{tmp,bak}",), True),
        ("a.bak", ("*.{tmp,bak}",), True),
        ("a1.csv", ("a?.csv",), True),
        ("ab.csv", ("a[!b].csv",), False),
        ("ac.csv", ("a[!b].csv",), True),
    ],
)
def test_exclusion_globs(key: str, patterns: tuple[str, ...], expected: bool) -> None:
    assert excluded(key, patterns) is expected


def test_hidden_empty_and_marker_objects_are_skipped() -> None:
    assert skipped("_SUCCESS", 10)
    assert skipped("p=1/.part-0.crc", 10)
    assert skipped("_temporary/0/part", 10)
    assert skipped("data_$folder$", 10)
    assert skipped("a.csv", 0)
    assert not skipped("p=1/part-0.csv", 10)


def test_table_names_and_paths() -> None:
    assert table_name("Sales-2024.v2", "raw_") == "raw_sales_2024_v2"
    assert S3Path.parse("s3://bucket").folder == ""
    assert S3Path.parse("s3://bucket/a/b").folder == "a/b/"
