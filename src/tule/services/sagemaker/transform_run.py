"""One batch transform job's execution on its own thread, and the runner that starts and stops
them (specs/aws-apis.md §5.2, §5.3).

The run: list the input objects (every object under an `S3Prefix`, or what a `ManifestFile`
lists: `channels.resolve`), start `InstanceCount` instances of the model (the hosting
`Launcher`: one model server per container, in parallel) with the batch variables of §5.2,
ask the first one `GET /execution-parameters` once, then spread the objects over the
instances. Each object is read from S3, turned into its `.out` bytes by `transform_object`
(split, filter, batch, `POST /invocations`, join, assemble) and written to
`<S3OutputPath>/<key below the input prefix>.out` only when all of it succeeded. A failed
object does not stop the others (AWS goes on with the other files, whose results stay
useful), but it fails the job, whose FailureReason names the first object that failed and its
records. StopTransformJob takes effect before the next request; instances are always stopped
at the end.

Logs go to CloudWatch Logs group `/aws/sagemaker/TransformJobs`: each instance's model-server
output to stream `<job>/<instance id>`, and what the platform does with each object (the
settings, each object started, written or failed) to `<job>/<instance id>/data-log`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tule.errors import AwsError
from tule.runtime.executor import THREAD_VARIABLES
from tule.runtime.model_server import InvocationTimeout, ServerUnavailable
from tule.services.sagemaker import channels
from tule.services.sagemaker.deployments import (
    DeploymentFailure,
    Instance,
    Launcher,
    placement_for,
)
from tule.services.sagemaker.hosting import Hosting
from tule.services.sagemaker.job_logs import HostLog, JobLog
from tule.services.sagemaker.job_runner import JobRunner, JobThread
from tule.services.sagemaker.records import Record
from tule.services.sagemaker.transform_batches import (
    TransformObjectError,
    TransformSettings,
    transform_object,
)
from tule.services.sagemaker.transform_jobs import (
    INTERRUPTED_REASON,
    LOG_GROUP,
    TransformJobs,
    finish,
)
from tule.services.sagemaker.transform_objects import output_key
from tule.services.sagemaker.transform_records import TransformConfigError, TransformDataError

log = logging.getLogger("tule.sagemaker.transform")

# ModelClientConfig defaults (AWS: 600 s per invocation, 3 retries).
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_RETRIES = 3
# Model servers get SIGTERM, then SIGKILL this much later, once the work is done.
STOP_GRACE_S = 5.0
# Objects one instance works on at once. Each is held in memory whole while it is transformed,
# and one object already keeps MaxConcurrentTransforms requests in flight, so a few suffice to
# keep an instance busy across many small objects without holding dozens of large ones.
OBJECTS_PER_INSTANCE = 4
_BODY_QUOTE = 512
_STRATEGY_VARIABLE = {"MultiRecord": "MULTI_RECORD", "SingleRecord": "SINGLE_RECORD"}

Outcome = tuple[str, str | None]  # TransformJobStatus, FailureReason


@dataclass(frozen=True)
class TransformEnv:
    """What a run needs from the SageMaker domain and its peers."""

    jobs: TransformJobs
    hosting: Hosting
    s3: Any
    logs: Any
    stop_grace_s: float = STOP_GRACE_S


@dataclass(frozen=True)
class WorkItem:
    """One input object and where its results go."""

    source: channels.SourceObject
    out_bucket: str
    out_key: str


class InvocationError(Exception):
    """A request the model did not answer with 2xx after the retries allowed, or one not sent
    because the job is stopping."""


def batch_environment(record: Record, threads: int) -> dict[str, str]:
    """What a transform job adds to its containers' environment (spec §5.2): SAGEMAKER_BATCH,
    the batch settings the request gives, the job's Environment, and thread caps.

    Thread caps: hosting servers answer small requests on one thread, but a batch request
    carries up to MaxPayloadInMB of records, and on SageMaker a transform instance's container
    has all of its vCPUs; so the servers of a job get their instance's share of this machine,
    unless the job's Environment says otherwise."""
    env = {"SAGEMAKER_BATCH": "true"}
    if record.get("MaxPayloadInMB") is not None:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(record["MaxPayloadInMB"])
    if record.get("BatchStrategy"):
        env["SAGEMAKER_BATCH_STRATEGY"] = _STRATEGY_VARIABLE[record["BatchStrategy"]]
    if record.get("MaxConcurrentTransforms"):
        env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(record["MaxConcurrentTransforms"])
    env |= {variable: str(threads) for variable in THREAD_VARIABLES}
    env |= {str(k): str(v) for k, v in (record.get("Environment") or {}).items()}
    return env


def execution_parameters(instance: Instance) -> dict[str, Any] | None:
    """The container's `GET /execution-parameters` answer; None (no preference) for a 404, an
    error or anything that is not a JSON object (spec §5.3)."""
    try:
        reply = instance.get("/execution-parameters")
    except (InvocationTimeout, ServerUnavailable):
        return None
    if reply.status != 200:
        return None
    try:
        answer = json.loads(reply.body)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def work_items(s3: Any, record: Record, region: str) -> list[WorkItem]:
    """Every input object of the job, in key (or manifest) order, with its `.out` location;
    raises ChannelError (a ClientError FailureReason) when there is nothing to read."""
    source = record["TransformInput"]["DataSource"]["S3DataSource"]
    data_type = source["S3DataType"]
    channel = {"ChannelName": "transform", "DataSource": {"S3DataSource": source}}
    output_path = record["TransformOutput"]["S3OutputPath"]
    items = []
    for obj in channels.resolve(s3, channel, region=region):
        if data_type == "ManifestFile":
            # A manifest entry is the key below the manifest's prefix, joined without a "/".
            prefix = f"s3://{obj.bucket}/{obj.key[: len(obj.key) - len(obj.relative_path)]}"
        else:
            prefix = source["S3Uri"]
        bucket, key = output_key(prefix, data_type, obj.key, output_path)
        items.append(WorkItem(obj, bucket, key))
    return items


def _quote(body: bytes) -> str:
    text = body[:_BODY_QUOTE].decode("utf-8", errors="replace").strip()
    return text + ("..." if len(body) > _BODY_QUOTE else "")


class TransformRun(JobThread):
    """Runs one job; `request_stop()` and `interrupt()` may be called from any thread."""

    def __init__(self, env: TransformEnv, account: str, region: str, name: str) -> None:
        self.env = env
        self.account, self.region, self.name = account, region, name
        super().__init__("transform", name)
        self.job_log = JobLog(env.logs, account, region, env.jobs.clock.time, group=LOG_GROUP)
        self.instances: list[Instance] = []
        self._lock = threading.Lock()
        self._pending: deque[WorkItem] = deque()
        self._failures: list[str] = []

    def interrupt(self) -> None:
        """The server is shutting down: end now, as a restart would. The instances stop at once,
        so requests still in flight fail rather than run out their timeout."""
        super().interrupt()
        self._stop_instances()

    def _now(self) -> float:
        return self.env.jobs.clock.time()

    def _update(self, change: Callable[[Record], None]) -> Record:
        return self.env.jobs.update(self.account, self.region, self.name, change)

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        self.job_log.start()
        try:
            status, reason = self._run()
        except Exception as exc:  # a bug of ours must still end the job, with its reason
            log.exception("transform job %s failed inside tule", self.name)
            status, reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"
        finally:
            self._stop_instances()
            self.job_log.close()
        if self.interrupted:
            status, reason = "Failed", INTERRUPTED_REASON
        self._update(lambda record: finish(record, status, self._now(), failure_reason=reason))

    def _run(self) -> Outcome:
        jobs, hosting = self.env.jobs, self.env.hosting
        record = jobs.get(self.account, self.region, self.name)
        try:
            model = hosting.models.describe(self.account, self.region, record["ModelName"])
            items = work_items(self.env.s3, record, self.region)
        except AwsError as exc:  # the model was deleted after the job was created
            return "Failed", f"ClientError: {exc.message}"
        except (channels.ChannelError, TransformConfigError, TransformDataError) as exc:
            return "Failed", str(exc)
        if self.stop_requested.is_set():
            return "Stopped", None

        resources = record["TransformResources"]
        count = max(1, int(resources.get("InstanceCount") or 1))
        definition = {
            "VariantName": self.name,
            "ModelName": record["ModelName"],
            "InstanceType": resources["InstanceType"],
            "InitialInstanceCount": count,
            "_Model": model,
        }
        data_logs: dict[str, HostLog] = {}

        def sink(variant: str, ident: str) -> Any:
            data_logs[ident] = self.job_log.open(f"{self.name}/{ident}/data-log", None)
            return self.job_log.open(f"{self.name}/{ident}", None).line

        try:
            placement = placement_for(definition, count)
            launcher = Launcher(
                model_data=hosting.model_data,
                platform=hosting.platform(self.region),
                executor=hosting.env.executor,
                log_sink=sink,
                extra_env=batch_environment(record, placement.threads),
            )
            variant = launcher.variant(definition, count)
        except DeploymentFailure as exc:
            return "Failed", f"ClientError: {exc}"
        with self._lock:
            self.instances = list(variant.instances)
        if self.stop_requested.is_set():
            return "Stopped", None
        self._update(lambda r: r.update(TransformStartTime=self._now()))

        settings = TransformSettings.from_request(record, execution_parameters(self.instances[0]))
        payload = settings.max_payload_bytes
        summary = (
            f"MaxConcurrentTransforms={settings.max_concurrent_transforms}, "
            f"MaxPayloadInMB={payload // (1 << 20) if payload else 0}, "
            f"BatchStrategy={_STRATEGY_VARIABLE[settings.batch_strategy]}"
        )
        for data_log in data_logs.values():
            data_log.note(summary)

        self._pending.extend(items)
        workers = min(OBJECTS_PER_INSTANCE, settings.max_concurrent_transforms)
        with ThreadPoolExecutor(
            max_workers=len(self.instances) * workers, thread_name_prefix=f"transform-{self.name}"
        ) as pool:
            futures = []
            for instance in self.instances:
                # One gate per instance: all its objects together keep at most
                # MaxConcurrentTransforms requests in flight to it.
                gate = threading.BoundedSemaphore(settings.max_concurrent_transforms)
                data_log = data_logs[instance.instance_id]
                futures += [
                    pool.submit(self._work, instance, gate, settings, record, data_log)
                    for _ in range(workers)
                ]
        for future in futures:
            future.result()  # a bug of ours in a worker surfaces as the job's failure
        if self.stop_requested.is_set():
            return "Stopped", None
        if self._failures:
            failed = len(self._failures)
            more = (
                f" ({failed} of {len(items)} input objects failed; see the data-log streams "
                f"of log group {LOG_GROUP})"
                if failed > 1
                else ""
            )
            return "Failed", f"ClientError: {self._failures[0]}{more}"
        return "Completed", None

    def _next(self) -> WorkItem | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def _work(
        self,
        instance: Instance,
        gate: threading.BoundedSemaphore,
        settings: TransformSettings,
        record: Record,
        data_log: HostLog,
    ) -> None:
        """One worker of an instance: objects one after another until none is left."""
        invoke = self._invoker(instance, gate, settings, record)
        while not self.stop_requested.is_set():
            item = self._next()
            if item is None:
                return
            url = item.source.url
            data_log.note(f"{url}: starting transform")
            try:
                data = b"".join(channels.read_chunks(self.env.s3, item.source))
                body = transform_object(
                    data,
                    settings,
                    invoke,
                    object_name=url,
                    max_concurrency=settings.max_concurrent_transforms,
                )
                del data
                self.env.s3.write_object(item.out_bucket, item.out_key, body, settings.accept)
            except TransformObjectError as exc:
                if self.stop_requested.is_set():
                    return  # the failure is the stop itself
                self._failed(data_log, str(exc))
                continue
            except channels.ChannelError as exc:
                self._failed(data_log, str(exc).removeprefix("ClientError: "))
                continue
            except AwsError as exc:
                destination = f"s3://{item.out_bucket}/{item.out_key}"
                self._failed(data_log, f"could not write {destination} ({exc.code}: {exc.message})")
                continue
            data_log.note(f"{url}: wrote s3://{item.out_bucket}/{item.out_key}")

    def _failed(self, data_log: HostLog, reason: str) -> None:
        with self._lock:
            self._failures.append(reason)
        data_log.note(f"failed: {reason}")

    def _invoker(
        self,
        instance: Instance,
        gate: threading.BoundedSemaphore,
        settings: TransformSettings,
        record: Record,
    ) -> Callable[[bytes], bytes]:
        """`invoke(payload) -> body` for transform_object: POST /invocations to `instance`
        with the job's types, timeout and retries (ModelClientConfig)."""
        config = record.get("ModelClientConfig") or {}
        timeout = float(config.get("InvocationsTimeoutInSeconds") or DEFAULT_TIMEOUT_S)
        retries = config.get("InvocationsMaxRetries")
        attempts = 1 + (DEFAULT_RETRIES if retries is None else int(retries))
        headers = {}
        if settings.content_type:
            headers["Content-Type"] = settings.content_type
        if settings.accept:
            headers["Accept"] = settings.accept
        stopped = self.stop_requested

        def invoke(payload: bytes) -> bytes:
            error = ""
            for _ in range(attempts):
                if stopped.is_set():
                    raise InvocationError("the transform job is stopping")
                with gate:
                    try:
                        reply, _ = instance.invoke(payload, headers, timeout)
                    except InvocationTimeout:
                        error = (
                            f"the model did not answer within {timeout:g} seconds "
                            "(ModelClientConfig.InvocationsTimeoutInSeconds)"
                        )
                        continue
                    except ServerUnavailable as exc:
                        error = str(exc)
                        continue
                if 200 <= reply.status < 300:
                    return reply.body
                error = (
                    f"Bad HTTP status received from algorithm: {reply.status}: {_quote(reply.body)}"
                )
                if reply.status < 500:
                    # A 4xx is the container refusing this payload: sending it again gets the
                    # same answer, so only timeouts, lost servers and 5xx are retried.
                    break
            raise InvocationError(error)

        return invoke

    def _stop_instances(self) -> None:
        with self._lock:
            instances, self.instances = self.instances, []
        if not instances:
            return
        grace = 1.0 if self.interrupted else self.env.stop_grace_s
        with ThreadPoolExecutor(max_workers=min(8, len(instances))) as pool:
            list(pool.map(lambda instance: instance.stop(grace), instances))


class TransformRunner(JobRunner):
    """Every running transform job of one server (see `job_runner`)."""

    def __init__(self, env: TransformEnv) -> None:
        super().__init__(env, TransformRun)
