"""The SageMaker workflow on tule, end to end, in a few readable lines.

Against a temporary tule server (or $TULE_ENDPOINT): upload a dataset to S3, train two XGBoost
models (different depths), deploy them as two production variants weighted 1:3, invoke the
endpoint and count where requests went, shift all traffic to the second variant, and score a
file with an id column in batch, joining each prediction to its id.
"""

from __future__ import annotations

import io
import time
from collections import Counter

import numpy as np
from quickstart import clients, run

ROLE = "arn:aws:iam::000000000000:role/demo"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def dataset(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    y = (x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3] > 0).astype(float)
    return x, y


def csv(*columns: np.ndarray) -> bytes:
    out = io.StringIO()
    np.savetxt(out, np.column_stack(columns), delimiter=",", fmt="%.5g")
    return out.getvalue().encode()


def train(sm, bucket: str, name: str, depth: int) -> str:
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={
            "objective": "binary:logistic",
            "num_round": "40",
            "max_depth": str(depth),
        },
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train/"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
    )
    return name


def wait(describe, status_key: str, busy: tuple[str, ...], **name) -> dict:
    while True:
        found = describe(**name)
        if found[status_key] not in busy:
            return found
        time.sleep(0.2)


def tour(endpoint: str) -> None:
    make = clients(endpoint)
    s3, sm, runtime = make("s3"), make("sagemaker"), make("sagemaker-runtime")
    bucket = f"tour-{int(time.time())}"
    s3.create_bucket(Bucket=bucket)
    x, y = dataset(2000, seed=1)
    s3.put_object(Bucket=bucket, Key="train/train.csv", Body=csv(y, x))
    print(f"1. uploaded 2000 labelled rows to s3://{bucket}/train/")

    jobs = [train(sm, bucket, f"tour-depth{d}-{bucket[5:]}", d) for d in (2, 6)]
    for job in jobs:
        done = wait(
            sm.describe_training_job,
            "TrainingJobStatus",
            ("InProgress", "Stopping"),
            TrainingJobName=job,
        )
        auc = {m["MetricName"]: m["Value"] for m in done["FinalMetricDataList"]}
        print(f"2. trained {job}: {done['TrainingJobStatus']}, metrics {auc}")
        sm.create_model(
            ModelName=job,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={
                "Image": IMAGE,
                "ModelDataUrl": done["ModelArtifacts"]["S3ModelArtifacts"],
            },
        )

    name = f"tour-{bucket[5:]}"
    variants = [
        {
            "VariantName": v,
            "ModelName": m,
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": w,
        }
        for v, m, w in (("Shallow", jobs[0], 1.0), ("Deep", jobs[1], 3.0))
    ]
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    started = time.monotonic()
    ready = wait(sm.describe_endpoint, "EndpointStatus", ("Creating",), EndpointName=name)
    print(
        f"3. endpoint {name} {ready['EndpointStatus']} in {time.monotonic() - started:.1f} s "
        "with variants Shallow (weight 1) and Deep (weight 3)"
    )

    test_x, test_y = dataset(400, seed=2)
    body = csv(test_x[:1])
    counts = Counter(
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=body)[
            "InvokedProductionVariant"
        ]
        for _ in range(400)
    )
    print(f"4. 400 requests went {dict(counts)}")
    answer = runtime.invoke_endpoint(
        EndpointName=name, ContentType="text/csv", Body=csv(test_x), TargetVariant="Deep"
    )
    scores = np.array([float(v) for v in answer["Body"].read().decode().split()])
    accuracy = float(((scores > 0.5) == test_y).mean())
    print(f"5. the Deep variant scored 400 held-out rows in one request: accuracy {accuracy:.3f}")

    sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[{"VariantName": "Shallow", "DesiredWeight": 0.0}],
    )
    wait(sm.describe_endpoint, "EndpointStatus", ("Updating",), EndpointName=name)
    after = Counter(
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=body)[
            "InvokedProductionVariant"
        ]
        for _ in range(100)
    )
    print(f"6. after setting Shallow's weight to 0, 100 requests went {dict(after)}")

    ids = np.arange(1000, 1400)
    for part in range(2):
        rows = slice(part * 200, (part + 1) * 200)
        s3.put_object(
            Bucket=bucket, Key=f"batch/in/part-{part}.csv", Body=csv(ids[rows], test_x[rows])
        )
    transform = f"tour-batch-{bucket[5:]}"
    sm.create_transform_job(
        TransformJobName=transform,
        ModelName=jobs[1],
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/batch/in/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{bucket}/batch/out",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    )
    job = wait(
        sm.describe_transform_job,
        "TransformJobStatus",
        ("InProgress", "Stopping"),
        TransformJobName=transform,
    )
    outputs = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="batch/out/")["Contents"]
    )
    first = s3.get_object(Bucket=bucket, Key=outputs[0])["Body"].read().decode().splitlines()
    print(
        f"7. batch transform {job['TransformJobStatus']}: {len(outputs)} files {outputs}; "
        f"first lines (id,prediction): {first[:3]}"
    )
    sm.delete_endpoint(EndpointName=name)
    print(f"8. deleted endpoint {name}")


if __name__ == "__main__":
    run(tour)
