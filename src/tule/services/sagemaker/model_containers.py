"""How one model container starts: the command, environment and limits of its model server.

A built-in algorithm's image serves through `python -m tule.algorithms.container serve` (what
`docker run <image> serve` runs); a framework inference image serves the user's inference
script through `python -m tule.runtime.inference_toolkit`, with its source from the model's
`code/` folder (repacked models) or from the `sourcedir.tar.gz` that `SAGEMAKER_SUBMIT_DIRECTORY`
names, and a cached virtualenv when the source has a requirements.txt. Every container gets
the platform's variables (region, credentials, `AWS_ENDPOINT_URL` pointing back at tule) and
its `Environment`; a container's `/opt/ml/model` is the prepared model folder.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from tule.runtime.executor import LineSink
from tule.runtime.instances import Placement
from tule.runtime.model_server import ServerSpec
from tule.runtime.venvs import RequirementsError, requirements_python
from tule.services.sagemaker import images
from tule.services.sagemaker.model_data import ModelData, ModelDataError
from tule.services.sagemaker.training_workers import Platform

MODEL_DIR = "/opt/ml/model"
# Numeric libraries answer a request on one thread: requests are small, and a pool of spinning
# OpenMP threads per request costs more than it saves (a one-row XGBoost prediction took 35 ms
# with two threads beside a busy server, under 1 ms with one). Instances scale out instead.
SERVING_THREADS = 1


def _map(value: str, model_dir: Path) -> str:
    if value == MODEL_DIR or value.startswith(MODEL_DIR + "/"):
        return str(model_dir) + value[len(MODEL_DIR) :]
    return value


def platform_environment(platform: Platform) -> dict[str, str]:
    access_key, secret = platform.credentials
    env = dict(os.environ)
    env.pop("AWS_SESSION_TOKEN", None)
    env.update(
        {
            "AWS_REGION": platform.region,
            "AWS_DEFAULT_REGION": platform.region,
            "SAGEMAKER_REGION": platform.region,
            "AWS_ENDPOINT_URL": platform.endpoint_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def server_spec(
    container: dict[str, Any],
    *,
    model_data: ModelData,
    platform: Platform,
    placement: Placement,
    extra_env: dict[str, str],
    on_line: LineSink,
    name: str,
    startup_timeout_s: float,
) -> ServerSpec:
    """The model server of one container; raises ModelDataError with a FailureReason."""
    image = container.get("Image") or ""
    environment = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
    kind = images.classify_inference(image, environment)
    if kind is None:
        raise ModelDataError(images.unsupported_inference_reason(image))
    model_dir = model_data.model_dir(container)
    env = platform_environment(platform) | extra_env
    env["SM_NUM_CPUS"] = str(placement.threads)
    if isinstance(kind, images.BuiltInImage):
        argv = [sys.executable, "-m", "tule.algorithms.container", "serve"]
        argv += ["--algorithm", image, "--model-dir", str(model_dir), "--host", "127.0.0.1"]
    else:
        code_dir = _code_dir(environment, model_dir, model_data)
        python = _interpreter(code_dir, platform.venv_cache, on_line)
        argv = [python, "-m", "tule.runtime.inference_toolkit", "--model-dir", str(model_dir)]
        argv += ["--code-dir", str(code_dir), "--framework", kind.framework]
        path = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = str(code_dir) + (os.pathsep + path if path else "")
    env |= {k: _map(v, model_dir) for k, v in environment.items()}
    return ServerSpec(
        argv=argv,
        env=env,
        cwd=model_dir,
        on_line=on_line,
        name=name,
        threads=SERVING_THREADS,
        memory_limit_bytes=placement.memory_limit_bytes,
        startup_timeout_s=startup_timeout_s,
    )


def _code_dir(environment: dict[str, str], model_dir: Path, model_data: ModelData) -> Path:
    submitted = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submitted.startswith("s3://"):
        return model_data.archive(submitted)
    if submitted and not submitted.startswith(MODEL_DIR):
        raise ModelDataError(
            f"SAGEMAKER_SUBMIT_DIRECTORY must be an S3 URI of a source archive or a folder under "
            f"{MODEL_DIR}; got {submitted!r}."
        )
    return Path(_map(submitted, model_dir)) if submitted else model_dir / "code"


def _interpreter(code_dir: Path, venv_cache: Path, on_line: LineSink) -> str:
    requirements = code_dir / "requirements.txt"
    if not requirements.is_file():
        return sys.executable
    try:
        return requirements_python(
            requirements, venv_cache, sys.executable, lambda line: on_line(time.time(), line)
        )
    except RequirementsError as exc:
        raise ModelDataError(f"Installing the model's requirements.txt failed: {exc}") from None
