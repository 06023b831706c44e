"""InvokeEndpoint and InvokeEndpointAsync: a request through a serving endpoint
(specs/aws-apis.md §4.4 to §4.7).

A request picks its production variant (by weight, or `TargetVariant`), then an instance of
it, and goes to the model server with its Content-Type, Accept and custom attributes. The
container's answer comes back with `InvokedProductionVariant`; a non-2xx answer or a timeout
is a `ModelError` (424) carrying the container's status and message, and the endpoint keeps
serving. Around each call: data capture (sampled), a copy to shadow variants (sampled by
their weight, answered on a side pool, compared and logged, never returned) and the
variant's invocation metrics.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tule.errors import AwsError
from tule.runtime.model_server import InvocationTimeout, Reply, ServerUnavailable
from tule.services.sagemaker.channels import ChannelError, parse_s3_uri
from tule.services.sagemaker.data_capture import DataCapture
from tule.services.sagemaker.deployments import Deployment, Instance, Variant
from tule.services.sagemaker.endpoint_metrics import EndpointMetrics
from tule.services.sagemaker.endpoints import Endpoints

log = logging.getLogger("tule.sagemaker.invocations")

# Real endpoints give a container 60 s to answer /invocations (specs §4.8).
MODEL_TIMEOUT_S = 60.0
LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
_TIMEOUT_MESSAGE = (
    "Your invocation timed out while waiting for a response from container {container}. "
    "Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, "
    "and try again."
)


def validation_error(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


class Invocations:
    """Requests through endpoints, with capture, shadows and metrics."""

    def __init__(
        self,
        endpoints: Endpoints,
        s3: Any,
        capture: DataCapture,
        metrics: EndpointMetrics,
        shadow_log: Any,
        seed: int | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.s3 = s3
        self.capture = capture
        self.metrics = metrics
        self.shadow_log = shadow_log  # (account, region, endpoint, variant, line) -> None
        self.timeout_s = MODEL_TIMEOUT_S
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._side = ThreadPoolExecutor(max_workers=4, thread_name_prefix="endpoint-side")

    def _random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _deployment(self, account: str, region: str, name: str) -> Deployment:
        deployment = self.endpoints.serving(account, region, name)
        if deployment is None:
            raise validation_error(f"Endpoint {name} of account {account} not found.")
        return deployment

    def invoke(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        """InvokeEndpoint from a worker thread: the output shape, or AwsError."""
        call = self._begin(account, region, request)
        for attempt in range(call.attempts):
            instance = call.variant.next_instance()
            started = time.perf_counter()
            try:
                reply, container = instance.invoke(
                    call.body, call.headers, self.timeout_s, call.target
                )
            except (KeyError, InvocationTimeout, ServerUnavailable) as exc:
                self._failed(call, exc, instance, started, attempt)
                continue
            return self._end(call, reply, container, time.perf_counter() - started)
        raise _unavailable()

    async def ainvoke(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        """InvokeEndpoint on the gateway's event loop (no thread waits on the model server)."""
        call = self._begin(account, region, request)
        for attempt in range(call.attempts):
            instance = call.variant.next_instance()
            started = time.perf_counter()
            try:
                reply, container = await instance.invoke_async(
                    call.body, call.headers, self.timeout_s, call.target
                )
            except (KeyError, InvocationTimeout, ServerUnavailable) as exc:
                self._failed(call, exc, instance, started, attempt)
                continue
            return self._end(call, reply, container, time.perf_counter() - started)
        raise _unavailable()

    def _begin(self, account: str, region: str, request: dict[str, Any]) -> _Call:
        received = time.perf_counter()
        name = request["EndpointName"]
        deployment = self._deployment(account, region, name)
        variant = self._variant(deployment, name, request.get("TargetVariant"))
        content_type = request.get("ContentType") or "application/octet-stream"
        headers = {"Content-Type": content_type}
        if request.get("Accept"):
            headers["Accept"] = request["Accept"]
        if request.get("CustomAttributes"):
            headers["X-Amzn-SageMaker-Custom-Attributes"] = request["CustomAttributes"]
        if request.get("InferenceId"):
            headers["X-Amzn-SageMaker-Inference-Id"] = request["InferenceId"]
        return _Call(
            where=(account, region, name, variant.name),
            deployment=deployment,
            variant=variant,
            body=request.get("Body") or b"",
            headers=headers,
            target=request.get("TargetContainerHostname"),
            inference_id=request.get("InferenceId"),
            received=received,
            attempts=min(2, len(variant.instances)),
        )

    def _failed(
        self, call: _Call, exc: Exception, instance: Instance, started: float, attempt: int
    ) -> None:
        """Map a failed attempt to its error; a dead instance lets the next one try once."""
        if isinstance(exc, KeyError):
            raise validation_error(
                f"TargetContainerHostname {call.target} is not a container of this endpoint's "
                "model."
            ) from None
        if isinstance(exc, InvocationTimeout):
            elapsed = time.perf_counter() - started
            self.metrics.record(call.where, time.time(), 500, elapsed * 1e6, 0.0)
            container = call.target or instance.servers[0][0]
            raise AwsError(
                "ModelError",
                _TIMEOUT_MESSAGE.format(container=container),
                424,
                fields={"OriginalStatusCode": 0},
            ) from None
        if attempt + 1 >= call.attempts:
            raise _unavailable() from None

    def _end(self, call: _Call, reply: Reply, container: str, model_s: float) -> dict[str, Any]:
        account, region, name, variant = call.where
        if reply.status >= 300:
            self.metrics.record(call.where, time.time(), reply.status, model_s * 1e6, 0.0)
            raise self._model_error(account, region, name, container, reply)
        response_type = reply.headers.get("content-type", "application/octet-stream")
        out: dict[str, Any] = {
            "Body": reply.body,
            "ContentType": response_type,
            "InvokedProductionVariant": variant,
        }
        if "x-amzn-sagemaker-custom-attributes" in reply.headers:
            out["CustomAttributes"] = reply.headers["x-amzn-sagemaker-custom-attributes"]
        capture = call.deployment.config.get("DataCaptureConfig")
        if _sampled(capture, self._random):
            assert capture is not None
            self.capture.record(
                capture,
                call.where,
                (call.body, call.headers["Content-Type"]),
                (reply.body, response_type),
                call.inference_id,
            )
        for shadow in call.deployment.shadows:
            if self._random() < _shadow_share(call.deployment, shadow):
                self._side.submit(
                    self._shadow, account, region, name, shadow, call.body, call.headers, reply
                )
        total = time.perf_counter() - call.received
        self.metrics.record(
            call.where, time.time(), reply.status, model_s * 1e6, (total - model_s) * 1e6
        )
        return out

    def _variant(self, deployment: Deployment, name: str, target: str | None) -> Variant:
        variant = deployment.route(target, self._rng)
        if variant is None:
            if target is not None:
                raise validation_error(
                    f"Variant {target} not found for Endpoint {name}; the endpoint's variants are "
                    f"{', '.join(deployment.variants)}."
                )
            raise validation_error(
                f"Endpoint {name} has no production variant with a weight above 0."
            )
        return variant

    def _model_error(
        self, account: str, region: str, name: str, container: str, reply: Reply
    ) -> AwsError:
        text = reply.body.decode("utf-8", "replace")
        kind = "client" if reply.status < 500 else "server"
        group = LOG_GROUP_PREFIX + name
        message = (
            f'Received {kind} error ({reply.status}) from {container} with message "{text}". See '
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logEventViewer:group={group} in account {account} for more information."
        )
        return AwsError(
            "ModelError",
            message,
            424,
            fields={
                "OriginalStatusCode": reply.status,
                "OriginalMessage": text,
                "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{group}",
            },
        )

    def _shadow(
        self,
        account: str,
        region: str,
        name: str,
        shadow: Variant,
        body: bytes,
        headers: dict[str, str],
        production: Reply,
    ) -> None:
        where = (account, region, name, shadow.name)
        started = time.perf_counter()
        try:
            reply, _ = shadow.next_instance().invoke(body, headers, self.timeout_s)
        except (InvocationTimeout, ServerUnavailable) as exc:
            self.shadow_log(*where, f"shadow request failed: {type(exc).__name__}: {exc}")
            return
        elapsed = time.perf_counter() - started
        self.metrics.record(where, time.time(), reply.status, elapsed * 1e6, 0.0)
        same = reply.status == production.status and reply.body == production.body
        self.shadow_log(
            *where,
            f"shadow comparison: production status {production.status}, shadow status "
            f"{reply.status}, responses {'identical' if same else 'differ'}",
        )

    # -- asynchronous inference ---------------------------------------------------------------

    def invoke_endpoint_async(
        self, account: str, region: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        """InvokeEndpointAsync: accept the request, answer it in the background into S3."""
        name = request["EndpointName"]
        deployment = self._deployment(account, region, name)
        config = deployment.config.get("AsyncInferenceConfig")
        if not config:
            raise validation_error(
                f"Endpoint {name} of account {account} is not configured for asynchronous "
                "inference (its endpoint configuration has no AsyncInferenceConfig)."
            )
        location = request["InputLocation"]
        try:
            parse_s3_uri(location)
        except ChannelError as exc:
            raise validation_error(f"InputLocation: {exc}") from None
        inference_id = request.get("InferenceId") or str(uuid.uuid4())
        output = config["OutputConfig"]
        output_uri = f"{output['S3OutputPath'].rstrip('/')}/{inference_id}.out"
        out = {"InferenceId": inference_id, "OutputLocation": output_uri}
        failure_uri = None
        if output.get("S3FailurePath"):
            failure_uri = f"{output['S3FailurePath'].rstrip('/')}/{inference_id}-error.out"
            out["FailureLocation"] = failure_uri
        sync = {
            "EndpointName": name,
            "ContentType": request.get("ContentType"),
            "Accept": request.get("Accept"),
            "CustomAttributes": request.get("CustomAttributes"),
            "InferenceId": inference_id,
        }
        self._side.submit(
            self._answer_async, account, region, sync, location, output_uri, failure_uri
        )
        return out

    def _answer_async(
        self,
        account: str,
        region: str,
        request: dict[str, Any],
        location: str,
        output_uri: str,
        failure_uri: str | None,
    ) -> None:
        try:
            bucket, key = parse_s3_uri(location)
            body = b"".join(self.s3.read_object(bucket, key))
            answer = self.invoke(account, region, dict(request, Body=body))
            target, payload, content_type = output_uri, answer["Body"], answer["ContentType"]
        except AwsError as exc:
            if failure_uri is None:
                log.warning("async inference %s failed: %s", request["InferenceId"], exc)
                return
            target, payload, content_type = failure_uri, exc.message.encode(), "text/plain"
        bucket, key = parse_s3_uri(target)
        self.s3.write_object(bucket, key, payload, content_type)

    def close(self) -> None:
        self._side.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class _Call:
    """One InvokeEndpoint on its way: where it goes and what it carries."""

    where: tuple[str, str, str, str]  # account, region, endpoint, variant
    deployment: Deployment
    variant: Variant
    body: bytes
    headers: dict[str, str]
    target: str | None
    inference_id: str | None
    received: float
    attempts: int


def _unavailable() -> AwsError:
    # 503 ServiceUnavailable: botocore retries it, by which time the instance is back.
    return AwsError("ServiceUnavailable", "The model server is restarting; retry the request.", 503)


def _shadow_share(deployment: Deployment, shadow: Variant) -> float:
    """The share of requests a shadow variant receives a copy of: its weight relative to the
    production variants' total (AWS samples shadow traffic by weight)."""
    total = sum(v.weight for v in deployment.variants.values())
    return 1.0 if total <= 0 else min(1.0, shadow.weight / total)


def _sampled(capture: dict[str, Any] | None, draw: Any) -> bool:
    """Whether data capture keeps this request (InitialSamplingPercentage of them)."""
    if not capture or not capture.get("EnableCapture", True):
        return False
    return bool(draw() * 100 < float(capture["InitialSamplingPercentage"]))
