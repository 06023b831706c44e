"""The AWS data path on tule, end to end: Kinesis -> Lambda -> Firehose -> Parquet in S3 ->
Glue crawler -> Athena SQL.

Against a temporary tule server (or $TULE_ENDPOINT): click events go into a two-shard Kinesis
stream and are read back from each shard; a Firehose delivery stream reads that stream, runs
each batch through a Lambda function that tags every click, converts the JSON to Parquet with a
Glue table's schema and writes it to S3; a crawler finds the Parquet and Athena answers SQL on
it.
"""

from __future__ import annotations

import io
import json
import time
import zipfile

from quickstart import clients, run

ROLE = "arn:aws:iam::000000000000:role/demo"
PAGES = ("home", "search", "cart", "checkout")

# A Firehose transform: every record gets a `source` field; events without a page are dropped.
TRANSFORM = """
import base64, json

def handler(event, context):
    out = []
    for r in event["records"]:
        click = json.loads(base64.b64decode(r["data"]))
        if not click.get("page"):
            out.append({"recordId": r["recordId"], "result": "Dropped"})
            continue
        click["source"] = context.function_name
        data = base64.b64encode(json.dumps(click).encode()).decode()
        out.append({"recordId": r["recordId"], "result": "Ok", "data": data})
    return {"records": out}
"""


def zipped(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("transform.py", source)
    return buf.getvalue()


def poll(describe, done, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        answer = describe()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def tour(endpoint: str) -> None:
    make = clients(endpoint)
    s3, kinesis, lam, glue = make("s3"), make("kinesis"), make("lambda"), make("glue")
    firehose, athena = make("firehose"), make("athena")
    suffix = int(time.time())
    bucket, stream = f"lake-{suffix}", f"clicks-{suffix}"
    s3.create_bucket(Bucket=bucket)

    kinesis.create_stream(StreamName=stream, ShardCount=2)
    clicks = [
        {"user": f"u{i % 7}", "page": PAGES[i % 4] if i % 10 else "", "ms": 20 + (i * 37) % 101}
        for i in range(200)
    ]
    for start in range(0, len(clicks), 100):
        kinesis.put_records(
            StreamName=stream,
            Records=[
                {"Data": json.dumps(c).encode(), "PartitionKey": c["user"]}
                for c in clicks[start : start + 100]
            ],
        )
    counts = {}
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        counts[shard["ShardId"]] = len(kinesis.get_records(ShardIterator=it)["Records"])
    print(f"1. Kinesis {stream}: 200 clicks in, read back per shard {counts}")

    fn = lam.create_function(
        FunctionName=f"tag-clicks-{suffix}",
        Runtime="python3.11",
        Role=ROLE,
        Handler="transform.handler",
        Code={"ZipFile": zipped(TRANSFORM)},
    )
    print(f"2. Lambda {fn['FunctionName']} created ({fn['CodeSize']} bytes of code)")

    glue.create_database(DatabaseInput={"Name": "web"})
    columns = [("user", "string"), ("page", "string"), ("ms", "int"), ("source", "string")]
    glue.create_table(
        DatabaseName="web",
        TableInput={
            "Name": "click_schema",
            "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t in columns]},
        },
    )
    firehose.create_delivery_stream(
        DeliveryStreamName=f"to-lake-{suffix}",
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={
            "KinesisStreamARN": f"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}",
            "RoleARN": ROLE,
        },
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "clicks/",
            "ErrorOutputPrefix": "errors/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "Lambda",
                        "Parameters": [
                            {"ParameterName": "LambdaArn", "ParameterValue": fn["FunctionArn"]},
                            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "0"},
                        ],
                    }
                ],
            },
            "DataFormatConversionConfiguration": {
                "Enabled": True,
                "SchemaConfiguration": {
                    "RoleARN": ROLE,
                    "DatabaseName": "web",
                    "TableName": "click_schema",
                },
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}},
            },
        },
    )
    listing = poll(
        lambda: s3.list_objects_v2(Bucket=bucket, Prefix="clicks/"),
        lambda page: page.get("KeyCount", 0) > 0,
    )
    keys = [o["Key"] for o in listing.get("Contents", [])]
    print(f"3. Firehose read the stream, transformed and converted: {keys}")

    glue.create_crawler(
        Name=f"crawl-{suffix}",
        Role=ROLE,
        DatabaseName="web",
        Targets={"S3Targets": [{"Path": f"s3://{bucket}/clicks/"}]},
    )
    glue.start_crawler(Name=f"crawl-{suffix}")
    poll(
        lambda: glue.get_crawler(Name=f"crawl-{suffix}")["Crawler"],
        lambda c: c["State"] == "READY" and "LastCrawl" in c,
    )
    table = glue.get_table(DatabaseName="web", Name="clicks")["Table"]
    found = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    print(f"4. Glue crawler found table web.clicks: {found}")

    query = athena.start_query_execution(
        QueryString="SELECT page, count(*) AS clicks, round(avg(ms), 1) AS avg_ms "
        "FROM clicks GROUP BY page ORDER BY clicks DESC",
        QueryExecutionContext={"Database": "web"},
        ResultConfiguration={"OutputLocation": f"s3://{bucket}/athena/"},
    )["QueryExecutionId"]
    state = poll(
        lambda: athena.get_query_execution(QueryExecutionId=query)["QueryExecution"],
        lambda q: q["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"),
    )
    rows = athena.get_query_results(QueryExecutionId=query)["ResultSet"]["Rows"]
    table_rows = [[d.get("VarCharValue") for d in r["Data"]] for r in rows]
    print(f"5. Athena {state['Status']['State']}: {table_rows}")


if __name__ == "__main__":
    run(tour)
