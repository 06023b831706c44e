"""A short tour of tule through boto3: S3, CloudWatch Logs, STS and a SageMaker training job,
for real.

Starts a tule server in this process with a temporary data directory (or uses the one at
$TULE_ENDPOINT, e.g. http://127.0.0.1:4566 after `make run`), then shows each service working.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
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

    train_xgboost(make, s3, bucket)


def train_xgboost(make, s3, bucket: str) -> None:
    """A real XGBoost training job through the SageMaker API: y = 3a - 2b, learned from CSV."""
    rows = []
    for i in range(400):
        a, b = (i * 37 % 101) / 50 - 1, (i * 53 % 97) / 48 - 1
        rows.append(f"{3 * a - 2 * b:.4f},{a:.4f},{b:.4f}")
    s3.put_object(Bucket=bucket, Key="xgb/train.csv", Body="\n".join(rows).encode())
    sm = make("sagemaker")
    name = f"demo-xgboost-{int(time.time())}"
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn="arn:aws:iam::000000000000:role/demo",
        AlgorithmSpecification={
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "TrainingInputMode": "File",
        },
        HyperParameters={"objective": "reg:squarederror", "num_round": "50"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/xgb/"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
    )
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    job = sm.describe_training_job(TrainingJobName=name)
    steps = " -> ".join(t["Status"] for t in job["SecondaryStatusTransitions"])
    print(f"SageMaker: {name} {job['TrainingJobStatus']} ({steps})")
    metrics = {m["MetricName"]: round(m["Value"], 4) for m in job["FinalMetricDataList"]}
    print(f"SageMaker: metrics {metrics}")
    print(f"SageMaker: model at {job['ModelArtifacts']['S3ModelArtifacts']}")


def run(tour: Callable[[str], None]) -> None:
    """`tour(endpoint)` against $TULE_ENDPOINT, or a server started here with temporary data."""
    endpoint = os.environ.get("TULE_ENDPOINT")
    with ExitStack() as stack:
        if endpoint is None:
            data = stack.enter_context(tempfile.TemporaryDirectory())
            endpoint = stack.enter_context(TuleServer(data)).endpoint_url
            print(f"started tule at {endpoint} with data in {data}")
        tour(endpoint)


if __name__ == "__main__":
    run(tour)
