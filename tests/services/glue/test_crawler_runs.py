"""Crawls through boto3: data in S3, StartCrawler, then the tables and partitions in the catalog.

Each test has its own bucket and database on one shared server; `crawl` polls GetCrawler until
the crawl is over (Glue has no crawler waiter).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.orc as orc
import pytest
from crawler_helpers import (
    avro_bytes,
    avro_long,
    columns,
    crawl,
    json_lines,
    make_crawler,
    parquet_bytes,
)

from tule.testing import TuleServer

TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
LAZY = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("crawler-runs"), fsync=False) as shared:
        yield shared


@pytest.fixture(scope="module")
def s3(server: TuleServer) -> Any:
    return server.client("s3")


@pytest.fixture(scope="module")
def glue(server: TuleServer) -> Any:
    return server.client("glue")


@pytest.fixture
def lake(request: pytest.FixtureRequest, s3: Any, glue: Any) -> str:
    """A bucket and a database of the same name, fresh for this test."""
    name = request.node.name.replace("_", "-")[:50].strip("-").lower()
    s3.create_bucket(Bucket=name)
    glue.create_database(DatabaseInput={"Name": name.replace("-", "_")})
    return name


def db(lake: str) -> str:
    return lake.replace("-", "_")


def put(s3: Any, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def tables(glue: Any, database: str) -> dict[str, dict[str, Any]]:
    return {t["Name"]: t for t in glue.get_tables(DatabaseName=database)["TableList"]}


def partitions(glue: Any, database: str, table: str) -> list[dict[str, Any]]:
    found = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
    return sorted(found, key=lambda p: p["Values"])


SALES_2401 = b"id,item,price,paid\n1,apple,1.5,true\n2,pear,2.25,false\n"
SALES_2402 = b"id,item,price,paid\n3,plum,0.5,true\n"


def test_partitioned_csv_folder_becomes_one_table_with_hive_partitions(
    lake: str, s3: Any, glue: Any, server: TuleServer
) -> None:
    put(s3, lake, "sales/year=2024/month=01/part-0.csv", SALES_2401)
    put(s3, lake, "sales/year=2024/month=02/part-0.csv", SALES_2402)
    put(s3, lake, "sales/year=2023/month=12/part-0.csv", SALES_2402)
    make_crawler(glue, "sales-crawler", db(lake), f"s3://{lake}/sales/")

    crawler = crawl(glue, "sales-crawler")

    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    assert crawler["LastCrawl"]["LogGroup"] == "/aws-glue/crawlers"
    assert crawler["LastCrawl"]["LogStream"] == "sales-crawler"
    (table,) = tables(glue, db(lake)).values()
    assert table["Name"] == "sales"
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Owner"] == "owner"
    assert table["Retention"] == 0
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month"]
    assert {k["Type"] for k in table["PartitionKeys"]} == {"string"}
    sd = table["StorageDescriptor"]
    assert columns(table) == [
        ("id", "bigint"),
        ("item", "string"),
        ("price", "double"),
        ("paid", "boolean"),
    ]
    assert sd["Location"] == f"s3://{lake}/sales/"
    assert sd["InputFormat"] == TEXT_INPUT
    assert sd["OutputFormat"] == TEXT_OUTPUT
    assert sd["SerdeInfo"] == {"SerializationLibrary": LAZY, "Parameters": {"field.delim": ","}}
    assert sd["Compressed"] is False
    assert sd["NumberOfBuckets"] == -1
    assert sd["StoredAsSubDirectories"] is False
    size = len(SALES_2401) + 2 * len(SALES_2402)
    expected = {
        "classification": "csv",
        "compressionType": "none",
        "typeOfData": "file",
        "UPDATED_BY_CRAWLER": "sales-crawler",
        "CrawlerSchemaDeserializerVersion": "1.0",
        "CrawlerSchemaSerializerVersion": "1.0",
        "delimiter": ",",
        "columnsOrdered": "true",
        "areColumnsQuoted": "false",
        "skip.header.line.count": "1",
        "recordCount": "4",
        "objectCount": "3",
        "sizeKey": str(size),
        "averageRecordSize": str(size // 4),
    }
    assert table["Parameters"] == expected
    assert sd["Parameters"] == expected
    found = partitions(glue, db(lake), "sales")
    assert [p["Values"] for p in found] == [["2023", "12"], ["2024", "01"], ["2024", "02"]]
    assert found[1]["StorageDescriptor"]["Location"] == f"s3://{lake}/sales/year=2024/month=01/"
    assert found[1]["StorageDescriptor"]["Parameters"]["recordCount"] == "2"
    assert found[1]["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == LAZY

    logs = server.client("logs")
    events = logs.get_log_events(logGroupName="/aws-glue/crawlers", logStreamName="sales-crawler")
    messages = [e["message"] for e in events["events"]]
    prefix = crawler["LastCrawl"]["MessagePrefix"]
    assert all(m.startswith(f"[{prefix}]") for m in messages)
    assert any(f"Created table sales in database {db(lake)}" in m for m in messages)
    assert messages[-1].endswith("Crawler has finished running and is in state READY")
    (metrics,) = glue.get_crawler_metrics(CrawlerNameList=["sales-crawler"])["CrawlerMetricsList"]
    assert (metrics["TablesCreated"], metrics["TablesUpdated"], metrics["TablesDeleted"]) == (
        1,
        0,
        0,
    )


def test_nested_json_lines_give_struct_and_array_columns(lake: str, s3: Any, glue: Any) -> None:
    put(
        s3,
        lake,
        "events/dt=2024-01-01/a.json",
        json_lines(
            {"id": 1, "user": {"name": "ann", "tags": ["x"]}, "items": [{"sku": "a", "qty": 2}]},
            {"id": 2, "user": {"name": "bob", "tags": []}, "items": [], "score": 0.5},
        ),
    )
    put(
        s3,
        lake,
        "events/dt=2024-01-02/b.json",
        json_lines({"id": 3, "user": {"name": "cy"}, "items": [], "flag": True}),
    )
    make_crawler(glue, "events-crawler", db(lake), f"s3://{lake}/events/")
    crawl(glue, "events-crawler")
    table = tables(glue, db(lake))["events"]
    assert columns(table) == [
        ("id", "int"),
        ("user", "struct<name:string,tags:array<string>>"),
        ("items", "array<struct<sku:string,qty:int>>"),
        ("score", "double"),
        ("flag", "boolean"),
    ]
    sd = table["StorageDescriptor"]
    assert sd["InputFormat"] == TEXT_INPUT
    assert sd["SerdeInfo"] == {
        "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
        "Parameters": {"paths": "id,user,items,score,flag"},
    }
    assert table["Parameters"]["classification"] == "json"
    assert table["Parameters"]["recordCount"] == "3"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt"]
    assert [p["Values"] for p in partitions(glue, db(lake), "events")] == [
        ["2024-01-01"],
        ["2024-01-02"],
    ]


def test_parquet_folder_types_formats_and_exact_counts(lake: str, s3: Any, glue: Any) -> None:
    part = pa.table(
        {"id": pa.array([1, 2, 3], pa.int64()), "v": [0.5, 1.5, 2.5], "s": ["a", "b", "c"]}
    )
    put(s3, lake, "metrics/part-0.parquet", parquet_bytes(part))
    put(s3, lake, "metrics/part-1.parquet", parquet_bytes(part.slice(0, 1)))
    put(s3, lake, "metrics/_SUCCESS", b"x")
    make_crawler(glue, "parquet-crawler", db(lake), f"s3://{lake}/metrics/")
    crawl(glue, "parquet-crawler")
    table = tables(glue, db(lake))["metrics"]
    assert columns(table) == [("id", "bigint"), ("v", "double"), ("s", "string")]
    assert table["PartitionKeys"] == []
    sd = table["StorageDescriptor"]
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert sd["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    }
    params = table["Parameters"]
    assert params["classification"] == "parquet"
    assert params["compressionType"] == "none"
    assert params["recordCount"] == "4"
    assert params["objectCount"] == "2"  # _SUCCESS is skipped
    assert "delimiter" not in params


def test_folders_without_key_value_names_are_partition_n(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "logs/2024/01/a.csv", b"id,v\n1,2\n")
    put(s3, lake, "logs/2024/02/a.csv", b"id,v\n3,4\n")
    make_crawler(glue, "logs-crawler", db(lake), f"s3://{lake}/logs/")
    crawl(glue, "logs-crawler")
    table = tables(glue, db(lake))["logs"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["partition_0", "partition_1"]
    found = partitions(glue, db(lake), "logs")
    assert [p["Values"] for p in found] == [["2024", "01"], ["2024", "02"]]
    assert found[0]["StorageDescriptor"]["Location"] == f"s3://{lake}/logs/2024/01/"


def test_incompatible_sub_folders_become_separate_tables(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "data/users/u.csv", b"user_id,name,age\n1,ann,31\n2,bob,40\n")
    put(s3, lake, "data/orders/o.csv", b"order_id,amount,paid,channel\n9,9.5,true,web\n")
    put(s3, lake, "data/clicks/c.json", json_lines({"url": "/a", "n": 1}))
    make_crawler(glue, "split-crawler", db(lake), f"s3://{lake}/data/")
    crawl(glue, "split-crawler")
    found = tables(glue, db(lake))
    assert sorted(found) == ["clicks", "orders", "users"]
    assert found["users"]["StorageDescriptor"]["Location"] == f"s3://{lake}/data/users/"
    assert columns(found["orders"])[0] == ("order_id", "bigint")
    assert found["clicks"]["Parameters"]["classification"] == "json"
    assert all(t["PartitionKeys"] == [] for t in found.values())


def test_gzip_csv_records_compression_type(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "gz/part-0.csv.gz", gzip.compress(b"id,price\n1,2.5\n2,3.5\n"))
    make_crawler(glue, "gz-crawler", db(lake), f"s3://{lake}/gz/")
    crawl(glue, "gz-crawler")
    table = tables(glue, db(lake))["gz"]
    assert table["Parameters"]["compressionType"] == "gzip"
    assert table["StorageDescriptor"]["Parameters"]["compressionType"] == "gzip"
    assert columns(table) == [("id", "bigint"), ("price", "double")]


def test_exclusions_and_table_prefix(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "inbox/a.csv", b"id,v\n1,2\n")
    put(s3, lake, "inbox/notes.txt.tmp", b"id,v\n1,2\n")
    put(s3, lake, "inbox/archive/2020/old.csv", b"id,v\n1,2\n")
    put(s3, lake, "inbox/deep/x/y.tmp", b"id,v\n1,2\n")
    make_crawler(
        glue,
        "prefixed",
        db(lake),
        f"s3://{lake}/inbox/",
        Exclusions=["**.tmp", "archive/**"],
        TablePrefix="raw_",
    )
    crawl(glue, "prefixed")
    found = tables(glue, db(lake))
    assert sorted(found) == ["raw_inbox"]
    assert found["raw_inbox"]["Parameters"]["objectCount"] == "1"
    assert found["raw_inbox"]["PartitionKeys"] == []


def test_recrawl_adds_new_partition_and_new_column_when_updating(
    lake: str, s3: Any, glue: Any
) -> None:
    put(s3, lake, "t/year=2023/p.csv", b"id,a,b,c\n1,2,3,4\n")
    make_crawler(glue, "recrawl", db(lake), f"s3://{lake}/t/")
    crawl(glue, "recrawl")
    # One more column: 4 of 5 columns shared, similar enough to stay one table.
    put(s3, lake, "t/year=2024/p.csv", b"id,a,b,c,note\n5,6,7,8,hi\n")
    crawl(glue, "recrawl")
    table = tables(glue, db(lake))["t"]
    assert columns(table) == [
        ("id", "bigint"),
        ("a", "bigint"),
        ("b", "bigint"),
        ("c", "bigint"),
        ("note", "string"),
    ]
    assert [p["Values"] for p in partitions(glue, db(lake), "t")] == [["2023"], ["2024"]]
    (metrics,) = glue.get_crawler_metrics(CrawlerNameList=["recrawl"])["CrawlerMetricsList"]
    assert (metrics["TablesCreated"], metrics["TablesUpdated"]) == (0, 1)
    versions = glue.get_table_versions(DatabaseName=db(lake), TableName="t")["TableVersions"]
    assert len(versions) == 2


def test_log_update_behavior_leaves_the_table_but_adds_partitions(
    lake: str, s3: Any, glue: Any
) -> None:
    put(s3, lake, "t/year=2023/p.csv", b"id,a,b,c\n1,2,3,4\n")
    make_crawler(
        glue,
        "log-only",
        db(lake),
        f"s3://{lake}/t/",
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
    )
    crawl(glue, "log-only")
    # One more column: 4 of 5 columns shared, similar enough to stay one table.
    put(s3, lake, "t/year=2024/p.csv", b"id,a,b,c,note\n5,6,7,8,hi\n")
    crawl(glue, "log-only")
    table = tables(glue, db(lake))["t"]
    assert [name for name, _ in columns(table)] == ["id", "a", "b", "c"]
    assert table["VersionId"] == "0"
    assert [p["Values"] for p in partitions(glue, db(lake), "t")] == [["2023"], ["2024"]]


def test_crawl_new_folders_only_adds_just_the_new_partition(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "t/day=1/p.csv", b"id,v\n1,2\n")
    make_crawler(
        glue,
        "incremental",
        db(lake),
        f"s3://{lake}/t/",
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
        RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
    )
    crawl(glue, "incremental")
    s3.delete_object(Bucket=lake, Key="t/day=1/p.csv")
    put(s3, lake, "t/day=1/p.csv", b"id,v,extra\n1,2,3\n")  # an old folder: not re-read
    put(s3, lake, "t/day=2/p.csv", b"id,v\n5,6\n")
    crawl(glue, "incremental")
    assert columns(tables(glue, db(lake))["t"]) == [("id", "bigint"), ("v", "bigint")]
    found = partitions(glue, db(lake), "t")
    assert [p["Values"] for p in found] == [["1"], ["2"]]
    assert found[0]["StorageDescriptor"]["Columns"] == [
        {"Name": "id", "Type": "bigint"},
        {"Name": "v", "Type": "bigint"},
    ]


def test_custom_csv_classifier_with_semicolons_and_declared_header(
    lake: str, s3: Any, glue: Any
) -> None:
    glue.create_classifier(
        CsvClassifier={
            "Name": f"{lake}-semi",
            "Delimiter": ";",
            "ContainsHeader": "PRESENT",
            "Header": ["city", "population"],
        }
    )
    put(s3, lake, "cities/c.csv", b"name;people\nparis;2100000\nrome;2800000\n")
    make_crawler(glue, "semi", db(lake), f"s3://{lake}/cities/", Classifiers=[f"{lake}-semi"])
    crawl(glue, "semi")
    table = tables(glue, db(lake))["cities"]
    assert columns(table) == [("city", "string"), ("population", "bigint")]
    assert table["Parameters"]["delimiter"] == ";"
    assert table["Parameters"]["skip.header.line.count"] == "1"
    assert table["StorageDescriptor"]["SerdeInfo"]["Parameters"] == {"field.delim": ";"}


def test_quoted_csv_uses_open_csv_serde(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "people/p.csv", b'id,name\n1,"Smith, J"\n2,"Doe, A"\n')
    make_crawler(glue, "quoted", db(lake), f"s3://{lake}/people/")
    crawl(glue, "quoted")
    table = tables(glue, db(lake))["people"]
    assert table["StorageDescriptor"]["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
        "Parameters": {"separatorChar": ",", "quoteChar": '"'},
    }
    assert table["Parameters"]["areColumnsQuoted"] == "true"
    assert table["Parameters"]["customSerde"] == "OpenCSVSerDe"


def test_missing_database_fails_the_crawl_with_a_message(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "x/a.csv", b"id,v\n1,2\n")
    make_crawler(glue, "no-db", "no_such_database", f"s3://{lake}/x/")
    crawler = crawl(glue, "no-db")
    assert crawler["LastCrawl"]["Status"] == "FAILED"
    assert "no_such_database" in crawler["LastCrawl"]["ErrorMessage"]
    assert crawler["State"] == "READY"


def test_delete_behaviors_for_tables_whose_data_is_gone(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "keep/a.csv", b"id,v\n1,2\n")
    put(s3, lake, "drop/b.json", json_lines({"k": "v"}))
    glue.create_crawler(
        Name="deleter",
        Role="r",
        DatabaseName=db(lake),
        Targets={"S3Targets": [{"Path": f"s3://{lake}/keep/"}, {"Path": f"s3://{lake}/drop/"}]},
    )  # default DeleteBehavior: DEPRECATE_IN_DATABASE
    crawl(glue, "deleter")
    assert sorted(tables(glue, db(lake))) == ["drop", "keep"]
    s3.delete_object(Bucket=lake, Key="drop/b.json")
    crawl(glue, "deleter")
    assert "DEPRECATED_BY_CRAWLER" in tables(glue, db(lake))["drop"]["Parameters"]
    assert "DEPRECATED_BY_CRAWLER" not in tables(glue, db(lake))["keep"]["Parameters"]
    glue.update_crawler(
        Name="deleter",
        SchemaChangePolicy={
            "UpdateBehavior": "UPDATE_IN_DATABASE",
            "DeleteBehavior": "DELETE_FROM_DATABASE",
        },
    )
    crawl(glue, "deleter")
    assert sorted(tables(glue, db(lake))) == ["keep"]
    (metrics,) = glue.get_crawler_metrics(CrawlerNameList=["deleter"])["CrawlerMetricsList"]
    assert metrics["TablesDeleted"] == 1


def test_include_path_naming_one_object_makes_a_table_of_it(lake: str, s3: Any, glue: Any) -> None:
    put(s3, lake, "files/report-2024.csv", b"id,v\n1,2.5\n")
    make_crawler(glue, "one-file", db(lake), f"s3://{lake}/files/report-2024.csv")
    crawl(glue, "one-file")
    table = tables(glue, db(lake))["report_2024_csv"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{lake}/files/report-2024.csv"
    assert columns(table) == [("id", "bigint"), ("v", "double")]


def test_orc_and_avro_folders_get_their_formats_and_serdes(lake: str, s3: Any, glue: Any) -> None:
    buffer = io.BytesIO()
    orc.write_table(pa.table({"id": pa.array([1, 2], pa.int32()), "name": ["a", "b"]}), buffer)
    put(s3, lake, "orc/part-0.orc", buffer.getvalue())
    schema = {"type": "record", "name": "r", "fields": [{"name": "id", "type": "long"}]}
    put(s3, lake, "avro/part-0.avro", avro_bytes(schema, [[avro_long(1)], [avro_long(2)]]))
    glue.create_crawler(
        Name="columnar",
        Role="r",
        DatabaseName=db(lake),
        Targets={"S3Targets": [{"Path": f"s3://{lake}/orc/"}, {"Path": f"s3://{lake}/avro/"}]},
    )
    crawl(glue, "columnar")
    found = tables(glue, db(lake))
    orc_sd = found["orc"]["StorageDescriptor"]
    assert columns(found["orc"]) == [("id", "int"), ("name", "string")]
    assert orc_sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat"
    assert orc_sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat"
    assert (
        orc_sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.orc.OrcSerde"
    )
    assert found["orc"]["Parameters"]["classification"] == "orc"
    assert found["orc"]["Parameters"]["recordCount"] == "2"
    avro_sd = found["avro"]["StorageDescriptor"]
    assert columns(found["avro"]) == [("id", "bigint")]
    assert (
        avro_sd["SerdeInfo"]["SerializationLibrary"]
        == "org.apache.hadoop.hive.serde2.avro.AvroSerDe"
    )
    assert found["avro"]["Parameters"]["classification"] == "avro"


def test_sample_size_reads_that_many_files_per_folder_but_counts_all(
    lake: str, s3: Any, glue: Any, server: TuleServer
) -> None:
    for i in range(4):
        put(s3, lake, f"many/part-{i}.csv", b"id,v\n1,2\n3,4\n")
    read: list[str] = []
    crawlers = server.app.domains["glue"].crawlers
    crawlers.on_file = read.append
    try:
        glue.create_crawler(
            Name="sampled",
            Role="r",
            DatabaseName=db(lake),
            Targets={"S3Targets": [{"Path": f"s3://{lake}/many/", "SampleSize": 1}]},
        )
        crawl(glue, "sampled")
    finally:
        crawlers.on_file = None
    assert read == ["many/part-0.csv"]
    params = tables(glue, db(lake))["many"]["Parameters"]
    assert params["objectCount"] == "4"
    assert params["recordCount"] == "8"  # scaled from the file that was read


def test_table_level_configuration_sets_where_tables_start(lake: str, s3: Any, glue: Any) -> None:
    # Same schema everywhere: without the setting this would be one table `data`.
    for table in ("a", "b"):
        for p in ("1", "2"):
            put(s3, lake, f"data/{table}/p={p}/x.csv", b"id,v\n1,2\n")
    make_crawler(
        glue,
        "levels",
        db(lake),
        f"s3://{lake}/data/",
        Configuration='{"Version": 1.0, "Grouping": {"TableLevelConfiguration": 3}}',
    )
    crawl(glue, "levels")
    found = tables(glue, db(lake))
    assert sorted(found) == ["a", "b"]
    assert [k["Name"] for k in found["a"]["PartitionKeys"]] == ["p"]
