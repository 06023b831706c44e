"""The SageMaker Python SDK v2, unchanged, running processing jobs against tule: an
SKLearnProcessor splitting a CSV with pandas and scikit-learn (paths given as arguments), a
ScriptProcessor with command ["python3"] whose script hard-codes /opt/ml paths, and a
FrameworkProcessor, whose runproc.sh unpacks sourcedir.tar.gz and pip-installs its
requirements.txt before running the script.

As in the training scenario, the SDK's own S3 and Logs clients find tule through
AWS_ENDPOINT_URL, the session has a default bucket and a full role ARN, telemetry is off, and
the SDK's log tailer runs on a fast clock.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tule.runtime import container_root
from tule.testing import TuleServer
from tule.testing.sdk import sdk_session

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
sagemaker = pytest.importorskip("sagemaker")
from sagemaker.processing import (  # noqa: E402
    FrameworkProcessor,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
)
from sagemaker.sklearn import SKLearn  # noqa: E402
from sagemaker.sklearn.processing import SKLearnProcessor  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
REGION = "us-east-1"
BUCKET = "sdk-processing"
NEEDS_PRIVATE_ROOT = pytest.mark.skipif(
    container_root.probe() is not None,
    reason=f"the script hard-codes /opt/ml paths: {container_root.probe()}",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuleServer]:
    with TuleServer(tmp_path_factory.mktemp("tule-sdk-processing"), fsync=False) as s:
        s.client("s3").create_bucket(Bucket=BUCKET)
        yield s


@pytest.fixture(scope="module")
def session(server: TuleServer) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        yield sdk_session(server, BUCKET, patch)


def _upload(server: TuleServer, key: str, body: bytes) -> str:
    server.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def _read(server: TuleServer, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def _census(n: int = 50) -> bytes:
    frame = pd.DataFrame(
        {
            "age": range(20, 20 + n),
            "income": [i % 3 for i in range(n)],
            "label": [i % 2 for i in range(n)],
        }
    )
    return frame.to_csv(index=False).encode()


PREPROCESS = textwrap.dedent(
    """
    import argparse, os
    import pandas as pd
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    parser = argparse.ArgumentParser()
    parser.add_argument("--input-dir")
    parser.add_argument("--output-dir")
    parser.add_argument("--test-ratio", type=float)
    args = parser.parse_args()
    frame = pd.read_csv(os.path.join(args.input_dir, "census.csv"))
    train, test = train_test_split(frame, test_size=args.test_ratio, random_state=0)
    scaler = StandardScaler().fit(train[["age"]])
    train = train.assign(age=scaler.transform(train[["age"]]).ravel())
    for name, part in (("train", train), ("test", test)):
        os.makedirs(os.path.join(args.output_dir, name), exist_ok=True)
        part.to_csv(os.path.join(args.output_dir, name, name + ".csv"), index=False)
    print(f"split {len(frame)} rows into {len(train)} train and {len(test)} test")
    """
)


def test_sklearn_processor_splits_a_dataset(
    server: TuleServer, session: Any, tmp_path: Path, capsys: Any
) -> None:
    data = _upload(server, "census/raw/census.csv", _census())
    code = tmp_path / "preprocess.py"
    code.write_text(PREPROCESS)
    processor = SKLearnProcessor(
        framework_version="1.2-1",
        role=ROLE,
        instance_type="ml.m5.xlarge",
        instance_count=1,
        sagemaker_session=session,
        env={"MY_FLAG": "1"},
    )
    processor.run(
        code=str(code),
        inputs=[ProcessingInput(source=data, destination="/opt/ml/processing/input")],
        outputs=[
            ProcessingOutput(
                output_name="train",
                source="/opt/ml/processing/output/train",
                destination=f"s3://{BUCKET}/census/train",
            ),
            ProcessingOutput(output_name="test", source="/opt/ml/processing/output/test"),
        ],
        arguments=[
            *("--input-dir", "/opt/ml/processing/input"),
            *("--output-dir", "/opt/ml/processing/output"),
            *("--test-ratio", "0.2"),
        ],
        wait=True,
        logs=True,
    )
    assert "split 50 rows into 40 train and 10 test" in capsys.readouterr().out
    job = processor.latest_job.describe()
    assert job["ProcessingJobStatus"] == "Completed"
    assert job["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/preprocess.py",
    ]
    train = pd.read_csv(io.BytesIO(_read(server, f"s3://{BUCKET}/census/train/train.csv")))
    assert len(train) == 40
    assert abs(train["age"].mean()) < 1e-9  # scaled by the script's StandardScaler
    # An output without a destination goes where the SDK said it would.
    test_uri = next(
        o["S3Output"]["S3Uri"]
        for o in job["ProcessingOutputConfig"]["Outputs"]
        if o["OutputName"] == "test"
    )
    test = pd.read_csv(io.BytesIO(_read(server, f"{test_uri}/test.csv")))
    assert len(test) == 10


HARD_CODED = textwrap.dedent(
    """
    import json, os
    counts = {}
    for name in sorted(os.listdir("/opt/ml/processing/input/data")):
        with open(os.path.join("/opt/ml/processing/input/data", name)) as f:
            counts[name] = sum(1 for _ in f)
    with open("/opt/ml/processing/output/counts.json", "w") as f:
        json.dump(counts, f)
    with open("/opt/ml/output/message", "w") as f:
        f.write(f"counted {len(counts)} files")
    """
)


@NEEDS_PRIVATE_ROOT
def test_script_processor_runs_a_script_with_hard_coded_paths(
    server: TuleServer, session: Any, tmp_path: Path
) -> None:
    for i in range(3):
        _upload(server, f"counts/in/part-{i}.txt", b"x\n" * (i + 1))
    code = tmp_path / "count.py"
    code.write_text(HARD_CODED)
    processor = ScriptProcessor(
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/my-processing:latest",
        command=["python3"],
        role=ROLE,
        instance_type="ml.m5.large",
        instance_count=1,
        sagemaker_session=session,
    )
    processor.run(
        code=str(code),
        inputs=[
            ProcessingInput(
                source=f"s3://{BUCKET}/counts/in", destination="/opt/ml/processing/input/data"
            )
        ],
        outputs=[
            ProcessingOutput(
                source="/opt/ml/processing/output", destination=f"s3://{BUCKET}/counts/out"
            )
        ],
        wait=True,
        logs=False,
    )
    job = processor.latest_job.describe()
    assert (job["ProcessingJobStatus"], job["ExitMessage"]) == ("Completed", "counted 3 files")
    counts = _read(server, f"s3://{BUCKET}/counts/out/counts.json")
    assert counts == b'{"part-0.txt": 1, "part-1.txt": 2, "part-2.txt": 3}'


FRAMEWORK_SCRIPT = textwrap.dedent(
    """
    import sys
    import helper
    with open("/opt/ml/processing/output/result.txt", "w") as f:
        f.write(helper.shout(sys.argv[1]))
    """
)


@NEEDS_PRIVATE_ROOT
def test_framework_processor_runs_its_runproc_script(
    server: TuleServer, session: Any, tmp_path: Path, capsys: Any
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "process.py").write_text(FRAMEWORK_SCRIPT)
    (source / "helper.py").write_text("def shout(text):\n    return text.upper() + '!'\n")
    # Already installed beside tule: the cached venv satisfies it without the network.
    (source / "requirements.txt").write_text("pandas\n")
    processor = FrameworkProcessor(
        estimator_cls=SKLearn,
        framework_version="1.2-1",
        py_version="py3",
        role=ROLE,
        instance_type="ml.m5.large",
        instance_count=1,
        sagemaker_session=session,
    )
    processor.run(
        code="process.py",
        source_dir=str(source),
        outputs=[
            ProcessingOutput(
                source="/opt/ml/processing/output", destination=f"s3://{BUCKET}/framework/out"
            )
        ],
        arguments=["hello"],
        wait=True,
        logs=True,
    )
    job = processor.latest_job.describe()
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["AppSpecification"]["ContainerEntrypoint"][0] == "/bin/bash"
    assert _read(server, f"s3://{BUCKET}/framework/out/result.txt") == b"HELLO!"
    out = capsys.readouterr().out
    # tule installed requirements.txt in a cached venv first, so runproc.sh's own
    # `python -m pip install -r requirements.txt` found everything there.
    assert "tule: installing requirements.txt" in out
    assert "Requirement already satisfied: pandas" in out.split("Skipping typing")[-1]
