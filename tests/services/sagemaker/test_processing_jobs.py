"""Processing jobs through boto3: the control plane (validation, names, listing, tags, stop,
restart) and real runs: inputs downloaded into LocalPath, the entrypoint run with the local
Python, outputs in S3, ExitMessage, logs in /aws/sagemaker/ProcessingJobs, sharded inputs over
two instances, MaxRuntimeInSeconds, and both ways of reaching /opt/ml (a private mount, or
paths mapped in arguments and environment)."""

from __future__ import annotations

import gzip
import json
import textwrap
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sagemaker_helpers import ROLE, SKLEARN_IMAGE, unique

from tule.clock import SystemClock
from tule.metadata import open_store
from tule.runtime import container_root
from tule.services.sagemaker.processing_jobs import INTERRUPTED_REASON, ProcessingJobs

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
CODE = "/opt/ml/processing/input/code"


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def _s3_input(name: str, uri: str, local: str, **extra: Any) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", **extra},
    }


def _s3_output(name: str, uri: str, local: str, mode: str = "EndOfJob") -> dict[str, Any]:
    return {
        "OutputName": name,
        "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": mode},
    }


def _create(
    sm: Any,
    s3: Any,
    bucket: str,
    script: str | None,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> str:
    """A processing job running `script` as the SDK's ScriptProcessor would: the code uploaded
    to S3 and given as the input `code`, the entrypoint `python3 <CODE>/script.py`."""
    name = extra.pop("name", None) or unique("proc")
    inputs = list(inputs or [])
    app: dict[str, Any] = {"ImageUri": extra.pop("image", SKLEARN_IMAGE)}
    if script is not None:
        key = f"code/{name}/script.py"
        s3.put_object(Bucket=bucket, Key=key, Body=textwrap.dedent(script).encode())
        inputs.append(_s3_input("code", f"s3://{bucket}/{key}", CODE))
        app["ContainerEntrypoint"] = ["python3", f"{CODE}/script.py"]
    if "arguments" in extra:
        app["ContainerArguments"] = extra.pop("arguments")
    if inputs:
        extra["ProcessingInputs"] = inputs
    if outputs:
        extra["ProcessingOutputConfig"] = {"Outputs": outputs}
    sm.create_processing_job(
        ProcessingJobName=name,
        RoleArn=ROLE,
        ProcessingResources={
            "ClusterConfig": {
                "InstanceType": "ml.m5.large",
                "InstanceCount": extra.pop("instance_count", 1),
                "VolumeSizeInGB": 10,
            }
        },
        AppSpecification=app,
        StoppingCondition={"MaxRuntimeInSeconds": extra.pop("max_runtime", 600)},
        **extra,
    )
    return name


def _wait(sm: Any, name: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = sm.describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        assert time.monotonic() < deadline, f"{name} still {job['ProcessingJobStatus']}"
        time.sleep(0.05)


def _body(s3: Any, bucket: str, key: str) -> str:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def _log(logs: Any, name: str) -> dict[str, list[str]]:
    """Stream name -> its lines, for every stream of the job."""
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")
    out = {}
    for stream in streams["logStreams"]:
        events = logs.get_log_events(
            logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=True
        )["events"]
        out[stream["logStreamName"]] = [e["message"] for e in events]
    return out


# -- control plane ----------------------------------------------------------------------------


def test_unknown_job_is_a_validation_exception(sm: Any) -> None:
    for call in (sm.describe_processing_job, sm.stop_processing_job):
        with pytest.raises(ClientError) as exc:
            call(ProcessingJobName="no-such-job")
        assert _error(exc) == ("ValidationException", "Requested resource not found.")


def test_duplicate_name_is_resource_in_use(sm: Any, s3: Any, bucket: str) -> None:
    name = _create(sm, s3, bucket, "print('hi')\n", name=unique("Dup-Name"))
    with pytest.raises(ClientError) as exc:
        _create(sm, s3, bucket, "print('hi')\n", name=name)
    code, message = _error(exc)
    assert code == "ResourceInUse"
    assert f"processing-job/{name.lower()}" in message
    assert _wait(sm, name)["ProcessingJobStatus"] == "Completed"


def test_create_checks_local_paths_names_and_modes(sm: Any, s3: Any, bucket: str) -> None:
    uri = f"s3://{bucket}/x"
    bad_requests = [
        ({"inputs": [_s3_input("a", uri, "/tmp/data")]}, "/opt/ml/processing/"),
        ({"inputs": [_s3_input("a", uri, "/opt/ml/processing/../x")]}, "/opt/ml/processing/"),
        ({"outputs": [_s3_output("o", uri, "/opt/ml/output")]}, "/opt/ml/processing/"),
        (
            {"inputs": [_s3_input("a", uri, f"{CODE}1"), _s3_input("a", uri, f"{CODE}2")]},
            "Duplicate: a",
        ),
        ({"inputs": [_s3_input("a", uri, f"{CODE}1", S3InputMode="Pipe")]}, "Pipe"),
    ]
    for kwargs, expected in bad_requests:
        with pytest.raises(ClientError) as exc:
            _create(sm, s3, bucket, None, **kwargs)
        code, message = _error(exc)
        assert code == "ValidationException"
        assert expected in message


def test_describe_list_and_tags(sm: Any, s3: Any, bucket: str) -> None:
    tag = unique("lst")
    names = [
        _create(
            sm, s3, bucket, "print('x')\n", name=f"{tag}-{i}", Tags=[{"Key": "k", "Value": "v"}]
        )
        for i in range(3)
    ]
    for name in names:
        _wait(sm, name)
    job = sm.describe_processing_job(ProcessingJobName=names[0])
    assert job["ProcessingJobArn"].endswith(f":processing-job/{names[0]}")
    assert job["AppSpecification"]["ContainerEntrypoint"] == ["python3", f"{CODE}/script.py"]
    # Describe shows the S3 input's defaults.
    s3_input = job["ProcessingInputs"][0]["S3Input"]
    assert (s3_input["S3InputMode"], s3_input["S3DataDistributionType"]) == (
        "File",
        "FullyReplicated",
    )
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert job["ProcessingEndTime"] >= job["ProcessingStartTime"] >= job["CreationTime"]
    assert sm.list_tags(ResourceArn=job["ProcessingJobArn"])["Tags"] == [{"Key": "k", "Value": "v"}]

    page = sm.list_processing_jobs(NameContains=tag, SortBy="Name", SortOrder="Descending")
    assert [s["ProcessingJobName"] for s in page["ProcessingJobSummaries"]] == names[::-1]
    first = sm.list_processing_jobs(NameContains=tag, SortBy="Name", MaxResults=2)
    second = sm.list_processing_jobs(
        NameContains=tag, SortBy="Name", MaxResults=2, NextToken=first["NextToken"]
    )
    listed = first["ProcessingJobSummaries"] + second["ProcessingJobSummaries"]
    assert [s["ProcessingJobName"] for s in listed] == names
    assert "NextToken" not in second
    failed = sm.list_processing_jobs(NameContains=tag, StatusEquals="Failed")
    assert failed["ProcessingJobSummaries"] == []


def test_a_restart_fails_the_jobs_it_interrupted() -> None:
    jobs = ProcessingJobs(open_store(None), SystemClock())
    request = {
        "ProcessingJobName": "interrupted",
        "RoleArn": ROLE,
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": SKLEARN_IMAGE},
    }
    jobs.create("000000000000", "us-east-1", request)  # no runner: it stays InProgress
    assert jobs.recover() == 1
    job = jobs.describe("000000000000", "us-east-1", "interrupted")
    assert (job["ProcessingJobStatus"], job["FailureReason"]) == ("Failed", INTERRUPTED_REASON)
    assert jobs.recover() == 0


# -- runs -------------------------------------------------------------------------------------

HARD_CODED = """
    import json, os
    rows = open("/opt/ml/processing/input/data/part-1.csv").read().splitlines()
    rows += open("/opt/ml/processing/input/data/nested/part-2.csv").read().splitlines()
    os.makedirs("/opt/ml/processing/output/train", exist_ok=True)
    with open("/opt/ml/processing/output/train/rows.csv", "w") as f:
        f.write("\\n".join(sorted(rows)))
    config = json.load(open("/opt/ml/config/processingjobconfig.json"))
    resources = json.load(open("/opt/ml/config/resourceconfig.json"))
    with open("/opt/ml/processing/output/meta.json", "w") as f:
        json.dump({"name": config["ProcessingJobName"], "resources": resources,
                   "env": os.environ["MY_SETTING"], "cwd": os.getcwd()}, f)
    open("/opt/ml/output/message", "w").write("processed %d rows" % len(rows))
    print("processed", len(rows), "rows")
"""


@pytest.mark.skipif(
    container_root.probe() is not None,
    reason=f"no private /opt/ml on this machine: {container_root.probe()}",
)
def test_hard_coded_opt_ml_paths_resolve(sm: Any, s3: Any, logs: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="raw/part-1.csv", Body=b"b,2\na,1\n")
    s3.put_object(Bucket=bucket, Key="raw/nested/part-2.csv", Body=b"c,3\n")
    name = _create(
        sm,
        s3,
        bucket,
        HARD_CODED,
        inputs=[_s3_input("data", f"s3://{bucket}/raw", "/opt/ml/processing/input/data")],
        outputs=[_s3_output("out", f"s3://{bucket}/processed", "/opt/ml/processing/output")],
        Environment={"MY_SETTING": "on"},
    )
    job = _wait(sm, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ExitMessage"] == "processed 3 rows"
    assert _body(s3, bucket, "processed/train/rows.csv") == "a,1\nb,2\nc,3"
    meta = json.loads(_body(s3, bucket, "processed/meta.json"))
    assert meta == {
        "name": name,
        "resources": {"current_host": "algo-1", "hosts": ["algo-1"]},
        "env": "on",
        "cwd": "/opt/ml",
    }
    [(stream, lines)] = _log(logs, name).items()
    assert stream.startswith(f"{name}/algo-1-")
    assert "processed 3 rows" in lines


PATHS_FROM_ARGUMENTS = """
    import argparse, gzip, os
    parser = argparse.ArgumentParser()
    parser.add_argument("--input")
    parser.add_argument("--output")
    args = parser.parse_args()
    names = sorted(os.listdir(args.input))
    text = open(os.path.join(args.input, "values.csv")).read()
    with open(os.path.join(args.output, "summary.txt"), "w") as f:
        f.write(",".join(names) + "|" + text + "|" + os.environ["OUT_DIR"])
    open(os.path.join(os.environ["OUT_DIR"], "from-env.txt"), "w").write("env")
"""


def test_paths_in_arguments_and_environment_are_mapped_without_a_private_root(
    sm: Any, s3: Any, logs: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(container_root, "probe", lambda: "user namespaces are disabled")
    # A gzip-compressed object arrives decompressed, without its .gz suffix.
    s3.put_object(Bucket=bucket, Key="zipped/values.csv.gz", Body=gzip.compress(b"1,2,3\n"))
    name = _create(
        sm,
        s3,
        bucket,
        PATHS_FROM_ARGUMENTS,
        inputs=[
            _s3_input(
                "data",
                f"s3://{bucket}/zipped/",
                "/opt/ml/processing/input/data",
                S3CompressionType="Gzip",
            )
        ],
        outputs=[_s3_output("out", f"s3://{bucket}/mapped", "/opt/ml/processing/output")],
        arguments=[
            *("--input", "/opt/ml/processing/input/data"),
            *("--output", "/opt/ml/processing/output"),
        ],
        Environment={"OUT_DIR": "/opt/ml/processing/output"},
    )
    job = _wait(sm, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    names, text, env_dir = _body(s3, bucket, "mapped/summary.txt").split("|")
    assert (names, text) == ("values.csv", "1,2,3\n")
    assert env_dir.endswith("/algo-1/processing/output")  # mapped to the instance's folder
    assert _body(s3, bucket, "mapped/from-env.txt") == "env"
    [lines] = _log(logs, name).values()
    assert any("hard-coded in scripts will not resolve" in line for line in lines)


def test_a_failing_container_fails_the_job_with_its_exit_message(
    sm: Any, s3: Any, logs: Any, bucket: str
) -> None:
    script = """
        import sys
        open(sys.argv[1], "w").write("bad input: " + "x" * 2000)
        print("giving up", flush=True)
        sys.exit(3)
    """
    outputs = [_s3_output("out", f"s3://{bucket}/never", "/opt/ml/processing/output")]
    name = _create(sm, s3, bucket, script, outputs=outputs, arguments=["/opt/ml/output/message"])
    job = _wait(sm, name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: See job logs")
    assert "exited with code 3" in job["FailureReason"]
    assert job["ExitMessage"].startswith("bad input: xxx")
    assert len(job["ExitMessage"]) == 1024
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="never")
    assert "giving up" in next(iter(_log(logs, name).values()))


def test_an_image_entrypoint_is_not_available(sm: Any, s3: Any, bucket: str) -> None:
    name = _create(sm, s3, bucket, None, arguments=["--mode", "fit"])
    job = _wait(sm, name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert "ContainerEntrypoint is required in tule" in job["FailureReason"]


def test_a_missing_input_prefix_fails_with_a_client_error(sm: Any, s3: Any, bucket: str) -> None:
    inputs = [_s3_input("data", f"s3://{bucket}/nothing-here/", "/opt/ml/processing/input/d")]
    job = _wait(sm, _create(sm, s3, bucket, "print(1)\n", inputs=inputs))
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: No S3 objects found")


def test_sharded_inputs_are_split_across_instances(sm: Any, s3: Any, bucket: str) -> None:
    for i in range(4):
        s3.put_object(Bucket=bucket, Key=f"shards/s{i}.txt", Body=f"{i}".encode())
    s3.put_object(Bucket=bucket, Key="shared/lookup.txt", Body=b"L")
    script = """
        import json, os, sys
        args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
        host = json.load(open(args["--config"]))["current_host"]
        mine = sorted(os.listdir(args["--shards"]))
        shared = open(os.path.join(args["--shared"], "lookup.txt")).read()
        with open(os.path.join(args["--out"], host + ".json"), "w") as f:
            json.dump({"mine": mine, "shared": shared}, f)
    """
    name = _create(
        sm,
        s3,
        bucket,
        script,
        inputs=[
            _s3_input(
                "shards",
                f"s3://{bucket}/shards/",
                "/opt/ml/processing/input/shards",
                S3DataDistributionType="ShardedByS3Key",
            ),
            _s3_input("shared", f"s3://{bucket}/shared/", "/opt/ml/processing/input/shared"),
        ],
        outputs=[_s3_output("out", f"s3://{bucket}/by-host", "/opt/ml/processing/out")],
        arguments=[
            *("--shards", "/opt/ml/processing/input/shards"),
            *("--shared", "/opt/ml/processing/input/shared"),
            *("--out", "/opt/ml/processing/out"),
            *("--config", "/opt/ml/config/resourceconfig.json"),
        ],
        instance_count=2,
    )
    job = _wait(sm, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    first = json.loads(_body(s3, bucket, "by-host/algo-1.json"))
    second = json.loads(_body(s3, bucket, "by-host/algo-2.json"))
    assert first == {"mine": ["s0.txt", "s2.txt"], "shared": "L"}
    assert second == {"mine": ["s1.txt", "s3.txt"], "shared": "L"}


def test_continuous_outputs_upload_while_the_job_runs(sm: Any, s3: Any, bucket: str) -> None:
    script = """
        import os, sys, time
        out = sys.argv[1]
        open(os.path.join(out, "early.txt"), "w").write("early")
        time.sleep(30)
    """
    outputs = [_s3_output("live", f"s3://{bucket}/live", "/opt/ml/processing/live", "Continuous")]
    name = _create(sm, s3, bucket, script, outputs=outputs, arguments=["/opt/ml/processing/live"])
    deadline = time.monotonic() + 20
    while "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="live/early.txt"):
        assert time.monotonic() < deadline, "the continuous output was not uploaded"
        time.sleep(0.1)
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
    assert _body(s3, bucket, "live/early.txt") == "early"
    sm.stop_processing_job(ProcessingJobName=name)
    assert _wait(sm, name)["ProcessingJobStatus"] == "Stopped"


def test_stop_processing_job_stops_within_seconds(sm: Any, s3: Any, bucket: str) -> None:
    script = "import time\nprint('started', flush=True)\ntime.sleep(600)\n"
    name = _create(sm, s3, bucket, script)
    deadline = time.monotonic() + 30
    while "ProcessingStartTime" not in sm.describe_processing_job(ProcessingJobName=name):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sm.stop_processing_job(ProcessingJobName=name)
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    started = time.monotonic()
    job = _wait(sm, name, timeout=30)
    assert time.monotonic() - started < 10
    assert job["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as exc:
        sm.stop_processing_job(ProcessingJobName=name)
    assert _error(exc)[0] == "ValidationException"
    assert "status Stopped" in _error(exc)[1]


def test_max_runtime_stops_the_job(sm: Any, s3: Any, bucket: str) -> None:
    name = _create(sm, s3, bucket, "import time\ntime.sleep(600)\n", max_runtime=1)
    job = _wait(sm, name, timeout=30)
    assert job["ProcessingJobStatus"] == "Stopped"
    assert job["FailureReason"].startswith("MaxRuntimeExceeded")
