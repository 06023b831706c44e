"""Function management through boto3: create, read, list, update, publish, tag, delete."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lambda_helpers import ECHO, ROLE, create, handler_zip, invoke_json, unique


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_create_function_answers_its_configuration(lam: Any) -> None:
    code = handler_zip(ECHO)
    name = unique()
    config = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code},
        Description="echo",
        Environment={"Variables": {"COLOR": "blue"}},
    )
    assert config["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert config["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert config["CodeSize"] == len(code)
    assert (config["Timeout"], config["MemorySize"], config["Version"]) == (3, 128, "$LATEST")
    assert (config["State"], config["LastUpdateStatus"], config["PackageType"]) == (
        "Active",
        "Successful",
        "Zip",
    )
    assert config["Environment"] == {"Variables": {"COLOR": "blue"}}
    assert config["Architectures"] == ["x86_64"]
    assert config["EphemeralStorage"] == {"Size": 512}
    assert config["Description"] == "echo"
    # 2024-01-01T00:00:00.000+0000
    assert len(config["LastModified"]) == 28 and config["LastModified"].endswith("+0000")
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 2}
    )


def test_create_function_from_s3_runs_that_code(lam: Any, s3: Any) -> None:
    s3.create_bucket(Bucket="lambda-code")
    s3.put_object(Bucket="lambda-code", Key="pkg.zip", Body=handler_zip(ECHO))
    name = create(lam, "", Code={"S3Bucket": "lambda-code", "S3Key": "pkg.zip"})
    _, payload = invoke_json(lam, name, b'{"from": "s3"}')
    assert payload == {"from": "s3"}


def test_create_function_from_missing_s3_object_is_refused(lam: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        create(lam, "", Code={"S3Bucket": "lambda-code", "S3Key": "nothing.zip"})
    code, message, _ = error_of(excinfo)
    assert code == "InvalidParameterValueException"
    assert "NoSuchKey" in message


def test_duplicate_function_is_a_conflict(lam: Any) -> None:
    name = create(lam, ECHO)
    with pytest.raises(ClientError) as excinfo:
        create(lam, ECHO, name=name)
    assert error_of(excinfo) == (
        "ResourceConflictException",
        f"Function already exist: {name}",
        409,
    )


@pytest.mark.parametrize("runtime", ["nodejs20.x", "python3.8", "java21"])
def test_runtimes_tule_cannot_run_are_refused_by_name(lam: Any, runtime: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        create(lam, ECHO, Runtime=runtime)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert runtime in message and "tule" in message


def test_image_packages_and_bad_zips_are_refused(lam: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        create(lam, ECHO, PackageType="Image", Code={"ImageUri": "repo/image:latest"})
    assert error_of(excinfo)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as excinfo:
        create(lam, ECHO, Code={"ZipFile": b"this is not a zip"})
    assert error_of(excinfo)[:2] == (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
    )


def test_limits_and_reserved_variables_are_checked(lam: Any) -> None:
    for options in ({"Timeout": 901}, {"MemorySize": 10241}):
        with pytest.raises(ClientError) as excinfo:
            create(lam, ECHO, **options)
        assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        create(lam, ECHO, Environment={"Variables": {"AWS_REGION": "eu-west-1"}})
    code, message, _ = error_of(excinfo)
    assert code == "InvalidParameterValueException" and "AWS_REGION" in message


def test_unknown_function_is_not_found_with_its_arn(lam: Any) -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:nobody"
    for call in (
        lambda: lam.get_function(FunctionName="nobody"),
        lambda: lam.get_function_configuration(FunctionName=arn),
        lambda: lam.invoke(FunctionName="000000000000:function:nobody"),
        lambda: lam.delete_function(FunctionName="nobody"),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo) == ("ResourceNotFoundException", f"Function not found: {arn}", 404)


def test_function_is_found_by_name_full_arn_and_partial_arn(lam: Any) -> None:
    name = create(lam, ECHO)
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    for identifier in (name, arn, f"000000000000:function:{name}", f"{name}:$LATEST"):
        assert lam.get_function_configuration(FunctionName=identifier)["FunctionArn"] == arn


def test_get_function_has_configuration_code_and_tags(lam: Any) -> None:
    name = create(lam, ECHO, Tags={"team": "ml"})
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["FunctionName"] == name
    assert got["Code"] == {"RepositoryType": "S3"}
    assert got["Tags"] == {"team": "ml"}


def test_list_functions_pages_with_marker(lam: Any) -> None:
    names = {create(lam, ECHO, name=unique("listed")) for _ in range(3)}
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs = {"MaxItems": 2} | ({"Marker": marker} if marker else {})
        page = lam.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert names <= set(seen)
    assert len(seen) == len(set(seen)) and seen == sorted(seen)
    assert pages >= 2
    paginated = [
        f["FunctionName"]
        for p in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1})
        for f in p["Functions"]
    ]
    assert paginated == seen


def test_update_function_configuration_changes_settings_and_revision(lam: Any) -> None:
    name = create(lam, ECHO)
    before = lam.get_function_configuration(FunctionName=name)
    after = lam.update_function_configuration(
        FunctionName=name, Timeout=30, MemorySize=256, Description="new", Runtime="python3.13"
    )
    assert (after["Timeout"], after["MemorySize"], after["Description"], after["Runtime"]) == (
        30,
        256,
        "new",
        "python3.13",
    )
    assert after["RevisionId"] != before["RevisionId"]
    with pytest.raises(ClientError) as excinfo:
        lam.update_function_configuration(
            FunctionName=name, Timeout=5, RevisionId=before["RevisionId"]
        )
    assert error_of(excinfo)[0] == "PreconditionFailedException"


def test_publish_version_freezes_code_and_qualifiers_select_it(lam: Any) -> None:
    name = create(lam, "def handler(e, c):\n    return 'v1'\n")
    version = lam.publish_version(FunctionName=name, Description="first")
    assert version["Version"] == "1"
    assert version["FunctionArn"].endswith(f":{name}:1")
    # Nothing changed since: Lambda answers the same version rather than a new one.
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_code(
        FunctionName=name, ZipFile=handler_zip("def handler(e, c):\n    return 'v2'\n")
    )
    assert invoke_json(lam, name, Qualifier="1")[1] == "v1"
    response, payload = invoke_json(lam, name)
    assert (payload, response["ExecutedVersion"]) == ("v2", "$LATEST")
    assert invoke_json(lam, f"{name}:1")[0]["ExecutedVersion"] == "1"
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Qualifier="7")
    assert error_of(excinfo)[:2] == (
        "ResourceNotFoundException",
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}:7",
    )
    lam.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name, Qualifier="1")
    assert lam.get_function(FunctionName=name)["Configuration"]["Version"] == "$LATEST"


def test_tags_are_added_listed_and_removed(lam: Any) -> None:
    name = create(lam, ECHO)
    arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"a": "1", "b": "2"})
    lam.untag_resource(Resource=arn, TagKeys=["a"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}


def test_delete_function_then_it_is_gone(lam: Any) -> None:
    name = create(lam, ECHO)
    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_account_settings_count_functions_and_code(lam: Any) -> None:
    before = lam.get_account_settings()["AccountUsage"]
    create(lam, ECHO)
    after = lam.get_account_settings()
    assert after["AccountUsage"]["FunctionCount"] == before["FunctionCount"] + 1
    assert after["AccountUsage"]["TotalCodeSize"] > before["TotalCodeSize"]
    assert after["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024
