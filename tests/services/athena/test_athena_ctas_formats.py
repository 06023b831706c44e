"""CREATE TABLE AS SELECT in JSON and TEXTFILE: files written (GZIP unless asked otherwise),
the table registered with its format's SerDe, and read back equal to its source; INSERT INTO
such tables writes their own format (a Hive text value holding the delimiter splits, as Hive's
LazySimpleSerDe writes it unescaped)."""

from __future__ import annotations

import gzip
import itertools
from typing import Any

import pyarrow as pa
import pytest
from athena_helpers import LAKE, create_parquet_table, failure, parquet_bytes, query, run

SOURCE = "SELECT id, name, price, day, flag FROM ctas_src"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
_names = itertools.count()
ROWS = [
    ["1", "plain", "1.5", "2024-01-02", "true"],
    ["2", "with, comma", None, "2024-01-03", "false"],
    ["3", None, "2.25", None, None],
]


@pytest.fixture(scope="module")
def source(s3: Any, glue: Any) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": ["plain", "with, comma", None],
            "price": [1.5, None, 2.25],
            "day": pa.array(["2024-01-02", "2024-01-03", None]).cast(pa.date32()),
            "flag": [True, False, None],
            "tags": [["a"], [], None],
        }
    )
    s3.put_object(Bucket=LAKE, Key="ctas_src/part.parquet", Body=parquet_bytes(table))
    create_parquet_table(
        glue,
        "ctas_src",
        f"s3://{LAKE}/ctas_src/",
        [
            ("id", "bigint"),
            ("name", "string"),
            ("price", "double"),
            ("day", "date"),
            ("flag", "boolean"),
            ("tags", "array<string>"),
        ],
    )


def files_of(s3: Any, location: str) -> list[str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return [o["Key"] for o in listed]


def body(s3: Any, location: str, key: str) -> bytes:
    bucket = location.removeprefix("s3://").partition("/")[0]
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return gzip.decompress(data) if key.endswith(".gz") else data


@pytest.mark.parametrize(
    ("properties", "serde", "suffix"),
    [
        ("format = 'JSON'", JSON_SERDE, ".json.gz"),
        (
            "format = 'JSON', write_compression = 'NONE'",
            "org.openx.data.jsonserde.JsonSerDe",
            ".json",
        ),
        ("format = 'TEXTFILE'", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", ".gz"),
        (
            "format = 'TEXTFILE', field_delimiter = '|', write_compression = 'NONE'",
            "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            "",
        ),
    ],
)
def test_ctas_writes_the_format_and_reads_back(
    athena: Any, glue: Any, s3: Any, source: None, properties: str, serde: str, suffix: str
) -> None:
    name = f"ctas_{next(_names)}"
    execution = run(athena, f"CREATE TABLE {name} WITH ({properties}) AS {SOURCE}")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    query_id = execution["QueryExecutionId"]
    assert athena.get_query_results(QueryExecutionId=query_id)["UpdateCount"] == 3
    table = glue.get_table(DatabaseName="db", Name=name)["Table"]
    sd = table["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == serde
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    keys = files_of(s3, sd["Location"])
    assert keys and all(
        k.endswith(suffix) and (suffix or "." not in k.rsplit("/", 1)[-1]) for k in keys
    )
    text = body(s3, sd["Location"], keys[0]).decode()
    if "TEXTFILE" in properties:
        delimiter = "|" if "'|'" in properties else "\x01"
        assert sd["SerdeInfo"]["Parameters"]["field.delim"] == delimiter
        assert f"2{delimiter}with, comma{delimiter}\\N" in text  # NULL as \N, nothing quoted
    else:
        assert '"name":"with, comma"' in text
    assert table["Parameters"].get("compressionType") == (
        "gzip" if suffix.endswith(".gz") else None
    )
    got = query(athena, f"SELECT id, name, price, day, flag FROM {name} ORDER BY id")
    assert got[1:] == ROWS


def test_partitioned_json_ctas(athena: Any, glue: Any, source: None) -> None:
    sql = (
        "CREATE TABLE ctas_json_parts WITH (format = 'JSON', partitioned_by = ARRAY['flag']) "
        "AS SELECT id, name, flag FROM ctas_src WHERE flag IS NOT NULL"
    )
    assert run(athena, sql)["Status"]["State"] == "SUCCEEDED"
    parts = glue.get_partitions(DatabaseName="db", TableName="ctas_json_parts")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == ["false", "true"]
    got = query(athena, "SELECT id, name FROM ctas_json_parts WHERE flag = true")
    assert got[1:] == [["1", "plain"]]


def test_json_keeps_nested_columns(athena: Any, source: None) -> None:
    sql = "CREATE TABLE ctas_json_nested WITH (format = 'JSON') AS SELECT id, tags FROM ctas_src"
    assert run(athena, sql)["Status"]["State"] == "SUCCEEDED"
    got = query(athena, "SELECT id, tags FROM ctas_json_nested ORDER BY id")
    assert got[1:] == [["1", "[a]"], ["2", "[]"], ["3", None]]


@pytest.mark.parametrize(
    ("properties", "select", "reason"),
    [
        (
            "format = 'TEXTFILE'",
            "SELECT id, tags FROM ctas_src",
            "NOT_SUPPORTED: line 1:1: TEXTFILE tables with array, map or row columns are not "
            "supported in tule",
        ),
        (
            "format = 'ORC'",
            SOURCE,
            "NOT_SUPPORTED: line 1:1: CTAS format ORC is not supported in tule",
        ),
        (
            "format = 'JSON', write_compression = 'SNAPPY'",
            SOURCE,
            "INVALID_TABLE_PROPERTY: Compression SNAPPY is not supported for JSON",
        ),
    ],
)
def test_formats_tule_cannot_write_fail_clearly(
    athena: Any, glue: Any, source: None, properties: str, select: str, reason: str
) -> None:
    name = f"ctas_bad_{next(_names)}"
    assert failure(athena, f"CREATE TABLE {name} WITH ({properties}) AS {select}") == reason
    assert name not in [t["Name"] for t in glue.get_tables(DatabaseName="db")["TableList"]]


def test_insert_into_json_and_text_tables_writes_their_format(
    athena: Any, s3: Any, glue: Any, source: None
) -> None:
    sql = (
        "CREATE TABLE ins_json WITH (format = 'JSON') AS SELECT id, name FROM ctas_src WHERE id = 1"
    )
    assert run(athena, sql)["Status"]["State"] == "SUCCEEDED"
    inserted = run(athena, "INSERT INTO ins_json SELECT id, name FROM ctas_src WHERE id > 1")
    assert inserted["Status"]["State"] == "SUCCEEDED", inserted["Status"]
    assert query(athena, "SELECT id, name FROM ins_json ORDER BY id")[1:] == [
        [r[0], r[1]] for r in ROWS
    ]
    location = glue.get_table(DatabaseName="db", Name="ins_json")["Table"]["StorageDescriptor"][
        "Location"
    ]
    assert len([k for k in files_of(s3, location) if k.endswith(".json.gz")]) == 2

    s3.put_object(Bucket=LAKE, Key="ins_text/part-0", Body=b"1,one\n")
    ddl = (
        "CREATE EXTERNAL TABLE ins_text (id bigint, word string) ROW FORMAT DELIMITED "
        f"FIELDS TERMINATED BY ',' LOCATION 's3://{LAKE}/ins_text/'"
    )
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    inserted = run(athena, "INSERT INTO ins_text SELECT id + 1, name FROM ctas_src")
    assert inserted["Status"]["State"] == "SUCCEEDED", inserted["Status"]
    got = query(athena, "SELECT id, word FROM ins_text ORDER BY id")
    assert got[1:] == [["1", "one"], ["2", "plain"], ["3", "with"], ["4", None]]
    new = [k for k in files_of(s3, f"s3://{LAKE}/ins_text/") if k != "ins_text/part-0"]
    assert body(s3, f"s3://{LAKE}/ins_text/", new[0]).decode().splitlines()[0] == "2,plain"


def test_insert_into_a_text_table_with_a_header_line_is_refused(athena: Any, source: None) -> None:
    ddl = (
        "CREATE EXTERNAL TABLE ins_headed (id bigint) ROW FORMAT DELIMITED FIELDS TERMINATED BY "
        f"',' LOCATION 's3://{LAKE}/ins_headed/' TBLPROPERTIES ('skip.header.line.count'='1')"
    )
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    assert failure(athena, "INSERT INTO ins_headed SELECT id FROM ctas_src").startswith(
        "NOT_SUPPORTED: line 1:1: INSERT INTO is supported for Parquet, JSON and Hive text"
    )
