"""Batch transform jobs through boto3, with real model servers: CSV with an id column joined to
each prediction across several files and requests, JSON Lines joins, SingleRecord, Gzip
inputs, manifests, failing records, Stop, listing, restarts and the control plane's errors."""

from __future__ import annotations

import gzip
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from sagemaker_helpers import LINEAR_LEARNER_IMAGE, unique

from tule.algorithms.linear_learner_model import LinearLearnerModel
from tule.clock import SystemClock
from tule.metadata import open_store
from tule.services.sagemaker.models import Models
from tule.services.sagemaker.transform_jobs import INTERRUPTED_REASON, TransformJobs
from tule.services.sagemaker.transform_run import batch_environment
from tule.testing import hosting

LOG_GROUP = "/aws/sagemaker/TransformJobs"
FEATURES = 4


@pytest.fixture(scope="module")
def xgb(sm: Any, s3: Any) -> tuple[str, Any]:
    """A real XGBoost model (4 features) registered as a SageMaker model: (name, booster)."""
    s3.create_bucket(Bucket="transform-models")
    booster, archive, _ = hosting.xgboost_model(features=FEATURES)
    uri = hosting.upload_model(s3, "transform-models", "xgb/model.tar.gz", archive)
    name = unique("xgb")
    hosting.create_model(sm, name, uri)
    return name, booster


def _rows(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, FEATURES)).astype(np.float32)


def _csv(x: np.ndarray, ids: list[str] | None = None) -> bytes:
    # repr of each float32 as a Python float reads back as the same float32 in the container.
    cells = [",".join(repr(float(v)) for v in row) for row in x]
    if ids is not None:
        cells = [f"{i},{c}" for i, c in zip(ids, cells, strict=True)]
    return ("\n".join(cells) + "\n").encode()


def _predict(booster: Any, x: np.ndarray) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(x))


def _transform(
    sm: Any,
    model: str,
    input_uri: str,
    output_uri: str,
    *,
    content_type: str | None = "text/csv",
    split: str = "Line",
    data_type: str = "S3Prefix",
    wait: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    name = extra.pop("name", None) or unique("tj")
    source: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": input_uri}},
        "SplitType": split,
    }
    if content_type:
        source["ContentType"] = content_type
    if "compression" in extra:
        source["CompressionType"] = extra.pop("compression")
    output: dict[str, Any] = {"S3OutputPath": output_uri}
    for member in ("Accept", "AssembleWith"):
        if member in extra:
            output[member] = extra.pop(member)
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput=source,
        TransformOutput=output,
        TransformResources={
            "InstanceType": "ml.m5.large",
            "InstanceCount": extra.pop("instances", 1),
        },
        **extra,
    )
    return _wait(sm, name) if wait else {"TransformJobName": name}


def _wait(sm: Any, name: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = sm.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"transform job {name} still {job['TransformJobStatus']}: {job}")
        time.sleep(0.05)


def _read(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


# -- data path --------------------------------------------------------------------------------


def test_csv_ids_are_joined_to_predictions_across_files_and_requests(
    sm: Any, s3: Any, logs: Any, bucket: str, xgb: tuple[str, Any]
) -> None:
    model, booster = xgb
    files = {}
    for part, count in (("a", 30_000), ("b", 25_000), ("nested/c", 100)):
        x = _rows(count, seed=len(files))
        ids = [f"{part}-{i}" for i in range(count)]
        body = _csv(x, ids)
        s3.put_object(Bucket=bucket, Key=f"input/{part}.csv", Body=body)
        files[part] = (ids, x, len(body))
    # Each of the two large files is more than 2 MiB: MaxPayloadInMB 1 takes several requests.
    assert files["a"][2] > 2 << 20 and files["b"][2] > 2 << 20

    job = _transform(
        sm,
        model,
        f"s3://{bucket}/input",
        f"s3://{bucket}/output",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        Accept="text/csv",
        AssembleWith="Line",
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    )

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    assert job["DataProcessing"]["InputFilter"] == "$[1:]"
    assert _keys(s3, bucket, "output/") == [
        "output/input/a.csv.out",
        "output/input/b.csv.out",
        "output/input/nested/c.csv.out",
    ]
    for part, (ids, x, _) in files.items():
        lines = _read(s3, bucket, f"output/input/{part}.csv.out").decode().splitlines()
        assert [line.split(",")[0] for line in lines] == ids
        assert all(line.count(",") == 1 for line in lines)
        got = np.array([float(line.split(",")[1]) for line in lines])
        np.testing.assert_allclose(got, _predict(booster, x), rtol=1e-6)

    streams = logs.describe_log_streams(
        logGroupName=LOG_GROUP, logStreamNamePrefix=job["TransformJobName"] + "/"
    )["logStreams"]
    data_log = next(s["logStreamName"] for s in streams if s["logStreamName"].endswith("data-log"))
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=data_log)["events"]
    text = "\n".join(e["message"] for e in events)
    assert "MaxPayloadInMB=1" in text and "BatchStrategy=MULTI_RECORD" in text
    assert f"wrote s3://{bucket}/output/input/a.csv.out" in text


def test_json_lines_join_adds_sagemaker_output(sm: Any, s3: Any, bucket: str) -> None:
    weights = np.array([[1.0], [2.0], [-1.0]])
    model = LinearLearnerModel(
        predictor_type="regressor", loss="squared_loss", weights=weights, bias=np.array([0.5])
    )
    with tempfile.TemporaryDirectory() as scratch:
        model.save(Path(scratch))
        files = {p.name: p.read_bytes() for p in Path(scratch).iterdir()}
    uri = hosting.upload_model(s3, bucket, "ll/model.tar.gz", hosting.tar_gz(files))
    name = unique("ll")
    hosting.create_model(sm, name, uri, image=LINEAR_LEARNER_IMAGE)
    records = [{"id": f"r{i}", "features": [i, 1.0, 0.5 * i]} for i in range(40)]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    s3.put_object(Bucket=bucket, Key="jsonl/data.jsonl", Body=body)

    job = _transform(
        sm,
        name,
        f"s3://{bucket}/jsonl/data.jsonl",
        f"s3://{bucket}/jsonl-out/",
        content_type="application/jsonlines",
        Accept="application/jsonlines",
        AssembleWith="Line",
        DataProcessing={"JoinSource": "Input"},
    )

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = _read(s3, bucket, "jsonl-out/data.jsonl.out").decode().splitlines()
    joined = [json.loads(line) for line in lines]
    assert [j["id"] for j in joined] == [r["id"] for r in records]
    assert [j["features"] for j in joined] == [r["features"] for r in records]
    expected = [r["features"] @ weights[:, 0] + 0.5 for r in records]
    np.testing.assert_allclose([j["SageMakerOutput"]["score"] for j in joined], expected, rtol=1e-6)


def test_single_record_sends_each_record_in_its_own_request(
    sm: Any, s3: Any, bucket: str, xgb: tuple[str, Any]
) -> None:
    model, booster = xgb
    x = _rows(25, seed=11)
    s3.put_object(Bucket=bucket, Key="single/rows.csv", Body=_csv(x))

    job = _transform(
        sm,
        model,
        f"s3://{bucket}/single/",
        f"s3://{bucket}/single-out",
        BatchStrategy="SingleRecord",
        Accept="application/json",
        AssembleWith="Line",
    )

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["BatchStrategy"] == "SingleRecord"
    # One JSON answer per request: each line is a whole response holding one prediction.
    answers = [
        json.loads(line) for line in _read(s3, bucket, "single-out/rows.csv.out").splitlines()
    ]
    assert [len(a["predictions"]) for a in answers] == [1] * len(x)
    got = [a["predictions"][0]["score"] for a in answers]
    np.testing.assert_allclose(got, _predict(booster, x), rtol=1e-6)


def test_gzip_objects_are_decompressed_before_the_model_sees_them(
    sm: Any, s3: Any, bucket: str, xgb: tuple[str, Any]
) -> None:
    model, booster = xgb
    x = _rows(500, seed=5)
    s3.put_object(Bucket=bucket, Key="gz/part.csv.gz", Body=gzip.compress(_csv(x)))

    job = _transform(
        sm,
        model,
        f"s3://{bucket}/gz/",
        f"s3://{bucket}/gz-out",
        compression="Gzip",
        AssembleWith="Line",
    )

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformInput"]["CompressionType"] == "Gzip"
    got = np.loadtxt(io.BytesIO(_read(s3, bucket, "gz-out/part.csv.gz.out")))
    np.testing.assert_allclose(got, _predict(booster, x), rtol=1e-6)


def test_a_manifest_names_the_objects_and_their_output_keys(
    sm: Any, s3: Any, bucket: str, xgb: tuple[str, Any]
) -> None:
    model, booster = xgb
    parts = {"day1/a.csv": _rows(30, seed=1), "day2/b.csv": _rows(20, seed=2)}
    for key, x in parts.items():
        s3.put_object(Bucket=bucket, Key=f"data/{key}", Body=_csv(x))
    s3.put_object(Bucket=bucket, Key="data/day3/ignored.csv", Body=_csv(_rows(5, seed=3)))
    manifest = [{"prefix": f"s3://{bucket}/data/"}, *parts]
    s3.put_object(Bucket=bucket, Key="lists/job.manifest", Body=json.dumps(manifest).encode())

    job = _transform(
        sm,
        model,
        f"s3://{bucket}/lists/job.manifest",
        f"s3://{bucket}/manifest-out",
        data_type="ManifestFile",
        AssembleWith="Line",
    )

    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert _keys(s3, bucket, "manifest-out/") == [
        "manifest-out/day1/a.csv.out",
        "manifest-out/day2/b.csv.out",
    ]
    for key, x in parts.items():
        got = np.loadtxt(io.BytesIO(_read(s3, bucket, f"manifest-out/{key}.out")))
        np.testing.assert_allclose(got, _predict(booster, x), rtol=1e-6)


def test_a_bad_record_fails_the_job_naming_the_object_and_keeps_the_good_ones(
    sm: Any, s3: Any, bucket: str, xgb: tuple[str, Any]
) -> None:
    model, _ = xgb
    s3.put_object(Bucket=bucket, Key="mixed/good.csv", Body=_csv(_rows(10, seed=4)))
    bad = _csv(_rows(3, seed=6)) + b"1.0,2.0,3.0\n"  # one feature short
    s3.put_object(Bucket=bucket, Key="mixed/bad.csv", Body=bad)

    job = _transform(
        sm,
        model,
        f"s3://{bucket}/mixed/",
        f"s3://{bucket}/mixed-out",
        BatchStrategy="SingleRecord",
        AssembleWith="Line",
        ModelClientConfig={"InvocationsMaxRetries": 0},
    )

    assert job["TransformJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: ")
    assert f"s3://{bucket}/mixed/bad.csv" in reason and "record 4" in reason
    assert "400" in reason
    # The failed object has no output; the other object's output is complete.
    assert _keys(s3, bucket, "mixed-out/") == ["mixed-out/good.csv.out"]
    assert len(_read(s3, bucket, "mixed-out/good.csv.out").splitlines()) == 10


def test_stop_ends_the_job_stopped_without_a_partial_output(
    sm: Any, s3: Any, bucket: str, xgb: tuple[str, Any]
) -> None:
    model, _ = xgb
    s3.put_object(Bucket=bucket, Key="long/rows.csv", Body=_csv(_rows(50_000, seed=8)))
    name = _transform(
        sm,
        model,
        f"s3://{bucket}/long/",
        f"s3://{bucket}/long-out",
        BatchStrategy="SingleRecord",
        MaxConcurrentTransforms=1,
        wait=False,
    )["TransformJobName"]
    deadline = time.monotonic() + 60
    while "TransformStartTime" not in sm.describe_transform_job(TransformJobName=name):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)

    sm.stop_transform_job(TransformJobName=name)
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    job = _wait(sm, name, timeout=30)

    assert job["TransformJobStatus"] == "Stopped"
    assert "FailureReason" not in job
    assert _keys(s3, bucket, "long-out/") == []
    with pytest.raises(ClientError) as err:
        sm.stop_transform_job(TransformJobName=name)
    assert _error(err) == (
        "ValidationException",
        "The request was rejected because the transform job is in status Stopped.",
    )


def test_a_model_whose_artifacts_are_missing_fails_the_job(sm: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/x.csv", Body=_csv(_rows(3, seed=0)))
    model = unique("gone")
    hosting.create_model(sm, model, f"s3://{bucket}/missing/model.tar.gz")

    job = _transform(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/o", instances=2)

    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Failed to download model data")
    assert "TransformStartTime" not in job and _keys(s3, bucket, "o/") == []


# -- control plane ----------------------------------------------------------------------------


def test_describe_and_stop_of_an_unknown_job_are_validation_errors(sm: Any) -> None:
    for call in (sm.describe_transform_job, sm.stop_transform_job):
        with pytest.raises(ClientError) as err:
            call(TransformJobName="no-such-job")
        assert _error(err) == (
            "ValidationException",
            "Could not find requested job with name no-such-job",
        )


def test_create_refuses_unknown_models_bad_settings_and_duplicate_names(
    sm: Any, s3: Any, bucket: str, xgb: tuple[str, Any]
) -> None:
    model, _ = xgb
    s3.put_object(Bucket=bucket, Key="in/x.csv", Body=_csv(_rows(3, seed=0)))
    uri, out = f"s3://{bucket}/in/", f"s3://{bucket}/out"

    with pytest.raises(ClientError) as err:
        _transform(sm, "no-such-model", uri, out, wait=False)
    arn = "arn:aws:sagemaker:us-east-1:000000000000:model/no-such-model"
    assert _error(err) == ("ValidationException", f'Could not find model "{arn}".')

    with pytest.raises(ClientError) as err:
        _transform(sm, model, uri, out, wait=False, MaxConcurrentTransforms=20, MaxPayloadInMB=6)
    code, message = _error(err)
    assert code == "ValidationException" and "cannot exceed 100 MB" in message

    with pytest.raises(ClientError) as err:
        _transform(
            sm, model, uri, out, wait=False, split="None", DataProcessing={"InputFilter": "$[1:]"}
        )
    code, message = _error(err)
    assert code == "ValidationException" and "SplitType and TransformOutput.AssembleWith" in message

    name = unique("dup")
    first = _transform(
        sm, model, uri, out, name=name, wait=False, Tags=[{"Key": "k", "Value": "v"}]
    )
    with pytest.raises(ClientError) as err:
        _transform(sm, model, uri, out, name=name, wait=False)
    code, message = _error(err)
    described = _wait(sm, name)
    assert code == "ResourceInUse" and described["TransformJobArn"] in message
    assert described["TransformJobArn"].endswith(f":transform-job/{name}")
    assert sm.list_tags(ResourceArn=described["TransformJobArn"])["Tags"] == [
        {"Key": "k", "Value": "v"}
    ]
    assert first["TransformJobName"] == name


def test_list_filters_by_name_and_status_and_pages(
    sm: Any, s3: Any, bucket: str, xgb: tuple[str, Any]
) -> None:
    model, _ = xgb
    s3.put_object(Bucket=bucket, Key="in/x.csv", Body=_csv(_rows(3, seed=0)))
    tag = unique("listed")
    for suffix in ("b", "a", "c"):
        _transform(sm, model, f"s3://{bucket}/in/", f"s3://{bucket}/o", name=f"{tag}-{suffix}")
    _transform(sm, model, f"s3://{bucket}/nothing/", f"s3://{bucket}/o", name=f"{tag}-failed")

    by_name = sm.list_transform_jobs(NameContains=tag.upper(), SortBy="Name", MaxResults=2)
    names = [s["TransformJobName"] for s in by_name["TransformJobSummaries"]]
    assert names == [f"{tag}-a", f"{tag}-b"]
    rest = sm.list_transform_jobs(
        NameContains=tag, SortBy="Name", MaxResults=2, NextToken=by_name["NextToken"]
    )
    assert [s["TransformJobName"] for s in rest["TransformJobSummaries"]] == [
        f"{tag}-c",
        f"{tag}-failed",
    ]
    assert "NextToken" not in rest
    failed = sm.list_transform_jobs(NameContains=tag, StatusEquals="Failed")
    [summary] = failed["TransformJobSummaries"]
    assert summary["TransformJobName"] == f"{tag}-failed"
    assert "No S3 objects found" in summary["FailureReason"]
    assert {"TransformJobArn", "CreationTime", "TransformEndTime", "LastModifiedTime"} <= set(
        summary
    )


def test_a_restart_ends_the_jobs_it_interrupted() -> None:
    store = open_store(None)
    models = Models(store, SystemClock())
    jobs = TransformJobs(store, SystemClock(), models)
    models.create(
        "000000000000",
        "us-east-1",
        {"ModelName": "m", "PrimaryContainer": {"Image": hosting.XGBOOST_IMAGE}},
    )
    request = {
        "ModelName": "m",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/i"}}
        },
        "TransformOutput": {"S3OutputPath": "s3://b/o"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    for name in ("running", "stopping"):
        jobs.create("000000000000", "us-east-1", {"TransformJobName": name, **request})
    jobs.stop("000000000000", "us-east-1", "stopping")  # no runner: they stay where they are

    assert jobs.recover() == 2
    running = jobs.describe("000000000000", "us-east-1", "running")
    assert (running["TransformJobStatus"], running["FailureReason"]) == (
        "Failed",
        INTERRUPTED_REASON,
    )
    stopping = jobs.describe("000000000000", "us-east-1", "stopping")
    assert stopping["TransformJobStatus"] == "Stopped" and "TransformEndTime" in stopping
    assert jobs.recover() == 0


def test_containers_get_the_batch_variables_and_the_jobs_environment() -> None:
    record = {
        "MaxPayloadInMB": 2,
        "BatchStrategy": "SingleRecord",
        "MaxConcurrentTransforms": 3,
        "Environment": {"MY_SETTING": "x", "OMP_NUM_THREADS": "1"},
    }
    env = batch_environment(record, threads=4)
    assert env["SAGEMAKER_BATCH"] == "true"
    assert env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "2"
    assert env["SAGEMAKER_BATCH_STRATEGY"] == "SINGLE_RECORD"
    assert env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] == "3"
    assert env["MY_SETTING"] == "x"
    # The job's Environment wins over the instance's thread share.
    assert env["OMP_NUM_THREADS"] == "1" and env["MKL_NUM_THREADS"] == "4"
    # Settings the request leaves out are not set: the container's defaults apply.
    assert (
        batch_environment({}, threads=1)
        .keys()
        .isdisjoint({"SAGEMAKER_MAX_PAYLOAD_IN_MB", "SAGEMAKER_BATCH_STRATEGY"})
    )
