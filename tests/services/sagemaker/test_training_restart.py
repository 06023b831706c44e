"""A server killed in the middle of a training job: when it comes back, that job is Failed
("interrupted by a restart of the server"), everything else is intact, the worker did not
outlive the server, and a new job with the same CheckpointConfig resumes from its checkpoints."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from sagemaker_helpers import ROLE, SKLEARN_IMAGE, wait_for

from tule.testing.server import free_port

SCRIPT = textwrap.dedent(
    """
    import os, time
    ckpt = os.environ["CKPT_DIR"]
    path = os.path.join(ckpt, "step.txt")
    step = int(open(path).read()) if os.path.exists(path) else 0
    print(f"resumed from {step}", flush=True)
    open(os.path.join(ckpt, "pid"), "w").write(str(os.getpid()))
    open(path, "w").write(str(step + 1))
    if os.environ.get("SLEEP"):
        time.sleep(600)
    """
)


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tule.cli.main",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--fsync",
                "off",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_tule/health", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}),
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def _create(sm: Any, name: str, bucket: str, sleep: bool) -> None:
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
        },
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        CheckpointConfig={"S3Uri": f"s3://{bucket}/ckpt", "LocalPath": "/opt/ml/checkpoints"},
        Environment={"CKPT_DIR": "/opt/ml/checkpoints", **({"SLEEP": "1"} if sleep else {})},
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is as good as gone
        return f.read().split()[2] != "Z"


def test_sigkill_mid_job_fails_it_on_restart_and_a_new_job_resumes(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        s3.create_bucket(Bucket="restart-bucket")
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            info = tarfile.TarInfo("train.py")
            info.size = len(SCRIPT.encode())
            tar.addfile(info, io.BytesIO(SCRIPT.encode()))
        s3.put_object(Bucket="restart-bucket", Key="code/sourcedir.tar.gz", Body=archive.getvalue())
        _create(sm, "first", "restart-bucket", sleep=True)
        deadline = time.monotonic() + 60
        while True:  # the checkpoint sync has uploaded the worker's first checkpoint
            listed = s3.list_objects_v2(Bucket="restart-bucket", Prefix="ckpt/").get("Contents", [])
            if {o["Key"] for o in listed} >= {"ckpt/step.txt", "ckpt/pid"}:
                break
            assert time.monotonic() < deadline, "no checkpoint was uploaded"
            time.sleep(0.1)
        pid = int(s3.get_object(Bucket="restart-bucket", Key="ckpt/pid")["Body"].read())
        server.kill()
        deadline = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < deadline, "the worker outlived the server"
            time.sleep(0.05)

        server = Server(tmp_path / "data").start()
        s3, sm = server.client("s3"), server.client("sagemaker")
        job = sm.describe_training_job(TrainingJobName="first")
        assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
        assert "interrupted by a restart of the server" in job["FailureReason"]
        assert s3.get_object(Bucket="restart-bucket", Key="ckpt/step.txt")["Body"].read() == b"1"

        _create(sm, "second", "restart-bucket", sleep=False)
        second = wait_for(sm, "second", timeout=60)
        assert second["TrainingJobStatus"] == "Completed", second.get("FailureReason")
        assert s3.get_object(Bucket="restart-bucket", Key="ckpt/step.txt")["Body"].read() == b"2"
        logs = server.client("logs")
        stream = logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="second/"
        )["logStreams"][0]["logStreamName"]
        events = logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream, startFromHead=True
        )["events"]
        assert any(e["message"] == "resumed from 1" for e in events)
    finally:
        server.stop()
