"""Format conversion: JSON records to Parquet and ORC with the schema of a Glue table created
through boto3's glue client; records that do not fit go to format-conversion-failed."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest
from firehose_helpers import ROLE, body, keys, s3_destination, unique

from tule.clock import ManualClock
from tule.services.firehose.conversion import Reader, to_table
from tule.services.firehose.glue_types import arrow_schema

COLUMNS = [
    {"Name": "id", "Type": "bigint"},
    {"Name": "name", "Type": "string"},
    {"Name": "score", "Type": "double"},
    {"Name": "ok", "Type": "boolean"},
    {"Name": "at", "Type": "timestamp"},
    {"Name": "price", "Type": "decimal(10,2)"},
    {"Name": "tags", "Type": "array<string>"},
    {"Name": "attrs", "Type": "map<string,int>"},
    {"Name": "geo", "Type": "struct<lat:double,lon:double>"},
]
RECORDS = [
    {
        "ID": 1,
        "Name": "a",
        "score": 1.5,
        "ok": True,
        "at": "2024-01-02T03:04:05Z",
        "price": "12.34",
        "tags": ["x", "y"],
        "attrs": {"k": 1},
        "geo": {"Lat": 1.0, "lon": 2.0},
    },
    {"id": 2, "name": "b", "score": 2, "at": 1704164645, "tags": [], "attrs": {}},
]


def _table(server: Any) -> tuple[str, str]:
    glue = server.client("glue")
    database, table = unique("db").replace("-", "_"), "events"
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(
        DatabaseName=database,
        TableInput={"Name": table, "StorageDescriptor": {"Columns": COLUMNS}},
    )
    return database, table


def _conversion(database: str, table: str, serializer: dict[str, Any]) -> dict[str, Any]:
    return {
        "Enabled": True,
        "SchemaConfiguration": {"RoleARN": ROLE, "DatabaseName": database, "TableName": table},
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": serializer},
    }


@pytest.mark.parametrize(
    "serializer",
    [{"ParquetSerDe": {}}, {"ParquetSerDe": {"Compression": "GZIP"}}, {"OrcSerDe": {}}],
    ids=["parquet-snappy", "parquet-gzip", "orc"],
)
def test_records_become_columnar_files_with_the_glue_schema(
    server: Any,
    firehose: Any,
    s3: Any,
    domain: Any,
    clock: ManualClock,
    bucket: str,
    serializer: dict[str, Any],
) -> None:
    database, table = _table(server)
    name = unique("stream")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=s3_destination(
            bucket,
            Prefix="data/",
            ErrorOutputPrefix="errors/",
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
            DataFormatConversionConfiguration=_conversion(database, table, serializer),
        ),
    )
    records = [json.dumps(r).encode() for r in RECORDS] + [b'{"id": "not a number"}', b"[1]"]
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])
    clock.advance(61)
    domain.flush_due()
    (key,) = keys(s3, bucket, "data/")
    raw = body(s3, bucket, key)
    if "OrcSerDe" in serializer:
        result = orc.ORCFile(io.BytesIO(raw)).read()
        assert pa.types.is_timestamp(result.schema.field("at").type)
        result = result.cast(arrow_schema(COLUMNS))  # ORC keeps timestamps in nanoseconds
    else:
        parquet = pq.ParquetFile(io.BytesIO(raw))
        codec = parquet.metadata.row_group(0).column(0).compression
        assert codec == serializer["ParquetSerDe"].get("Compression", "SNAPPY")
        result = parquet.read()
    assert result.schema.equals(arrow_schema(COLUMNS))
    rows = result.to_pylist()
    assert rows[0]["id"] == 1 and rows[0]["name"] == "a"  # keys matched case-insensitively
    assert rows[0]["at"] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert rows[0]["price"] == decimal.Decimal("12.34")
    assert rows[0]["attrs"] == [("k", 1)]
    assert rows[0]["geo"] == {"lat": 1.0, "lon": 2.0}
    assert rows[1]["at"] == dt.datetime(2024, 1, 2, 3, 4, 5)  # epoch seconds
    assert rows[1]["ok"] is None and rows[1]["geo"] is None
    (error_key,) = keys(s3, bucket, "errors/")
    assert error_key.startswith("errors/format-conversion-failed/")
    failures = [json.loads(line) for line in body(s3, bucket, error_key).splitlines()]
    assert sorted(base64.b64decode(f["rawData"]) for f in failures) == sorted(records[2:])
    assert set(failures[0]) == {
        "attemptsMade",
        "arrivalTimestamp",
        "lastErrorCode",
        "lastErrorMessage",
        "attemptEndingTimestamp",
        "rawData",
        "sequenceNumber",
        "subSequenceNumber",
        "dataCatalogTable",
    }
    assert failures[0]["dataCatalogTable"]["tableName"] == table


def test_missing_glue_table_sends_every_record_to_the_error_output(
    firehose: Any, s3: Any, domain: Any, clock: ManualClock, bucket: str
) -> None:
    name = unique("stream")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=s3_destination(
            bucket,
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
            DataFormatConversionConfiguration=_conversion("nodb", "notable", {"ParquetSerDe": {}}),
        ),
    )
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b'{"id": 1}'})
    clock.advance(61)
    domain.flush_due()
    (key,) = keys(s3, bucket)
    assert key.startswith("format-conversion-failed/")
    (failure,) = [json.loads(x) for x in body(s3, bucket, key).splitlines()]
    assert failure["lastErrorCode"] == "DataFormatConversion.InvalidSchema"


def test_fast_and_record_by_record_conversion_agree() -> None:
    schema = arrow_schema(COLUMNS)
    records = [json.dumps(r).encode() for r in RECORDS * 50]
    fast, failed = to_table(records, schema, Reader())
    assert failed == []
    # A record spanning two lines forces the record-by-record path for the whole batch.
    slow, failed = to_table([*records, json.dumps(RECORDS[1], indent=1).encode()], schema, Reader())
    assert failed == []
    assert slow.slice(0, len(records)).equals(fast)


def test_openx_options_map_keys_to_columns() -> None:
    schema = pa.schema([("user_id", pa.int64()), ("city", pa.string())])
    reader = Reader.from_config(
        {
            "OpenXJsonSerDe": {
                "ConvertDotsInJsonKeysToUnderscores": True,
                "ColumnToJsonKeyMappings": {"city": "addr.town"},
            }
        }
    )
    table, failed = to_table([b'{"user.id": 7, "addr.town": "Oslo"}'], schema, reader)
    assert failed == [] and table.to_pylist() == [{"user_id": 7, "city": "Oslo"}]
    exact = Reader.from_config({"OpenXJsonSerDe": {"CaseInsensitive": False}})
    table, _ = to_table([b'{"USER_ID": 7, "city": "x"}'], schema, exact)
    assert table.to_pylist() == [{"user_id": None, "city": "x"}]


def test_hive_serde_parses_timestamps_with_its_formats() -> None:
    schema = pa.schema([("at", pa.timestamp("ms"))])
    reader = Reader.from_config({"HiveJsonSerDe": {"TimestampFormats": ["dd/MM/yyyy HH:mm"]}})
    table, failed = to_table([b'{"at": "02/01/2024 03:04"}', b'{"at": "junk"}'], schema, reader)
    assert table.to_pylist() == [{"at": dt.datetime(2024, 1, 2, 3, 4)}]
    assert [i for i, _ in failed] == [1]
    millis = Reader.from_config({"HiveJsonSerDe": {"TimestampFormats": ["millis"]}})
    table, _ = to_table([b'{"at": 1704164645000}'], schema, millis)
    assert table.to_pylist() == [{"at": dt.datetime(2024, 1, 2, 3, 4, 5)}]
