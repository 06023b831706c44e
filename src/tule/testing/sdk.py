"""The SageMaker Python SDK (v2) pointed at a tule server, for tests.

`sdk_session(server, bucket, patch)` gives a `sagemaker.Session` whose clients all talk to the
server, with telemetry off. It also makes the SDK quick without changing its logic: its waits
(`_wait_until` sleeps 30 s before each DescribeEndpoint, the log tailer 10 s between polls)
run on a clock `speed` times faster, and its config, a constant here, is validated against the
SDK's JSON schema once rather than on every lookup (~0.3 s each, dozens per deploy).
"""

from __future__ import annotations

import os
import time as real_time
from typing import Any

import boto3
import pytest

from tule.testing.server import TuleServer

TELEMETRY_OFF = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


class FastClock:
    """`time` as `sagemaker.session` sees it, `speed` times faster."""

    def __init__(self, speed: float = 100.0) -> None:
        self.speed = speed
        self._start = real_time.time()

    def time(self) -> float:
        return self._start + (real_time.time() - self._start) * self.speed

    def sleep(self, seconds: float) -> None:
        real_time.sleep(seconds / self.speed)

    def __getattr__(self, name: str) -> Any:
        return getattr(real_time, name)


def _validated_once(original: Any) -> Any:
    original(TELEMETRY_OFF)

    def validate(config: Any = None) -> Any:
        return None if config == TELEMETRY_OFF else original(config)

    return validate


def sdk_session(
    server: TuleServer,
    bucket: str,
    patch: pytest.MonkeyPatch,
    *,
    region: str = "us-east-1",
    speed: float = 100.0,
) -> Any:
    """A `sagemaker.Session` on `server` with `bucket` as its default bucket; `patch` undoes
    the environment and SDK changes when the test (or module) ends."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import sagemaker
    import sagemaker.session as sdk_session_module
    import sagemaker.utils as sdk_utils

    patch.setattr(
        sdk_utils, "validate_sagemaker_config", _validated_once(sdk_utils.validate_sagemaker_config)
    )
    patch.setattr(sdk_session_module, "time", FastClock(speed))
    patch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    patch.setenv("AWS_ACCESS_KEY_ID", "test")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    return sagemaker.Session(
        boto_session=boto3.Session(region_name=region),
        sagemaker_client=server.client("sagemaker"),
        default_bucket=bucket,
        sagemaker_config=TELEMETRY_OFF,
    )
