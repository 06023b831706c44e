"""A short tour of tule through boto3: S3, CloudWatch Logs and STS, for real.

Starts a tule server in this process with a temporary data directory (or uses the one at
$TULE_ENDPOINT, e.g. http://127.0.0.1:4566 after `make run`), then shows each service working.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack

import boto3

from tule.testing import TuleServer


def clients(endpoint: str):
    def make(service: str):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        )

    return make


def tour(endpoint: str) -> None:
    make = clients(endpoint)
    who = make("sts").get_caller_identity()
    print(f"STS: account {who['Account']}, caller {who['Arn']}")

    s3 = make("s3")
    bucket = f"demo-{int(time.time())}"
    s3.create_bucket(Bucket=bucket)
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"train/part-{i}.csv", Body=f"{i},{i * 2}\n".encode())
    s3.put_object(Bucket=bucket, Key="model/README", Body=b"model artefacts go here")
    listing = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    print(f"S3: {bucket} holds prefixes {[p['Prefix'] for p in listing['CommonPrefixes']]}")
    body = s3.get_object(Bucket=bucket, Key="train/part-2.csv")["Body"].read()
    print(f"S3: train/part-2.csv = {body!r}")
    head = s3.head_object(Bucket=bucket, Key="model/README")
    print(f"S3: model/README is {head['ContentLength']} bytes, ETag {head['ETag']}")

    logs = make("logs")
    group = f"/demo/{bucket}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="run-1")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="run-1",
        logEvents=[
            {"timestamp": now + i, "message": f"epoch {i} loss {1 / (i + 1):.3f}"} for i in range(3)
        ],
    )
    events = logs.get_log_events(logGroupName=group, logStreamName="run-1", startFromHead=True)
    print("Logs:", [e["message"] for e in events["events"]])

    try:
        make("sagemaker").list_training_jobs()
    except s3.exceptions.ClientError as err:
        print(f"SageMaker: {err.response['Error']['Code']}: {err.response['Error']['Message']}")


def main() -> None:
    endpoint = os.environ.get("TULE_ENDPOINT")
    with ExitStack() as stack:
        if endpoint is None:
            data = stack.enter_context(tempfile.TemporaryDirectory())
            endpoint = stack.enter_context(TuleServer(data)).endpoint_url
            print(f"started tule at {endpoint} with data in {data}")
        tour(endpoint)


if __name__ == "__main__":
    main()
