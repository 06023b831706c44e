"""Unit tests for what a crawler infers from one file: format, columns, types, header, counts."""

from __future__ import annotations

import bz2
import gzip
import io
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.orc as orc
import pytest
from crawler_helpers import avro_bytes, avro_long, avro_str, json_lines, parquet_bytes

from tule.services.glue.crawlers.classify import JsonOptions, classify
from tule.services.glue.crawlers.csv_infer import CsvOptions, infer_csv, value_type
from tule.services.glue.crawlers.hive_types import Array, Struct, finish, merge, render
from tule.services.glue.crawlers.schema import FileSchema


def schema_of(data: bytes, custom: list[CsvOptions | JsonOptions] | None = None) -> FileSchema:
    found = classify(iter([data]), len(data), custom or [])
    assert found is not None
    return found


def typed(schema: FileSchema) -> list[tuple[str, str]]:
    return [(name, render(finish(t))) for name, t in schema.columns]


# CSV


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", "bigint"),
        ("-7", "bigint"),
        ("3.25", "double"),
        ("1e6", "double"),
        ("true", "boolean"),
        ("FALSE", "boolean"),
        ("2024-01-05", "string"),
        ("abc", "string"),
        ("", None),
        ("99999999999999999999", "string"),  # beyond 64 bits
    ],
)
def test_csv_value_types(value: str, expected: str | None) -> None:
    assert value_type(value) == expected


def test_csv_header_detected_when_data_rows_have_typed_columns() -> None:
    schema = schema_of(b"id,name,price,active\n1,apple,1.5,true\n2,pear,2,false\n")
    assert schema.classification == "csv"
    assert schema.header is True
    assert typed(schema) == [
        ("id", "bigint"),
        ("name", "string"),
        ("price", "double"),
        ("active", "boolean"),
    ]
    assert schema.records == 2  # the header is not a record


def test_csv_of_strings_only_has_no_header_and_generic_column_names() -> None:
    # AWS's rule: a header must differ from the data; all-string data keeps row 1 as data.
    schema = schema_of(b"name,city\nann,paris\nbob,rome\n")
    assert schema.header is False
    assert typed(schema) == [("col0", "string"), ("col1", "string")]
    assert schema.records == 3


def test_csv_without_header_types_every_row() -> None:
    schema = schema_of(b"1,2.5\n3,4\n")
    assert schema.header is False
    assert typed(schema) == [("col0", "bigint"), ("col1", "double")]


def test_csv_mixed_column_becomes_string_and_empty_values_are_ignored() -> None:
    schema = schema_of(b"a,b,c\n1,x,\n2,3,5\n")
    assert typed(schema) == [("a", "bigint"), ("b", "string"), ("c", "bigint")]


@pytest.mark.parametrize("delimiter", [",", "|", "\t", ";"])
def test_csv_delimiters_are_detected(delimiter: str) -> None:
    text = delimiter.join(["id", "score"]) + "\n" + delimiter.join(["1", "0.5"]) + "\n"
    schema = schema_of(text.encode())
    assert schema.delimiter == delimiter
    assert typed(schema) == [("id", "bigint"), ("score", "double")]


def test_csv_header_names_are_lowercased_and_made_unique() -> None:
    schema = schema_of(b"ID,Name,name\n1,a,b\n")
    assert [n for n, _ in schema.columns] == ["id", "name", "name_1"]


def test_csv_quoted_fields_are_noticed() -> None:
    assert schema_of(b'id,name\n1,"Smith, J"\n2,"Doe"\n').quoted is True
    assert schema_of(b"id,name\n1,Smith\n").quoted is False


def test_inconsistent_rows_are_not_csv() -> None:
    assert classify(iter([b"a,b\n1,2,3\n4\n"]), 10) is None


def test_custom_csv_classifier_with_declared_header_and_semicolons() -> None:
    options = CsvOptions(delimiter=";", contains_header="PRESENT", header=("k", "v"))
    schema = schema_of(b"key;value\nx;1\ny;2\n", [options])
    assert schema.delimiter == ";"
    assert schema.header is True
    assert typed(schema) == [("k", "string"), ("v", "bigint")]


def test_custom_csv_classifier_absent_header_keeps_first_row_as_data() -> None:
    options = CsvOptions(delimiter=";", contains_header="ABSENT")
    schema = schema_of(b"a;b\nc;d\n", [options])
    assert schema.header is False
    assert schema.records == 2


def test_custom_csv_classifier_that_does_not_fit_falls_back_to_built_ins() -> None:
    options = CsvOptions(delimiter=";", header=("only",))
    schema = schema_of(b"id,v\n1,2\n", [options])
    assert schema.delimiter == ","


def test_gzip_and_bzip2_text_is_decompressed_and_recorded() -> None:
    data = b"id,v\n1,2.5\n2,3\n"
    assert schema_of(gzip.compress(data)).compression == "gzip"
    assert typed(schema_of(gzip.compress(data))) == [("id", "bigint"), ("v", "double")]
    assert schema_of(bz2.compress(data)).compression == "bzip2"


def test_record_count_of_a_large_file_is_scaled_from_the_sample() -> None:
    row = b"12345,abcdefghij\n"
    data = b"id,name\n" + row * 200_000  # ~3.4 MB, larger than the 1 MiB sample
    schema = schema_of(data)
    assert schema.records == pytest.approx(200_000, rel=0.02)


# JSON


def test_json_lines_nested_objects_and_arrays() -> None:
    data = json_lines(
        {"id": 1, "user": {"name": "ann", "tags": ["a", "b"]}, "score": 1.5, "ok": True},
        {"id": 2, "user": {"name": "bob", "age": 31}, "items": [{"sku": "x", "qty": 2}]},
    )
    schema = schema_of(data)
    assert schema.classification == "json"
    assert typed(schema) == [
        ("id", "int"),
        ("user", "struct<name:string,tags:array<string>,age:int>"),
        ("score", "double"),
        ("ok", "boolean"),
        ("items", "array<struct<sku:string,qty:int>>"),
    ]
    assert schema.json_keys == ("id", "user", "score", "ok", "items")
    assert schema.records == 2


def test_json_numbers_widen_int_to_bigint_to_double() -> None:
    schema = schema_of(json_lines({"a": 1, "b": 1}, {"a": 5_000_000_000, "b": 2.5}))
    assert typed(schema) == [("a", "bigint"), ("b", "double")]


def test_json_column_seen_only_as_null_is_string_and_keys_are_lowercased() -> None:
    schema = schema_of(json_lines({"Name": None}, {"Name": None}))
    assert typed(schema) == [("name", "string")]
    assert schema.json_keys == ("Name",)


def test_json_top_level_array_without_classifier_is_one_array_column() -> None:
    schema = schema_of(b'[{"a": 1}, {"a": 2}]')
    assert typed(schema) == [("array", "array<struct<a:int>>")]


def test_custom_json_classifier_path_selects_records() -> None:
    data = b'{"meta": {}, "rows": [{"a": 1, "b": "x"}, {"a": 2}]}'
    schema = schema_of(data, [JsonOptions("$.rows[*]", "rows")])
    assert typed(schema) == [("a", "int"), ("b", "string")]
    assert schema.records == 2
    assert schema.classifier == "rows"


def test_type_merge_rules() -> None:
    assert merge("int", "bigint") == "bigint"
    assert merge("bigint", "double") == "double"
    assert merge("boolean", "int") == "string"
    assert merge("decimal(10,2)", "decimal(12,4)") == "decimal(12,4)"
    assert merge(Struct((("a", "int"),)), Struct((("b", "string"),))) == Struct(
        (("a", "int"), ("b", "string"))
    )
    assert render(finish(Array(None))) == "array<string>"


# Columnar


def _arrow_sample() -> pa.Table:
    return pa.table(
        {
            "i32": pa.array([1, 2], pa.int32()),
            "i64": pa.array([1, 2], pa.int64()),
            "f32": pa.array([1.0, 2.0], pa.float32()),
            "f64": pa.array([1.0, 2.0], pa.float64()),
            "dec": pa.array([Decimal("1.23"), Decimal("4.56")], pa.decimal128(10, 2)),
            "ts": pa.array([datetime(2024, 1, 1), datetime(2024, 1, 2)], pa.timestamp("ms")),
            "day": pa.array([date(2024, 1, 1), date(2024, 1, 2)], pa.date32()),
            "s": ["x", "y"],
            "flag": [True, False],
            "raw": pa.array([b"a", b"b"], pa.binary()),
            "nested": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
            "list": [[1, 2], [3]],
        }
    )


EXPECTED_COLUMNAR = [
    ("i32", "int"),
    ("i64", "bigint"),
    ("f32", "float"),
    ("f64", "double"),
    ("dec", "decimal(10,2)"),
    ("ts", "timestamp"),
    ("day", "date"),
    ("s", "string"),
    ("flag", "boolean"),
    ("raw", "binary"),
    ("nested", "struct<a:bigint,b:string>"),
    ("list", "array<bigint>"),
]


def test_parquet_types_map_to_hive_types() -> None:
    table = _arrow_sample().append_column(
        "m", pa.array([[("k", 1.0)], []], pa.map_(pa.string(), pa.float64()))
    )
    schema = schema_of(parquet_bytes(table))
    assert schema.classification == "parquet"
    assert schema.compression == "none"
    assert typed(schema) == [*EXPECTED_COLUMNAR, ("m", "map<string,double>")]
    assert schema.records == 2


def test_orc_types_map_to_hive_types() -> None:
    buffer = io.BytesIO()
    orc.write_table(_arrow_sample(), buffer)
    schema = schema_of(buffer.getvalue())
    assert schema.classification == "orc"
    assert typed(schema) == EXPECTED_COLUMNAR
    assert schema.records == 2


def test_avro_schema_and_record_count_come_from_the_container() -> None:
    avro_schema = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "name", "type": ["null", "string"]},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
            },
            {"name": "tags", "type": {"type": "array", "items": "string"}},
        ],
    }
    row = [avro_long(7), avro_long(1) + avro_str("x"), avro_str("\x01"), avro_long(0)]
    schema = schema_of(avro_bytes(avro_schema, [row, row, row]))
    assert schema.classification == "avro"
    assert typed(schema) == [
        ("id", "bigint"),
        ("name", "string"),
        ("amount", "decimal(9,2)"),
        ("tags", "array<string>"),
    ]
    assert schema.records == 3
    assert schema.avro_schema is not None and '"name": "id"' in schema.avro_schema


def test_binary_garbage_is_unclassified() -> None:
    assert classify(iter([bytes(range(256)) * 4]), 1024) is None
    assert infer_csv("just one line\n", True) is None
