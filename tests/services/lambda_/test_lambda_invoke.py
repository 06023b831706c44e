"""Invoke through boto3: handlers really run in warm worker processes."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lambda_helpers import ECHO, create, handler_zip, invoke_json

CONTEXT = """
import os, sys

def handler(event, context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "env": dict(os.environ),
        "path0": sys.path[0],
        "server_modules": sorted(m for m in sys.modules if m.split(".")[0] == "tule"),
    }
"""

COUNTER = """
import os
calls = 0

def handler(event, context):
    global calls
    calls += 1
    return {"calls": calls, "pid": os.getpid()}
"""

SLEEPER = """
import os, time

def handler(event, context):
    time.sleep(event.get("seconds", 0))
    return {"pid": os.getpid()}
"""


def test_invoke_returns_the_handlers_value_for_the_event(lam: Any) -> None:
    name = create(lam, ECHO)
    response, payload = invoke_json(lam, name, b'{"key": [1, 2, {"x": null}]}')
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert payload == {"key": [1, 2, {"x": None}]}


def test_none_answer_is_null_and_empty_payload_is_an_empty_event(lam: Any) -> None:
    name = create(lam, "def handler(event, context):\n    return None if event == {} else 1\n")
    response = lam.invoke(FunctionName=name)
    assert response["Payload"].read() == b"null"


def test_request_id_is_the_functions_and_context_fields_are_set(lam: Any) -> None:
    name = create(lam, CONTEXT, MemorySize=256, Timeout=10)
    response, ctx = invoke_json(lam, name)
    assert ctx["aws_request_id"] == response["ResponseMetadata"]["RequestId"]
    assert ctx["function_name"] == name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"].endswith(f":function:{name}")
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["log_group_name"] == f"/aws/lambda/{name}"
    assert ctx["log_stream_name"].endswith("]" + ctx["log_stream_name"][-32:])
    assert "[$LATEST]" in ctx["log_stream_name"]
    assert 8000 < ctx["remaining"] <= 10000
    # A clean interpreter: the code first on sys.path, nothing of the server imported.
    assert Path(ctx["path0"]).is_dir() and (Path(ctx["path0"]) / "app.py").is_file()
    assert ctx["server_modules"] == []


def test_environment_has_the_functions_variables_and_lambdas_own(lam: Any, server: Any) -> None:
    name = create(lam, CONTEXT, Environment={"Variables": {"COLOR": "blue"}})
    env = invoke_json(lam, name)[1]["env"]
    assert env["COLOR"] == "blue"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_ENDPOINT_URL"] == server.endpoint_url
    assert env["LAMBDA_TASK_ROOT"] and env["AWS_ACCESS_KEY_ID"]


def test_update_configuration_environment_applies_to_the_next_invoke(lam: Any) -> None:
    name = create(lam, CONTEXT, Environment={"Variables": {"COLOR": "blue"}})
    assert invoke_json(lam, name)[1]["env"]["COLOR"] == "blue"
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"COLOR": "red"}}
    )
    assert invoke_json(lam, name)[1]["env"]["COLOR"] == "red"


def test_update_function_code_changes_behaviour(lam: Any) -> None:
    name = create(lam, "def handler(e, c):\n    return 'old'\n")
    assert invoke_json(lam, name)[1] == "old"
    updated = lam.update_function_code(
        FunctionName=name, ZipFile=handler_zip("def handler(e, c):\n    return 'new'\n")
    )
    assert updated["Version"] == "$LATEST"
    assert invoke_json(lam, name)[1] == "new"


def test_raising_handler_is_an_unhandled_function_error(lam: Any) -> None:
    name = create(lam, "def handler(event, context):\n    raise ValueError('bad input')\n")
    response, doc = invoke_json(lam, name)
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert doc["errorType"] == "ValueError"
    assert doc["errorMessage"] == "bad input"
    assert doc["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert "raise ValueError('bad input')" in "".join(doc["stackTrace"])
    # The worker survives a handled error and keeps serving.
    assert invoke_json(lam, name)[1]["errorType"] == "ValueError"


def test_missing_module_is_an_import_error(lam: Any) -> None:
    name = create(lam, ECHO, Handler="nowhere.handler")
    response, doc = invoke_json(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert doc["errorType"] == "Runtime.ImportModuleError"
    assert doc["errorMessage"].startswith("Unable to import module 'nowhere'")


def test_timeout_kills_the_run_after_timeout_seconds(lam: Any) -> None:
    name = create(lam, SLEEPER, Timeout=1)
    first_pid = invoke_json(lam, name)[1]["pid"]
    started = time.monotonic()
    response, doc = invoke_json(lam, name, b'{"seconds": 30}', LogType="Tail")
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 5
    assert response["FunctionError"] == "Unhandled"
    assert doc["errorMessage"].endswith(
        f"{response['ResponseMetadata']['RequestId']} Task timed out after 1.00 seconds"
    )
    assert "Status: timeout" in base64.b64decode(response["LogResult"]).decode()
    # The killed worker was replaced.
    assert invoke_json(lam, name)[1]["pid"] != first_pid


def test_memory_beyond_memory_size_fails_out_of_memory(lam: Any) -> None:
    source = """
    def handler(event, context):
        blob = bytearray(event["mb"] * 1024 * 1024)
        return len(blob)
    """
    name = create(lam, source, MemorySize=128)
    assert invoke_json(lam, name, b'{"mb": 32}')[1] == 32 * 1024 * 1024
    response, doc = invoke_json(lam, name, b'{"mb": 300}')
    assert response["FunctionError"] == "Unhandled"
    assert doc["errorType"] == "Runtime.OutOfMemory"
    # A replaced worker serves again.
    assert invoke_json(lam, name, b'{"mb": 1}')[1] == 1024 * 1024


def test_log_type_tail_returns_the_end_of_the_execution_log(lam: Any) -> None:
    name = create(lam, "def handler(event, context):\n    print('hello from', event['who'])\n")
    response = lam.invoke(FunctionName=name, Payload=b'{"who": "tail"}', LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
    assert lines[start + 1] == "hello from tail"
    assert lines[start + 2] == f"END RequestId: {request_id}"
    report = lines[start + 3].split("\t")
    assert report[0] == f"REPORT RequestId: {request_id}"
    assert report[1].startswith("Duration: ") and report[1].endswith(" ms")
    assert report[3] == "Memory Size: 128 MB"
    assert report[4].startswith("Max Memory Used: ")
    assert "LogResult" not in lam.invoke(FunctionName=name, Payload=b'{"who": "x"}')


def test_execution_logs_reach_cloudwatch_logs(lam: Any, logs: Any) -> None:
    name = create(lam, "def handler(event, context):\n    print('logged line')\n")
    request_id = lam.invoke(FunctionName=name)["ResponseMetadata"]["RequestId"]
    group = f"/aws/lambda/{name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1
    stream = streams[0]["logStreamName"]
    date, _, rest = stream.partition("/[$LATEST]")
    assert len(date) == 10 and len(rest) == 32
    messages = [
        e["message"]
        for e in logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]
    ]
    assert messages[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert messages[1] == "logged line"
    assert messages[2] == f"END RequestId: {request_id}"
    assert messages[3].startswith(f"REPORT RequestId: {request_id}\tDuration: ")


def test_bad_json_payload_is_invalid_request_content(lam: Any) -> None:
    name = create(lam, ECHO)
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_payload_over_six_megabytes_is_too_large(lam: Any) -> None:
    name = create(lam, ECHO)
    big = json.dumps("x" * (6 * 1024 * 1024)).encode()
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=name, Payload=big)
    error = excinfo.value.response
    assert error["Error"]["Code"] == "RequestTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_payload_over_one_mebibyte_reaches_the_function(lam: Any) -> None:
    name = create(lam, "def handler(event, context):\n    return len(event)\n")
    payload = json.dumps("x" * (2 * 1024 * 1024)).encode()
    assert invoke_json(lam, name, payload)[1] == 2 * 1024 * 1024


def test_dry_run_answers_204_without_running(lam: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    name = create(lam, "def handler(e, c):\n    open(e['path'], 'w').write('x')\n")
    response = lam.invoke(
        FunctionName=name, InvocationType="DryRun", Payload=json.dumps({"path": str(marker)})
    )
    assert response["StatusCode"] == 204
    assert not marker.exists()


def test_event_invocation_runs_in_the_background_and_can_call_tule(
    lam: Any, s3: Any, server: Any
) -> None:
    # The function talks to this server through boto3 and AWS_ENDPOINT_URL, as a function
    # would talk to S3 in AWS.
    source = """
    import boto3

    def handler(event, context):
        boto3.client("s3").put_object(Bucket=event["bucket"], Key="out.txt", Body=b"done")
    """
    s3.create_bucket(Bucket="event-side-effect")
    name = create(lam, source, Timeout=30, MemorySize=256)
    response = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=b'{"bucket": "event-side-effect"}'
    )
    assert response["StatusCode"] == 202
    assert server.app.domains["lambda"].wait_for_events(timeout=30)
    assert s3.get_object(Bucket="event-side-effect", Key="out.txt")["Body"].read() == b"done"


def test_event_payload_over_256_kilobytes_is_too_large(lam: Any) -> None:
    name = create(lam, ECHO)
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(
            FunctionName=name,
            InvocationType="Event",
            Payload=json.dumps("x" * (256 * 1024)).encode(),
        )
    assert excinfo.value.response["Error"]["Code"] == "RequestTooLargeException"


def test_warm_worker_keeps_module_state_between_invokes(lam: Any) -> None:
    name = create(lam, COUNTER)
    answers = [invoke_json(lam, name)[1] for _ in range(3)]
    assert [a["calls"] for a in answers] == [1, 2, 3]
    assert len({a["pid"] for a in answers}) == 1


def test_concurrent_invokes_run_on_separate_workers_in_parallel(lam: Any, server: Any) -> None:
    name = create(lam, SLEEPER, Timeout=10)
    clients = [server.client("lambda") for _ in range(2)]
    for client in clients:  # two warm workers, so cold starts do not count below
        threading.Thread(target=invoke_json, args=(client, name, b'{"seconds": 0.3}')).start()
    time.sleep(0.05)
    invoke_json(lam, name, b'{"seconds": 0.5}')
    results: list[dict] = []

    def slow(client: Any) -> None:
        results.append(invoke_json(client, name, b'{"seconds": 1}')[1])

    threads = [threading.Thread(target=slow, args=(c,)) for c in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len(results) == 2 and results[0]["pid"] != results[1]["pid"]
    assert elapsed < 1.8, elapsed


def test_logging_and_output_without_newline_reach_the_log_promptly(lam: Any) -> None:
    source = """
    import logging, sys

    def handler(event, context):
        logging.getLogger().warning("careful")
        sys.stdout.write("no newline")
    """
    name = create(lam, source)
    lam.invoke(FunctionName=name)  # cold start out of the way
    started = time.monotonic()
    response = lam.invoke(FunctionName=name, LogType="Tail")
    assert time.monotonic() - started < 1.0
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
    level, stamp, logged_id, message = lines[start + 1].split("\t")
    assert (level, logged_id, message) == ("[WARNING]", request_id, "careful")
    assert stamp.endswith("Z") and len(stamp) == 24
    assert lines[start + 2] == "no newline"
    assert lines[start + 3] == f"END RequestId: {request_id}"


def test_handler_exiting_the_runtime_is_an_exit_error(lam: Any) -> None:
    name = create(lam, "import sys\n\ndef handler(event, context):\n    sys.exit(3)\n")
    response, doc = invoke_json(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert doc == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {response['ResponseMetadata']['RequestId']} Error: "
        "Runtime exited with error: exit status 3",
    }


def test_unserializable_answer_is_a_marshal_error(lam: Any) -> None:
    name = create(lam, "def handler(event, context):\n    return object()\n")
    response, doc = invoke_json(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert doc["errorType"] == "Runtime.MarshalError"
    assert doc["errorMessage"].startswith("Unable to marshal response:")
