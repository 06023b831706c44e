"""Hosting: models, endpoint configurations, endpoints and the requests they answer, wired
together for the SageMaker domain (specs/aws-apis.md §4).

`Hosting` owns the pieces and what they share: the prepared model artifacts, the executor that
starts model servers (the fork server, so a built-in's server is up in well under a second),
the endpoint logs (`/aws/sagemaker/Endpoints/<name>`, one stream per instance named
`<variant>/<instance id>`), data capture and the invocation metrics.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.runtime.executor import Executor, LineSink
from tule.services.sagemaker.data_capture import DataCapture
from tule.services.sagemaker.deployments import Launcher
from tule.services.sagemaker.endpoint_configs import EndpointConfigs
from tule.services.sagemaker.endpoint_metrics import EndpointMetrics
from tule.services.sagemaker.endpoints import Endpoints
from tule.services.sagemaker.invocations import LOG_GROUP_PREFIX, Invocations
from tule.services.sagemaker.job_logs import HostLog, JobLog
from tule.services.sagemaker.model_data import ModelData
from tule.services.sagemaker.models import Models
from tule.services.sagemaker.training_workers import Platform


@dataclass(frozen=True)
class HostingEnv:
    """What hosting needs from the SageMaker domain and its peers."""

    store: MetadataStore
    clock: Clock
    s3: Any
    logs: Any
    executor: Executor
    data_dir: Path
    endpoint_url: str
    credentials: tuple[str, str]


class EndpointLogs:
    """The CloudWatch Logs streams of every endpoint."""

    def __init__(self, logs: Any, clock: Clock) -> None:
        self.logs = logs
        self.clock = clock
        self._groups: dict[tuple[str, str, str], JobLog] = {}
        self._streams: dict[tuple[str, str, str, str], HostLog] = {}
        self._lock = threading.Lock()

    def stream(self, account: str, region: str, endpoint: str, stream: str) -> HostLog:
        with self._lock:
            found = self._streams.get((account, region, endpoint, stream))
            if found is not None:
                return found
            group = self._groups.get((account, region, endpoint))
            if group is None:
                group = JobLog(
                    self.logs, account, region, self.clock.time, LOG_GROUP_PREFIX + endpoint
                )
                group.start()
                self._groups[(account, region, endpoint)] = group
            host = self._streams[(account, region, endpoint, stream)] = group.open(stream, None)
            return host

    def sink(self, account: str, region: str, endpoint: str, stream: str) -> LineSink:
        return self.stream(account, region, endpoint, stream).line

    def note(self, account: str, region: str, endpoint: str, variant: str, text: str) -> None:
        self.stream(account, region, endpoint, f"{variant}/comparisons").note(text)

    def close(self) -> None:
        with self._lock:
            groups = list(self._groups.values())
        for group in groups:
            group.close()


class Hosting:
    """The hosting half of SageMaker."""

    def __init__(self, env: HostingEnv) -> None:
        self.env = env
        self.models = Models(env.store, env.clock)
        self.endpoint_configs = EndpointConfigs(env.store, env.clock, self.models)
        self.model_data = ModelData(env.s3, env.data_dir / "model-data")
        self.logs = EndpointLogs(env.logs, env.clock)
        self.endpoints = Endpoints(env.store, env.clock, self.endpoint_configs, self.launcher)
        self.capture = DataCapture(env.s3)
        self.metrics = EndpointMetrics()
        self.invocations = Invocations(
            self.endpoints, env.s3, self.capture, self.metrics, self.logs.note
        )

    def collection(self, kind: str) -> Models | EndpointConfigs | Endpoints:
        """The resources of an ARN kind: `model`, `endpoint-config` or `endpoint`."""
        return {
            "model": self.models,
            "endpoint-config": self.endpoint_configs,
            "endpoint": self.endpoints,
        }[kind]

    def platform(self, region: str) -> Platform:
        return Platform(
            region=region,
            endpoint_url=self.env.endpoint_url,
            credentials=self.env.credentials,
            venv_cache=self.env.data_dir / "venvs",
        )

    def launcher(
        self, account: str, region: str, endpoint: str, extra_env: dict[str, str] | None = None
    ) -> Launcher:
        """How instances of `endpoint` start (a transform job passes its own name)."""
        return Launcher(
            model_data=self.model_data,
            platform=self.platform(region),
            executor=self.env.executor,
            log_sink=lambda variant, ident: self.logs.sink(
                account, region, endpoint, f"{variant}/{ident}"
            ),
            extra_env=extra_env or {},
        )

    def close(self) -> None:
        self.endpoints.close()
        self.invocations.close()
        self.capture.close()
        self.logs.close()
