"""The training runner: a `JobRun` thread per created training job (see `job_runner`)."""

from __future__ import annotations

from tule.services.sagemaker.job_runner import JobRunner
from tule.services.sagemaker.training_run import JobRun, RunEnv


class TrainingRunner(JobRunner):
    """Every running training job of one server."""

    def __init__(self, env: RunEnv) -> None:
        super().__init__(env, JobRun)
