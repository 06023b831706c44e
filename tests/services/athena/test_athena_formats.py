"""Tables in every format Athena reads, declared with CREATE EXTERNAL TABLE (checked in Glue)."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.orc as orc
from athena_helpers import LAKE, query, run


def test_delimited_text_table_skips_header_and_parses_types(
    athena: Any, s3: Any, glue: Any
) -> None:
    s3.put_object(Bucket=LAKE, Key="csv/a.csv", Body=b"id|name|score\n1|ann|1.5\n2||\n")
    s3.put_object(Bucket=LAKE, Key="csv/b.csv", Body=b"id|name|score\n3|cy|x\n")
    s3.put_object(Bucket=LAKE, Key="csv/_SUCCESS", Body=b"ignored")
    ddl = (
        "CREATE EXTERNAL TABLE db.people (id int, name string, score double) "
        "ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' STORED AS TEXTFILE "
        f"LOCATION 's3://{LAKE}/csv/' TBLPROPERTIES ('skip.header.line.count'='1')"
    )
    execution = run(athena, ddl)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["StatementType"] == "DDL"
    table = glue.get_table(DatabaseName="db", Name="people")["Table"]
    serde = table["StorageDescriptor"]["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    assert serde["Parameters"]["field.delim"] == "|"
    assert table["Parameters"]["skip.header.line.count"] == "1"
    got = query(athena, "SELECT id, name, score FROM people ORDER BY id")
    # Empty text in a string column stays empty; unparseable or empty numbers are NULL (Hive).
    assert got[1:] == [["1", "ann", "1.5"], ["2", "", None], ["3", "cy", None]]


def test_opencsv_table_reads_quoted_fields_with_separator_inside(athena: Any, s3: Any) -> None:
    s3.put_object(
        Bucket=LAKE, Key="quoted/data.csv", Body=b'"id","city"\n"1","Paris, France"\n"2","Oslo"\n'
    )
    ddl = (
        "CREATE EXTERNAL TABLE quoted (id string, city string) "
        "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' "
        "WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '\"') "
        f"LOCATION 's3://{LAKE}/quoted/' TBLPROPERTIES ('skip.header.line.count'='1')"
    )
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    got = query(athena, "SELECT id, city FROM quoted ORDER BY id")
    assert got[1:] == [["1", "Paris, France"], ["2", "Oslo"]]


def test_json_table_reads_lines_with_struct_and_array_columns(athena: Any, s3: Any) -> None:
    lines = [
        {"id": 1, "tags": ["a", "b"], "info": {"city": "Rome", "zip": 100}},
        {"id": 2, "tags": [], "info": {"city": "Bern", "zip": 300}},
    ]
    body = gzip.compress("\n".join(json.dumps(x) for x in lines).encode() + b"\n")
    s3.put_object(Bucket=LAKE, Key="json/part.json.gz", Body=body)
    ddl = (
        "CREATE EXTERNAL TABLE events "
        "(id bigint, tags array<string>, info struct<city:string,zip:int>) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{LAKE}/json/'"
    )
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    got = query(
        athena, "SELECT id, cardinality(tags), info.city, info.zip + 1 FROM events ORDER BY id"
    )
    assert got[1:] == [["1", "2", "Rome", "101"], ["2", "0", "Bern", "301"]]


def test_parquet_table_matches_columns_by_name_and_fills_missing_with_null(
    athena: Any, s3: Any, glue: Any
) -> None:
    from athena_helpers import parquet_bytes

    table = pa.table({"B": [2, 3], "A": ["x", "y"]})
    s3.put_object(Bucket=LAKE, Key="pq/f.parquet", Body=parquet_bytes(table))
    ddl = f"CREATE EXTERNAL TABLE pq (a string, b bigint, c double) STORED AS PARQUET LOCATION 's3://{LAKE}/pq/'"
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    stored = glue.get_table(DatabaseName="db", Name="pq")["Table"]["StorageDescriptor"]
    assert stored["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    got = query(athena, "SELECT a, b, c FROM pq ORDER BY b")
    assert got[1:] == [["x", "2", None], ["y", "3", None]]


def test_orc_table_is_read(athena: Any, s3: Any) -> None:
    buf = io.BytesIO()
    orc.write_table(pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3]}), buf)
    s3.put_object(Bucket=LAKE, Key="orc/data.orc", Body=buf.getvalue())
    ddl = f"CREATE EXTERNAL TABLE orc_t (k string, v int) STORED AS ORC LOCATION 's3://{LAKE}/orc/'"
    assert run(athena, ddl)["Status"]["State"] == "SUCCEEDED"
    got = query(athena, "SELECT k, sum(v) FROM orc_t GROUP BY k ORDER BY k")
    assert got[1:] == [["a", "4"], ["b", "2"]]


def test_large_parquet_object_is_read_in_place(
    server: Any, s3: Any, glue: Any, athena: Any
) -> None:
    from athena_helpers import create_parquet_table, parquet_bytes

    body = parquet_bytes(pa.table({"x": list(range(200_000))}))
    assert len(body) > 16 * 1024  # larger than S3 keeps inline: a plain blob file
    s3.put_object(Bucket=LAKE, Key="big/x.parquet", Body=body)
    create_parquet_table(glue, "big", f"s3://{LAKE}/big/", [("x", "bigint")])
    domain = server.app.domains["s3"]
    path = domain.object_file(LAKE, "big/x.parquet")
    assert path is not None and path.read_bytes() == body
    s3.put_object(Bucket=LAKE, Key="small/a.csv", Body=b"1,2\n")
    assert domain.object_file(LAKE, "small/a.csv") is None  # small: inline, copied per query
    assert query(athena, "SELECT sum(x) FROM big")[1] == [str(sum(range(200_000)))]
