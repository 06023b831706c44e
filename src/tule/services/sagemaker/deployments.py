"""A running endpoint configuration: its variants, their instances, and each instance's model
servers (specs/aws-apis.md §4.3, §4.4, §4.8).

Each instance of a production (or shadow) variant runs one model server per container of the
variant's model, as separate processes; a serial inference pipeline passes each container's
response to the next. Requests pick a production variant at random by `CurrentWeight` (or the
one `TargetVariant` names) and then the variant's instances in turn. A model server that dies
is restarted by the runtime (`ModelServer`), so the endpoint stays InService. Starting a
deployment starts every instance in parallel and returns when all of them answer `/ping`;
stopping it sends SIGTERM, then SIGKILL after `grace_s` (SageMaker allows 30 s; callers pass
less once no traffic reaches the instance, so updates and deletes stay quick).
"""

from __future__ import annotations

import itertools
import random
import secrets
import threading
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tule.runtime.executor import Executor, LineSink
from tule.runtime.instances import Placement, PlacementError, place
from tule.runtime.model_server import ModelServer, Reply, ServerStartError
from tule.runtime.model_server_async import AsyncInvoker
from tule.services.sagemaker.model_containers import server_spec
from tule.services.sagemaker.model_data import ModelData, ModelDataError
from tule.services.sagemaker.models import containers, serial
from tule.services.sagemaker.training_workers import Platform

# AWS allows a container about 4 minutes to pass /ping after it starts (specs §4.8).
STARTUP_TIMEOUT_S = 240.0
SERVERLESS_INSTANCE = "ml.m5.large"


class DeploymentFailure(Exception):
    """A variant could not start; str(e) is the endpoint's FailureReason."""


def instance_id() -> str:
    """An EC2-style instance id, as endpoint log streams name instances."""
    return "i-" + secrets.token_hex(9)[:17]


class Instance:
    """One hosting instance: the model servers of its containers."""

    def __init__(
        self, instance_id: str, servers: list[tuple[str, ModelServer]], pipeline: bool
    ) -> None:
        self.instance_id = instance_id
        self.servers = servers
        self.pipeline = pipeline
        self._invokers: dict[str, AsyncInvoker] = {}

    def invoke(
        self, body: bytes, headers: Mapping[str, str], timeout: float, target: str | None = None
    ) -> tuple[Reply, str]:
        """The answer and the name of the container that gave it (the failing one, if any)."""
        steps = self._steps(body, headers, target)
        name, server, request_body, request_headers = next(steps)
        while True:
            reply = server.invoke(request_body, request_headers, timeout)
            try:
                name, server, request_body, request_headers = steps.send(reply)
            except StopIteration:
                return reply, name

    async def invoke_async(
        self, body: bytes, headers: Mapping[str, str], timeout: float, target: str | None = None
    ) -> tuple[Reply, str]:
        """`invoke` from the gateway's event loop (one loop: each server's invoker is made once)."""
        steps = self._steps(body, headers, target)
        name, server, request_body, request_headers = next(steps)
        while True:
            invoker = self._invoker(name, server)
            reply = await invoker.invoke(request_body, request_headers, timeout)
            try:
                name, server, request_body, request_headers = steps.send(reply)
            except StopIteration:
                return reply, name

    def _steps(
        self, body: bytes, headers: Mapping[str, str], target: str | None
    ) -> Generator[tuple[str, ModelServer, bytes, dict[str, str]], Reply, None]:
        """The requests of one invocation, each sent the previous answer: one container (the
        first, or `target` in Direct mode), or every container of a serial pipeline in turn,
        each getting the previous answer with its Content-Type and only the last the caller's
        Accept (the others answer their default); it ends at the last or at a failure."""
        if target is not None or not self.pipeline or len(self.servers) == 1:
            name, server = self._container(target)
            yield name, server, body, dict(headers)
            return
        accept = headers.get("Accept")
        current = {k: v for k, v in headers.items() if k != "Accept"}
        for position, (name, server) in enumerate(self.servers):
            if position == len(self.servers) - 1 and accept:
                current["Accept"] = accept
            reply = yield name, server, body, dict(current)
            if reply.status >= 300:
                return
            body = reply.body
            current["Content-Type"] = reply.headers.get("content-type", "application/octet-stream")

    def _invoker(self, name: str, server: ModelServer) -> AsyncInvoker:
        invoker = self._invokers.get(name)
        if invoker is None:
            invoker = self._invokers[name] = AsyncInvoker(server)
        return invoker

    def _container(self, target: str | None) -> tuple[str, ModelServer]:
        if target is None:
            return self.servers[0]
        for name, server in self.servers:
            if name == target:
                return name, server
        raise KeyError(target)

    def get(self, path: str, timeout: float = 10.0) -> Reply:
        """A GET to the first container (batch transform's /execution-parameters)."""
        return self.servers[0][1].request("GET", path, timeout=timeout)

    def stop(self, grace_s: float) -> None:
        for _, server in self.servers:
            server.stop(grace_s)


@dataclass
class Variant:
    """A production or shadow variant while it serves."""

    name: str
    definition: dict[str, Any]
    instances: list[Instance]
    weight: float
    shadow: bool = False
    _turn: Any = field(default_factory=itertools.count)

    def next_instance(self) -> Instance:
        instances = self.instances
        return instances[next(self._turn) % len(instances)]


@dataclass
class Deployment:
    """One endpoint configuration, running."""

    config: dict[str, Any]
    variants: dict[str, Variant]
    shadows: list[Variant]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, target: str | None, rng: random.Random) -> Variant | None:
        """The variant for a request: `target`, else weighted by CurrentWeight; None when the
        target is unknown or every weight is 0."""
        if target is not None:
            return self.variants.get(target)
        variants = list(self.variants.values())
        total = sum(v.weight for v in variants)
        if total <= 0:
            return None
        point = rng.random() * total
        for variant in variants:
            point -= variant.weight
            if point < 0:
                return variant
        return variants[-1]

    def stop(self, grace_s: float) -> None:
        everything = [i for v in [*self.variants.values(), *self.shadows] for i in v.instances]
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(everything)))) as pool:
            list(pool.map(lambda i: i.stop(grace_s), everything))


@dataclass(frozen=True)
class Launcher:
    """What starting instances needs: artifacts, platform and executor. Variant definitions
    carry their model's record in `_Model` (see `Endpoints`), so nothing is looked up here."""

    model_data: ModelData
    platform: Platform
    executor: Executor
    log_sink: Callable[[str, str], LineSink]  # (variant, instance id) -> line sink
    extra_env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = STARTUP_TIMEOUT_S

    def instance(self, definition: dict[str, Any], placement: Placement) -> Instance:
        """Start one instance of a variant; raises DeploymentFailure."""
        model = definition["_Model"]
        variant = definition["VariantName"]
        ident = instance_id()
        sink = self.log_sink(variant, ident)
        started: list[tuple[str, ModelServer]] = []
        definitions = containers(model)
        try:
            for position, container in enumerate(definitions):
                name = container.get("ContainerHostname") or (
                    "primary" if len(definitions) == 1 else f"container-{position + 1}"
                )
                spec = server_spec(
                    container,
                    model_data=self.model_data,
                    platform=self.platform,
                    placement=placement,
                    extra_env=self.extra_env,
                    on_line=sink,
                    name=f"{variant}/{ident}/{name}",
                    startup_timeout_s=self.startup_timeout_s,
                )
                server = ModelServer(spec, self.executor)
                server.start()
                started.append((name, server))
        except (ModelDataError, ServerStartError) as exc:
            for _, server in started:
                server.stop(1.0)
            raise DeploymentFailure(_failure(variant, exc)) from None
        return Instance(ident, started, serial(model))

    def variant(
        self, definition: dict[str, Any], count: int | None = None, shadow: bool = False
    ) -> Variant:
        """Start a variant's instances in parallel; raises DeploymentFailure."""
        count = count if count is not None else _instance_count(definition)
        placement = placement_for(definition, count)
        instances: list[Instance] = []
        failures: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, min(8, count))) as pool:
            futures = [pool.submit(self.instance, definition, placement) for _ in range(count)]
            for future in futures:
                try:
                    instances.append(future.result())
                except DeploymentFailure as exc:
                    failures.append(str(exc))
        if failures:
            for instance in instances:
                instance.stop(1.0)
            raise DeploymentFailure(failures[0])
        weight = float(definition.get("InitialVariantWeight", 1.0))
        return Variant(definition["VariantName"], definition, instances, weight, shadow)

    def deployment(self, config: dict[str, Any]) -> Deployment:
        """Start every variant of a configuration; raises DeploymentFailure, leaving nothing
        running."""
        definitions = [(v, False) for v in config["ProductionVariants"]]
        definitions += [(v, True) for v in config.get("ShadowProductionVariants") or []]
        started: list[Variant] = []
        failures: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(definitions)))) as pool:
            futures = [pool.submit(self.variant, d, None, s) for d, s in definitions]
            for future in futures:
                try:
                    started.append(future.result())
                except DeploymentFailure as exc:
                    failures.append(str(exc))
        deployment = Deployment(
            config,
            {v.name: v for v in started if not v.shadow},
            [v for v in started if v.shadow],
        )
        if failures:
            deployment.stop(1.0)
            raise DeploymentFailure(failures[0])
        return deployment


def _instance_count(definition: dict[str, Any]) -> int:
    if definition.get("ServerlessConfig"):
        return 1
    return int(definition.get("InitialInstanceCount") or 1)


def placement_for(definition: dict[str, Any], count: int) -> Placement:
    """Each instance's limits: the instance type's share of this machine, or for a serverless
    variant its MemorySizeInMB."""
    serverless = definition.get("ServerlessConfig")
    try:
        placement = place(
            definition.get("InstanceType") or SERVERLESS_INSTANCE, instance_count=max(1, count)
        )
    except PlacementError as exc:
        raise DeploymentFailure(str(exc)) from None
    if serverless:
        memory = int(serverless["MemorySizeInMB"]) * 1024 * 1024
        return Placement(placement.threads, memory, 0)
    return placement


def _failure(variant: str, exc: Exception) -> str:
    if isinstance(exc, ServerStartError):
        return (
            f"The primary container for production variant {variant} did not pass the ping "
            f"health check: {exc}"
        )
    return str(exc)
