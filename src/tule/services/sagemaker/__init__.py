"""SageMaker: training, processing and batch-transform jobs that really run, and models served
behind real endpoints (`hosting`).

`SageMaker` is the domain the handlers call. Its records live in `<data dir>/sagemaker/
sagemaker.db`; job workspaces under `<data dir>/sagemaker/jobs/`, script mode's cached
virtualenvs under `<data dir>/sagemaker/venvs/`, prepared model artifacts under
`<data dir>/sagemaker/model-data/`. Channels and artifacts are read from and written to the S3
domain; job and endpoint logs go to the CloudWatch Logs domain (both in process).
"""

from __future__ import annotations

import logging
from typing import Any

from tule.algorithms import registry
from tule.algorithms.container.preload import BUILTIN_ALGORITHM_PRELOAD
from tule.metadata import open_store
from tule.runtime.forkserver import DEFAULT_PRELOAD, ForkServerExecutor
from tule.services.base import ServiceEnv
from tule.services.sagemaker import images
from tule.services.sagemaker.hosting import Hosting, HostingEnv
from tule.services.sagemaker.processing_jobs import ProcessingJobs
from tule.services.sagemaker.processing_run import ProcessingEnv, ProcessingRunner
from tule.services.sagemaker.tags import Tags
from tule.services.sagemaker.training_jobs import TrainingJobs
from tule.services.sagemaker.training_run import RunEnv
from tule.services.sagemaker.training_runner import TrainingRunner
from tule.services.sagemaker.transform_jobs import TransformJobs
from tule.services.sagemaker.transform_run import TransformEnv, TransformRunner

log = logging.getLogger("tule.sagemaker")

# Model servers fork from the same fork server as training workers, with their web stack loaded.
SERVING_PRELOAD = ("uvicorn", "starlette.applications", "tule.algorithms.container.serve")

__all__ = ["SageMaker"]


def _builtin_metric_definitions(image: str) -> list[dict[str, str]]:
    """The metric definitions SageMaker attaches to a built-in algorithm's image."""
    builtin = images.builtin_for(image)
    if builtin is None:
        return []
    cls = registry.get(builtin.algorithm)
    return [{"Name": m.name, "Regex": m.regex} for m in cls.metrics]


class SageMaker:
    """The SageMaker domain of one tule instance."""

    def __init__(self, env: ServiceEnv) -> None:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        settings = env.settings
        self.account_id = settings.account_id
        self.store = open_store(str(env.data_dir / "sagemaker.db"), fsync=env.fsync)
        self.training_jobs = TrainingJobs(self.store, env.clock)
        self.training_jobs.builtin_metrics = _builtin_metric_definitions
        interrupted = self.training_jobs.recover()
        if interrupted:
            log.info("%d training jobs were interrupted by a restart; marked Failed", interrupted)
        self.tags = Tags(self.store)
        self.tags.resolvers["training-job"] = self.training_jobs.exists
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        credentials = next(iter(settings.keys.items()), ("test", "test"))
        # Built-in workers fork from a process that has imported their libraries once (a new
        # interpreter spends ~1.5 s importing xgboost and scikit-learn); it starts with the
        # first job, which runs as a plain process meanwhile.
        self.executor = ForkServerExecutor(
            preload=DEFAULT_PRELOAD + BUILTIN_ALGORITHM_PRELOAD + SERVING_PRELOAD
        )
        # What every worker of every job kind is started with.
        platform: dict[str, Any] = {
            "s3": env.peer("s3"),
            "logs": env.peer("logs"),
            "executor": self.executor,
            "endpoint_url": f"http://{host}:{settings.port}",
            "credentials": credentials,
        }
        self.runner = TrainingRunner(
            RunEnv(
                jobs=self.training_jobs,
                jobs_dir=env.data_dir / "jobs",
                venv_cache=env.data_dir / "venvs",
                **platform,
            )
        )
        self.training_jobs.runner = self.runner
        self.processing_jobs = ProcessingJobs(self.store, env.clock)
        interrupted = self.processing_jobs.recover()
        if interrupted:
            log.info("%d processing jobs were interrupted by a restart; marked Failed", interrupted)
        self.tags.resolvers["processing-job"] = self.processing_jobs.exists
        self.processing_runner = ProcessingRunner(
            ProcessingEnv(
                jobs=self.processing_jobs,
                jobs_dir=env.data_dir / "processing",
                venv_cache=env.data_dir / "venvs",
                **platform,
            )
        )
        self.processing_jobs.runner = self.processing_runner
        self.hosting = Hosting(
            HostingEnv(store=self.store, clock=env.clock, data_dir=env.data_dir, **platform)
        )
        for kind in ("model", "endpoint-config", "endpoint"):
            self.tags.resolvers[kind] = self.hosting.collection(kind).records.exists_arn
        self.hosting.endpoints.recover()
        self.transform_jobs = TransformJobs(self.store, env.clock, self.hosting.models)
        ended = self.transform_jobs.recover()
        if ended:
            log.info("%d transform jobs were interrupted by a restart; ended", ended)
        self.tags.resolvers["transform-job"] = self.transform_jobs.exists
        self.transform_runner = TransformRunner(
            TransformEnv(
                jobs=self.transform_jobs,
                hosting=self.hosting,
                s3=env.peer("s3"),
                logs=env.peer("logs"),
            )
        )
        self.transform_jobs.runner = self.transform_runner

    def create_training_job(self, account: str, region: str, request: dict[str, Any]) -> str:
        """CreateTrainingJob: the job, and the tags it was created with; returns its ARN."""
        arn = self.training_jobs.create(account, region, request)
        self.tags.put_all(arn, request.get("Tags") or [])
        return arn

    def create_processing_job(self, account: str, region: str, request: dict[str, Any]) -> str:
        """CreateProcessingJob: the job, and the tags it was created with; returns its ARN."""
        arn = self.processing_jobs.create(account, region, request)
        self.tags.put_all(arn, request.get("Tags") or [])
        return arn

    def create_transform_job(self, account: str, region: str, request: dict[str, Any]) -> str:
        """CreateTransformJob: the job, and the tags it was created with; returns its ARN."""
        arn = self.transform_jobs.create(account, region, request)
        self.tags.put_all(arn, request.get("Tags") or [])
        return arn

    def create_resource(self, kind: str, account: str, region: str, request: dict[str, Any]) -> str:
        """Create{Model,EndpointConfig,Endpoint}: the resource and its tags; returns its ARN."""
        arn = self.hosting.collection(kind).create(account, region, request)
        self.tags.put_all(arn, request.get("Tags") or [])
        return arn

    def delete_resource(self, kind: str, account: str, region: str, name: str) -> None:
        """Delete{Model,EndpointConfig,Endpoint}: the resource goes, and its tags with it."""
        collection = self.hosting.collection(kind)
        collection.delete(account, region, name)
        self.tags.forget(collection.records.arn(account, region, name))

    def close(self) -> None:
        self.transform_runner.close()
        self.hosting.close()
        self.runner.close()
        self.processing_runner.close()
        self.executor.close()
        self.store.close()
