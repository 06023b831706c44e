"""What survives a restart: functions, their code and versions, and accepted Event invocations;
and the in-process API other services call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lambda_helpers import ACCOUNT, ECHO, REGION, create, invoke_json

from tule.errors import AwsError
from tule.services.lambda_ import Invocation, Lambda
from tule.testing import TuleServer

SLOW_WRITER = """
import time

def handler(event, context):
    time.sleep(event["seconds"])
    with open(event["path"], "a") as out:
        out.write(event["tag"] + "\\n")
"""


def test_restart_keeps_functions_versions_and_code(tmp_path: Path) -> None:
    with TuleServer(tmp_path, fsync=False) as first:
        lam = first.client("lambda")
        name = create(lam, "def handler(e, c):\n    return 'v1'\n", Tags={"k": "v"})
        lam.publish_version(FunctionName=name)
        before = lam.get_function_configuration(FunctionName=name)
    with TuleServer(tmp_path, fsync=False) as second:
        lam = second.client("lambda")
        after = lam.get_function(FunctionName=name)
        before.pop("ResponseMetadata")
        assert after["Configuration"] == before
        assert after["Configuration"]["CodeSha256"] == before["CodeSha256"]
        assert after["Tags"] == {"k": "v"}
        assert invoke_json(lam, name)[1] == "v1"
        assert invoke_json(lam, name, Qualifier="1")[1] == "v1"


def test_accepted_events_run_after_a_restart(tmp_path: Path) -> None:
    out = tmp_path / "events.txt"
    data = tmp_path / "data"
    with TuleServer(data, fsync=False) as first:
        lam = first.client("lambda")
        name = create(lam, SLOW_WRITER, Timeout=30)
        for tag in ("a", "b", "c"):
            event = {"seconds": 1.0, "path": str(out), "tag": tag}
            response = lam.invoke(
                FunctionName=name, InvocationType="Event", Payload=json.dumps(event)
            )
            assert response["StatusCode"] == 202
        # Stopped while the events are still sleeping: none has finished.
    assert not out.exists()
    with TuleServer(data, fsync=False) as second:
        assert second.app.domains["lambda"].wait_for_events(timeout=30)
    assert sorted(out.read_text().split()) == ["a", "b", "c"]


def test_in_process_invoke_and_function_arn(tmp_path: Path) -> None:
    with TuleServer(tmp_path, fsync=False) as server:
        lam = server.client("lambda")
        name = create(lam, ECHO)
        domain: Lambda = server.app.domains["lambda"]
        result = domain.invoke(ACCOUNT, REGION, name, b'{"records": [1, 2]}', log_type="Tail")
        assert isinstance(result, Invocation)
        assert result.status_code == 200
        assert json.loads(result.payload) == {"records": [1, 2]}
        assert result.function_error is None and result.log_result
        assert result.executed_version == "$LATEST"
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        assert domain.function_arn(ACCOUNT, REGION, name) == arn
        assert domain.function_arn(ACCOUNT, REGION, arn) == arn
        event = domain.invoke(ACCOUNT, REGION, name, b"{}", invocation_type="Event")
        assert (event.status_code, event.payload) == (202, b"")
        with pytest.raises(AwsError) as excinfo:
            domain.function_arn(ACCOUNT, REGION, "missing")
        assert excinfo.value.code == "ResourceNotFoundException"
