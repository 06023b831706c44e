"""The worker process of each instance of a training job: its command and environment.

A built-in algorithm runs as `python -m tule.algorithms.container train` over the instance's
workspace (what `docker run <image> train` does); a script runs as the training toolkit would
run it, with the `SM_*` variables, the user's hyperparameters as arguments and, on several
instances, torch.distributed's variables. Every worker gets the platform's variables
(`TRAINING_JOB_NAME`, region, credentials, `AWS_ENDPOINT_URL` pointing back at tule, so the
script's own boto3 calls work) and the job's `Environment`.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tule.runtime import toolkit
from tule.runtime.executor import LineSink, ProcessSpec
from tule.runtime.workspace import Workspace, resource_config
from tule.services.sagemaker.script_mode import FRAMEWORK_MODULES, ScriptError, interpreter
from tule.services.sagemaker.training_plan import JobFailure, Plan
from tule.services.sagemaker.training_status import Record


@dataclass(frozen=True)
class Platform:
    """What the platform tells every worker: where tule is and how to sign requests to it."""

    region: str
    endpoint_url: str
    credentials: tuple[str, str]
    venv_cache: Path


def map_path(ws: Workspace, value: Any) -> Any:
    """Scripts name SageMaker's fixed paths (`/opt/ml/checkpoints`, `/opt/ml/model`) in their
    arguments and environment; here each instance's `/opt/ml` is its workspace folder."""
    if isinstance(value, str) and (value == "/opt/ml" or value.startswith("/opt/ml/")):
        return str(ws.map_container_path(value))
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _platform_env(platform: Platform, record: Record, plan: Plan) -> dict[str, str]:
    access_key, secret = platform.credentials
    env = dict(os.environ)
    env.pop("AWS_SESSION_TOKEN", None)
    env.update(
        {
            "TRAINING_JOB_NAME": record["TrainingJobName"],
            "TRAINING_JOB_ARN": record["TrainingJobArn"],
            "AWS_REGION": platform.region,
            "AWS_DEFAULT_REGION": platform.region,
            "AWS_ENDPOINT_URL": platform.endpoint_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "SM_NUM_CPUS": str(plan.placement.threads),
            "SM_NUM_GPUS": str(plan.placement.gpus),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _script(
    plan: Plan,
    record: Record,
    ws: Workspace,
    host: str,
    platform: Platform,
    note: Any,
    port: int,
) -> tuple[list[str], dict[str, str]]:
    script = plan.script
    assert script is not None
    try:
        python = interpreter(ws, platform.venv_cache, note)
    except ScriptError as exc:
        raise JobFailure(str(exc)) from None
    env = toolkit.training_environment(
        ws,
        job_name=record["TrainingJobName"],
        raw_hyperparameters=plan.hyperparameters,
        input_data_config=plan.data_config,
        resource_config=resource_config(host, plan.hosts, plan.instance_type),
        num_cpus=plan.placement.threads,
        num_gpus=plan.placement.gpus,
        entry_point=script.entry_point,
        module_dir=str(script.submit_directory),
        framework_module=FRAMEWORK_MODULES.get(script.framework),
    )
    if len(plan.hosts) > 1:
        env |= toolkit.distributed_environment(plan.hosts, host, port, plan.placement.gpus)
    path = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ws.code_dir) + (os.pathsep + path if path else "")
    arguments = {k: map_path(ws, v) for k, v in script.user_hyperparameters.items()}
    return toolkit.script_command(python, ws.code_dir, script.entry_point, arguments), env


def worker_specs(
    plan: Plan,
    record: Record,
    workspaces: list[Workspace],
    sinks: list[LineSink],
    notes: list[Any],
    platform: Platform,
    extra_env: dict[str, str],
) -> list[ProcessSpec]:
    """One ProcessSpec per instance; `sinks` receive each worker's lines, `notes` the
    platform's own lines for that instance (pip's output for requirements.txt)."""
    base = _platform_env(platform, record, plan) | extra_env
    port = free_port() if len(plan.hosts) > 1 else 0
    specs = []
    for i, (host, ws) in enumerate(zip(plan.hosts, workspaces, strict=True)):
        if plan.script is not None:
            argv, env = _script(plan, record, ws, host, platform, notes[i], port)
            cwd = ws.code_dir
        else:
            argv = [sys.executable, "-m", "tule.algorithms.container", "train"]
            argv += ["--workspace", str(ws.root), "--algorithm", plan.image]
            env, cwd = {}, ws.root
        user_env = {k: map_path(ws, v) for k, v in (record.get("Environment") or {}).items()}
        specs.append(
            ProcessSpec(
                argv=argv,
                env=base | env | user_env,
                cwd=cwd,
                on_line=sinks[i],
                threads=plan.placement.threads,
                memory_limit_bytes=plan.placement.memory_limit_bytes,
                name=f"{record['TrainingJobName']}/{host}",
            )
        )
    return specs
