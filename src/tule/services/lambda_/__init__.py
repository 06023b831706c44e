"""AWS Lambda: Python functions run for real, in warm worker processes.

A function's zip is stored and unpacked once per CodeSha256 (`code`); its configuration and
published versions are durable records (`catalog`, `<data dir>/lambda/lambda.db`); an
invocation runs its handler in a warm worker process (`tule.runtime.lambda_pool`: a clean
interpreter with the code first on `sys.path`, the function's environment, its memory size as
a data-segment limit and its timeout enforced by killing the worker), and writes START / END /
REPORT and whatever the function printed to CloudWatch Logs (`/aws/lambda/<name>`, one stream
per worker) through the logs domain. Event invocations are stored before they are accepted and
run in the background (`events`). Runtimes python3.9 to python3.13 are accepted and all run
on the server's own interpreter.

The in-process API for other tule services (Firehose's transformation Lambda, ...); errors are
`AwsError`s with Lambda's codes:

    @dataclass(frozen=True)
    class Invocation:
        status_code: int            # 200, 202, 204
        payload: bytes              # the function's JSON answer (or the error document)
        function_error: str | None  # "Unhandled" when the handler raised / timed out
        log_result: str | None      # base64 tail when log_type == "Tail"
        executed_version: str

    lambda_: Lambda = ...                       # the "lambda" domain object
    lambda_.invoke(account, region, function_name, payload, *,
                   invocation_type="RequestResponse", log_type="None",
                   qualifier=None) -> Invocation
    lambda_.function_arn(account, region, function_name) -> str

`function_name` is a name, a full or partial ARN, optionally with `:qualifier`;
`function_arn` answers the unqualified ARN of an existing function and raises
ResourceNotFoundException otherwise. `invoke` also takes `client_context` (the base64 text of
X-Amz-Client-Context) and `request_id` (the id the function sees as `aws_request_id`; a new
one by default).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from typing import Any

from tule.metadata import open_store
from tule.runtime.lambda_pool import WorkerPool
from tule.services.base import ServiceEnv
from tule.services.lambda_.catalog import Catalog
from tule.services.lambda_.code import CodeStore
from tule.services.lambda_.errors import (
    invalid_parameter,
    invalid_request_content,
    request_too_large,
)
from tule.services.lambda_.events import EventQueue, QueuedEvent
from tule.services.lambda_.functions import Functions
from tule.services.lambda_.invocation import Invocation, Runner, worker_key
from tule.services.lambda_.models import FunctionConfig
from tule.services.lambda_.names import LATEST, FunctionRef, parse_function, parse_resource_arn

__all__ = ["FunctionConfig", "Invocation", "Lambda"]

log = logging.getLogger("tule.lambda")

# Invoke's request payload quotas: 6 MB synchronous, 256 KB asynchronous.
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_EVENT_PAYLOAD = 256 * 1024
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
LOG_TYPES = ("None", "Tail")


def _check_json(payload: bytes) -> None:
    if not payload.strip():
        return
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_request_content(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None


def _client_context(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error):
        raise invalid_request_content(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None


class Lambda:
    """The AWS Lambda domain."""

    def __init__(self, env: ServiceEnv) -> None:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.clock = env.clock
        self.store = open_store(str(env.data_dir / "lambda.db"), fsync=env.fsync)
        self.catalog = Catalog(self.store)
        self.code = CodeStore(env.data_dir / "code", fsync=env.fsync)
        self.code.remove_unreferenced(self.catalog.all_code())
        self.pool = WorkerPool(clock=env.clock)
        self.functions = Functions(
            self.catalog, self.code, env.clock, lambda: env.peer("s3"), self._retire
        )
        self.runner = Runner(self.pool, self.code, env.settings, env.clock, env.peer("logs"))
        self.events = EventQueue(self.store, self._run_event)

    def close(self) -> None:
        self.events.stop()
        self.pool.close()
        self.events.join()
        self.store.close()

    def _retire(self, account: str, region: str, name: str, qualifier: str | None) -> None:
        if qualifier is None:  # the whole function: every version's workers
            self.pool.retire(worker_key(account, region, name, ""), prefix=True)
        else:
            self.pool.retire(worker_key(account, region, name, qualifier))

    # Functions

    def ref(
        self, account: str, region: str, name: str, qualifier: str | None = None
    ) -> FunctionRef:
        return parse_function(name, account, region, qualifier)

    def create_function(self, account: str, region: str, request: dict[str, Any]) -> FunctionConfig:
        return self.functions.create(account, region, request)

    def get_function(
        self, account: str, region: str, name: str, qualifier: str | None = None
    ) -> tuple[FunctionConfig, dict[str, str]]:
        ref = self.ref(account, region, name, qualifier)
        config = self.functions.resolve(ref)
        return config, self.functions.tags(ref)

    def get_function_configuration(
        self, account: str, region: str, name: str, qualifier: str | None = None
    ) -> FunctionConfig:
        return self.functions.resolve(self.ref(account, region, name, qualifier))

    def list_functions(
        self,
        account: str,
        region: str,
        *,
        all_versions: bool = False,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> tuple[list[FunctionConfig], str | None]:
        return self.functions.list(
            account, region, all_versions=all_versions, marker=marker, max_items=max_items
        )

    def update_function_code(
        self, account: str, region: str, name: str, request: dict[str, Any]
    ) -> FunctionConfig:
        return self.functions.update_code(self._unqualified(account, region, name), request)

    def update_function_configuration(
        self, account: str, region: str, name: str, request: dict[str, Any]
    ) -> FunctionConfig:
        ref = self._unqualified(account, region, name)
        return self.functions.update_configuration(ref, request)

    def _unqualified(self, account: str, region: str, name: str) -> FunctionRef:
        ref = self.ref(account, region, name)
        if ref.qualifier not in (None, LATEST):
            raise invalid_parameter("Only $LATEST of a function can be updated.")
        return FunctionRef(ref.account, ref.region, ref.name)

    def delete_function(
        self, account: str, region: str, name: str, qualifier: str | None = None
    ) -> None:
        self.functions.delete(self.ref(account, region, name, qualifier))

    def publish_version(
        self,
        account: str,
        region: str,
        name: str,
        *,
        code_sha256: str | None = None,
        description: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionConfig:
        return self.functions.publish(
            self._unqualified(account, region, name),
            code_sha256=code_sha256,
            description=description,
            revision_id=revision_id,
        )

    def list_versions(
        self,
        account: str,
        region: str,
        name: str,
        *,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> tuple[list[FunctionConfig], str | None]:
        ref = self._unqualified(account, region, name)
        return self.functions.versions(ref, marker=marker, max_items=max_items)

    def function_arn(self, account: str, region: str, function_name: str) -> str:
        ref = self.ref(account, region, function_name)
        self.functions.resolve(ref)
        return ref.unqualified_arn

    # Tags

    def list_tags(self, account: str, region: str, resource: str) -> dict[str, str]:
        return self.functions.tags(parse_resource_arn(resource, account, region))

    def tag_resource(self, account: str, region: str, resource: str, tags: dict[str, str]) -> None:
        self.functions.tag(parse_resource_arn(resource, account, region), tags)

    def untag_resource(self, account: str, region: str, resource: str, keys: list[str]) -> None:
        self.functions.untag(parse_resource_arn(resource, account, region), keys)

    def account_usage(self, account: str, region: str) -> tuple[int, int]:
        """(total code size, function count) in the account and region."""
        return self.functions.usage(account, region)

    # Invocations

    def invoke(
        self,
        account: str,
        region: str,
        function_name: str,
        payload: bytes,
        *,
        invocation_type: str = "RequestResponse",
        log_type: str = "None",
        qualifier: str | None = None,
        client_context: str | None = None,
        request_id: str | None = None,
    ) -> Invocation:
        if invocation_type not in INVOCATION_TYPES:
            raise invalid_parameter(f"Unsupported InvocationType: {invocation_type}")
        if log_type not in LOG_TYPES:
            raise invalid_parameter(f"Unsupported LogType: {log_type}")
        ref = self.ref(account, region, function_name, qualifier)
        config = self.functions.resolve(ref)
        if invocation_type == "DryRun":
            return Invocation(204, b"", None, None, config.version)
        request_id = request_id or str(uuid.uuid4())
        if invocation_type == "Event":
            if len(payload) > MAX_EVENT_PAYLOAD:
                raise request_too_large(MAX_EVENT_PAYLOAD, "InvokeAsync")
            _check_json(payload)
            event = QueuedEvent(account, region, ref.name, ref.qualifier, payload, request_id)
            self.events.submit(event)
            return Invocation(202, b"", None, None, config.version)
        if len(payload) > MAX_SYNC_PAYLOAD:
            raise request_too_large(MAX_SYNC_PAYLOAD, "InvokeFunction")
        _check_json(payload)
        return self.runner.run(
            config,
            ref.arn,
            payload,
            request_id,
            tail=log_type == "Tail",
            client_context=_client_context(client_context),
        )

    def _run_event(self, event: QueuedEvent) -> None:
        ref = self.ref(event.account, event.region, event.function_name, event.qualifier)
        config = self.functions.resolve(ref)  # gone since: ResourceNotFoundException, dropped
        result = self.runner.run(config, ref.arn, event.payload, event.request_id)
        if result.function_error:
            log.info("event %s of %s failed: %s", event.request_id, ref.arn, result.payload[:200])

    def wait_for_events(self, timeout: float | None = None) -> bool:
        """Wait until every accepted Event invocation has run (for tests and shutdown)."""
        return self.events.wait_idle(timeout)
