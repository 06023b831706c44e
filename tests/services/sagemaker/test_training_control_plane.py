"""The training-job control plane through boto3: validation, names, listing, tags, stop."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError
from sagemaker_helpers import ROLE, SKLEARN_IMAGE, create_job, unique, wait_for

from tule.testing import TuleServer


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_describe_unknown_job_is_a_validation_exception(sm: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm.describe_training_job(TrainingJobName="no-such-job")
    assert _error(exc) == ("ValidationException", "Requested resource not found.")
    with pytest.raises(ClientError) as exc:
        sm.stop_training_job(TrainingJobName="no-such-job")
    assert _error(exc)[0] == "ValidationException"


def test_duplicate_name_is_resource_in_use(sm: Any, bucket: str) -> None:
    name = create_job(sm, bucket, "my-image:latest", [], {})
    with pytest.raises(ClientError) as exc:
        create_job(sm, bucket, "my-image:latest", [], {}, name=name)
    code, message = _error(exc)
    assert code == "ResourceInUse"
    assert f"training-job/{name.lower()}" in message
    wait_for(sm, name, timeout=30)


def test_bad_name_and_role_are_rejected(sm: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        create_job(sm, bucket, "x:1", [], {}, name="bad_name!")
    assert _error(exc)[0] == "ValidationException"
    assert "trainingJobName" in _error(exc)[1] or "TrainingJobName" in _error(exc)[1]
    with pytest.raises(ClientError) as exc:
        sm.create_training_job(
            TrainingJobName=unique("role"),
            RoleArn="not-a-role-arn-at-all",
            AlgorithmSpecification={"TrainingImage": "x:1", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/o"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
        )
    assert _error(exc)[0] == "ValidationException"


def test_image_and_algorithm_name_are_exclusive(sm: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        sm.create_training_job(
            TrainingJobName=unique("both"),
            RoleArn=ROLE,
            AlgorithmSpecification={
                "TrainingImage": "x:1",
                "AlgorithmName": "my-algo",
                "TrainingInputMode": "File",
            },
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/o"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        )
    assert _error(exc)[0] == "ValidationException"


def test_describe_echoes_the_request(sm: Any, bucket: str) -> None:
    name = create_job(sm, bucket, "my-image:latest", [], {"a": "1"}, Environment={"MY_VAR": "x"})
    job = sm.describe_training_job(TrainingJobName=name)
    assert job["HyperParameters"] == {"a": "1"}
    assert job["Environment"] == {"MY_VAR": "x"}
    assert job["RoleArn"] == ROLE
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert job["EnableNetworkIsolation"] is False
    wait_for(sm, name, timeout=30)


def test_list_filters_sorts_and_paginates(server: TuleServer, bucket: str) -> None:
    sm = server.client("sagemaker", region_name="eu-west-1")  # a region of its own
    names = [create_job(sm, bucket, "my-image:latest", [], {}, name=f"list-{i}") for i in range(5)]
    for name in names:
        wait_for(sm, name, timeout=30)
    pages = sm.get_paginator("list_training_jobs").paginate(
        SortBy="Name", SortOrder="Descending", PaginationConfig={"PageSize": 2}
    )
    listed = [s["TrainingJobName"] for page in pages for s in page["TrainingJobSummaries"]]
    assert listed == sorted(names, reverse=True)
    first = sm.list_training_jobs(MaxResults=2, SortBy="CreationTime")
    assert len(first["TrainingJobSummaries"]) == 2 and "NextToken" in first
    assert (
        sm.list_training_jobs(NameContains="LIST-3")["TrainingJobSummaries"][0]["TrainingJobName"]
        == "list-3"
    )
    assert sm.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"] == []
    failed = sm.list_training_jobs(StatusEquals="Failed", MaxResults=100)
    assert len(failed["TrainingJobSummaries"]) == 5
    summary = failed["TrainingJobSummaries"][0]
    assert set(summary) >= {
        "TrainingJobName",
        "TrainingJobArn",
        "CreationTime",
        "TrainingJobStatus",
        "SecondaryStatus",
    }
    assert sm.list_training_jobs(CreationTimeAfter=time.time() + 3600)["TrainingJobSummaries"] == []


def test_tags_add_list_delete(sm: Any, bucket: str) -> None:
    name = create_job(sm, bucket, "my-image:latest", [], {})
    arn = sm.describe_training_job(TrainingJobName=name)["TrainingJobArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "2"},
    ]
    sm.delete_tags(ResourceArn=arn, TagKeys=["a"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        sm.list_tags(ResourceArn=arn.replace(name.lower(), "missing-job"))
    assert _error(exc)[0] == "ValidationException"
    wait_for(sm, name, timeout=30)


def test_stopping_a_finished_job_is_rejected(sm: Any, bucket: str) -> None:
    name = create_job(sm, bucket, "my-image:latest", [], {})
    wait_for(sm, name, timeout=30)
    with pytest.raises(ClientError) as exc:
        sm.stop_training_job(TrainingJobName=name)
    assert _error(exc)[0] == "ValidationException"
    assert "Failed" in _error(exc)[1]


def test_boto3_waiter_finishes_promptly(sm: Any, bucket: str) -> None:
    name = create_job(sm, bucket, SKLEARN_IMAGE, [], {})  # no sagemaker_program: fails fast
    started = time.monotonic()
    with pytest.raises(WaiterError):  # the waiter treats Failed as a failure
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
    assert time.monotonic() - started < 10
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Failed"
