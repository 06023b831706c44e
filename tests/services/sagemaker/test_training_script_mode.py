"""Script mode through boto3: a user's script run as a framework image runs it, with the
toolkit's environment, hyperparameters as arguments, requirements, stop, MaxRuntime and
checkpoints."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import time
from typing import Any

from sagemaker_helpers import SKLEARN_IMAGE, channel, create_job, wait_for

from tule.testing import TuleServer

TRAIN_SCRIPT = textwrap.dedent(
    """
    import argparse, json, os, pickle
    import numpy as np
    from sklearn.linear_model import LinearRegression

    parser = argparse.ArgumentParser()
    parser.add_argument("--fit-intercept", type=str, default="True")
    parser.add_argument("--note", type=str, default="")
    args = parser.parse_args()
    data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"), delimiter=",")
    fit_intercept = args.fit_intercept == "True"
    model = LinearRegression(fit_intercept=fit_intercept).fit(data[:, 1:], data[:, 0])
    print(f"score: {model.score(data[:, 1:], data[:, 0]):.4f}")
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    os.makedirs(os.environ["SM_OUTPUT_DATA_DIR"], exist_ok=True)
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "env.json"), "w") as f:
        json.dump({k: v for k, v in os.environ.items() if k.startswith(("SM_", "TRAINING_JOB"))}
                  | {"note": args.note, "MY_VAR": os.environ.get("MY_VAR")}, f)
    """
)


def _sourcedir(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _script_job(
    sm: Any,
    s3: Any,
    bucket: str,
    files: dict[str, str],
    hps: dict[str, Any] | None = None,
    channels: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> str:
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=_sourcedir(files))
    hyperparameters = {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
        "sagemaker_region": json.dumps("us-east-1"),
    } | {k: json.dumps(v) for k, v in (hps or {}).items()}
    return create_job(sm, bucket, SKLEARN_IMAGE, channels or [], hyperparameters, **extra)


def _tar_member(s3: Any, uri: str, member: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return tar.extractfile(member).read()


def test_sklearn_script_trains_with_toolkit_environment(
    sm: Any, s3: Any, logs: Any, bucket: str
) -> None:
    rows = "\n".join(f"{2 * i + 1},{i}" for i in range(20))
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=rows.encode())
    name = _script_job(
        sm,
        s3,
        bucket,
        {"train.py": TRAIN_SCRIPT, "requirements.txt": "numpy\n"},
        {"fit-intercept": True, "note": "hello"},
        [channel("train", f"s3://{bucket}/data/", "text/csv")],
        Environment={"MY_VAR": "from-environment"},
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model_uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    import pickle

    model = pickle.loads(_tar_member(s3, model_uri, "model.pkl"))
    assert abs(model.coef_[0] - 2.0) < 1e-6
    env = json.loads(
        _tar_member(s3, model_uri.replace("model.tar.gz", "output.tar.gz"), "env.json")
    )
    assert env["note"] == "hello"
    assert env["MY_VAR"] == "from-environment"
    assert env["TRAINING_JOB_NAME"] == name
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert json.loads(env["SM_HPS"]) == {"fit-intercept": True, "note": "hello"}
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
    )["logStreams"]
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamName=streams[0]["logStreamName"],
        startFromHead=True,
    )["events"]
    assert any(e["message"] == "score: 1.0000" for e in events)


def test_user_metric_definitions_become_final_metrics_and_a_series(
    server: TuleServer, sm: Any, s3: Any, bucket: str
) -> None:
    script = "for i in range(3):\n    print(f'epoch {i} loss={1.0 / (i + 1):.3f}', flush=True)\n"
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=_sourcedir({"train.py": script}))
    name = create_job(
        sm,
        bucket,
        SKLEARN_IMAGE,
        [],
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
        },
    )
    # MetricDefinitions ride on AlgorithmSpecification: recreate with them.
    sm.create_training_job(
        **{
            **{
                k: v
                for k, v in sm.describe_training_job(TrainingJobName=name).items()
                if k in ("RoleArn", "HyperParameters", "OutputDataConfig", "ResourceConfig")
            },
            "TrainingJobName": name + "-m",
            "AlgorithmSpecification": {
                "TrainingImage": SKLEARN_IMAGE,
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
            },
        }
    )
    job = wait_for(sm, name + "-m")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("loss", 0.333)]
    series = server.app.domains["sagemaker"].training_jobs.metric_series(
        "000000000000", "us-east-1", name + "-m"
    )
    assert [(n, v) for n, v, _ in series] == [("loss", 1.0), ("loss", 0.5), ("loss", 0.333)]


def test_failing_script_reports_its_failure_file(sm: Any, s3: Any, bucket: str) -> None:
    script = (
        "import os\n"
        "open(os.path.join(os.environ['SM_OUTPUT_DIR'], 'failure'), 'w').write('bad input: x')\n"
        "raise SystemExit(3)\n"
    )
    name = _script_job(sm, s3, bucket, {"train.py": script})
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "bad input: x"


def test_crashing_script_names_the_exit_code(sm: Any, s3: Any, bucket: str) -> None:
    name = _script_job(sm, s3, bucket, {"train.py": "raise SystemExit(7)\n"})
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert "exit code 7" in job["FailureReason"]


def test_stop_training_job_stops_within_seconds(sm: Any, s3: Any, bucket: str) -> None:
    script = "import time\nprint('started', flush=True)\ntime.sleep(600)\n"
    name = _script_job(sm, s3, bucket, {"train.py": script})
    deadline = time.monotonic() + 60
    while sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sm.stop_training_job(TrainingJobName=name)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    started = time.monotonic()
    job = wait_for(sm, name, timeout=30)
    assert time.monotonic() - started < 10
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses[-2:] == ["Stopping", "Stopped"]


def test_max_runtime_is_enforced(sm: Any, s3: Any, bucket: str) -> None:
    script = "import time\ntime.sleep(600)\n"
    name = _script_job(sm, s3, bucket, {"train.py": script}, max_runtime=1)
    job = wait_for(sm, name, timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")


def test_checkpoints_sync_both_ways_and_a_new_job_resumes(sm: Any, s3: Any, bucket: str) -> None:
    # The script finds its checkpoint folder under /opt/ml, as on SageMaker: tule maps
    # /opt/ml paths in Environment and hyperparameters onto the job's workspace.
    script = textwrap.dedent(
        """
        import os
        path = os.path.join(os.environ["CKPT_DIR"], "step.txt")
        step = int(open(path).read()) if os.path.exists(path) else 0
        print(f"resumed from {step}", flush=True)
        open(path, "w").write(str(step + 1))
        """
    )
    config = {"S3Uri": f"s3://{bucket}/checkpoints/run", "LocalPath": "/opt/ml/checkpoints"}
    for expected in ("1", "2"):
        name = _script_job(
            sm,
            s3,
            bucket,
            {"train.py": script},
            CheckpointConfig=config,
            Environment={"CKPT_DIR": "/opt/ml/checkpoints"},
        )
        job = wait_for(sm, name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        body = s3.get_object(Bucket=bucket, Key="checkpoints/run/step.txt")["Body"].read()
        assert body.decode() == expected
        assert job["CheckpointConfig"] == config


def test_xgboost_image_with_a_program_runs_the_script(sm: Any, s3: Any, bucket: str) -> None:
    # The XGBoost image is a built-in and a framework: `sagemaker_program` picks script mode.
    script = (
        "import os, xgboost\n"
        "open(os.path.join(os.environ['SM_MODEL_DIR'], 'version.txt'), 'w')"
        ".write(xgboost.__version__)\n"
    )
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=_sourcedir({"train.py": script}))
    name = create_job(
        sm,
        bucket,
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        [],
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
        },
    )
    job = wait_for(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    version = _tar_member(s3, job["ModelArtifacts"]["S3ModelArtifacts"], "version.txt")
    assert version.decode().count(".") >= 1
