"""What a processing container runs here: its command line, interpreter and environment.

SageMaker runs `docker run --entrypoint <ContainerEntrypoint[0]> <ImageUri>
<ContainerEntrypoint[1:]> <ContainerArguments...>` (specs §5.5). tule runs no images: it runs
the entrypoint itself on this machine, with this Python standing in for the image's. A
program named `python`, `python3` or `python3.X` (bare or by path, such as the SDK's
`["python3", "/opt/ml/processing/input/code/preprocess.py"]`) becomes the server's interpreter,
so the scikit-learn and pandas installed beside tule are there; the same interpreter is
`python`, `python3`, `pip` and `pip3` on the PATH, for scripts such as the SDK
FrameworkProcessor's `runproc.sh` that call them by name. That script pip-installs the
`requirements.txt` of its `sourcedir.tar.gz`: when there is one, the interpreter is instead a
cached virtualenv with those requirements layered over the server's packages (as script mode
does, `runtime/venvs.py`), built before the job starts, so runproc.sh's `pip install` finds
everything installed and leaves the server's environment alone. (A script that runs
`pip install` by itself, without that layout, installs into the server's environment, as a
script-mode training job would.)

With a private `/opt/ml` (`runtime/container_root`), the command runs unchanged; without one,
every `/opt/ml/...` in the command line and in `Environment` is mapped to the instance's folder.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tule.runtime import container_root
from tule.runtime.executor import resolve_program
from tule.runtime.venvs import RequirementsError, requirements_python
from tule.runtime.workspace import Workspace
from tule.services.sagemaker.processing_io import DataError
from tule.services.sagemaker.records import Record
from tule.services.sagemaker.training_workers import Platform, map_path

# Where the SDK's processors put the code (ScriptProcessor: the script; FrameworkProcessor:
# sourcedir.tar.gz, which its runproc.sh unpacks in place).
CODE_DIR = "/opt/ml/processing/input/code"
_PYTHON = re.compile(r"python(?:\d+(?:\.\d+)?)?")
_SHIMS = {"python": "", "python3": "", "pip": " -m pip", "pip3": " -m pip"}


@dataclass(frozen=True)
class Command:
    """One instance's process: argv (wrapped for the private /opt/ml when there is one) and
    its complete environment."""

    argv: list[str]
    env: dict[str, str]


def interpreter(code: Path, scratch: Path, venv_cache: Path, note: Any) -> str:
    """The Python of the job: the server's, or a cached venv for the requirements.txt of the
    code's sourcedir.tar.gz (the FrameworkProcessor's layout, whose runproc.sh installs it;
    nothing else installs requirements on SageMaker). pip's lines go to `note`."""
    requirements = scratch / "requirements.txt"
    if not _extract_requirements(code / "sourcedir.tar.gz", requirements):
        return sys.executable
    note(f"tule: installing {requirements.name} of the job's code into a cached virtualenv")
    try:
        return requirements_python(requirements, venv_cache, sys.executable, note)
    except RequirementsError as exc:
        raise DataError(f"ClientError: installing requirements.txt failed: {exc}") from None


def _extract_requirements(archive: Path, into: Path) -> bool:
    if not archive.is_file():
        return False
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.isfile() and _top_level(m.name)), None)
            source = tar.extractfile(member) if member is not None else None
            if source is None:
                return False
            into.parent.mkdir(parents=True, exist_ok=True)
            into.write_bytes(source.read())
            return True
    except (tarfile.TarError, OSError, EOFError):
        return False  # runproc.sh's own tar reports a broken archive in the job's log


def _top_level(name: str) -> bool:
    return PurePosixPath(name.removeprefix("./")).parts == ("requirements.txt",)


def write_shims(folder: Path, python: str) -> Path:
    """A folder with `python`, `python3`, `pip` and `pip3` running `python`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, extra in _SHIMS.items():
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(python)}{extra} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    return folder


def command(
    record: Record,
    ws: Workspace,
    python: str,
    shims: Path,
    platform: Platform,
    private_root: bool,
) -> Command:
    """The process of one instance; DataError when the entrypoint cannot run here."""
    spec = record["AppSpecification"]
    entrypoint = list(spec.get("ContainerEntrypoint") or [])
    if not entrypoint:
        raise DataError(
            "ClientError: AppSpecification.ContainerEntrypoint is required in tule. tule runs "
            f"no container images, so the ENTRYPOINT of '{spec.get('ImageUri')}' is not "
            "available; give the command to run, for example "
            '["python3", "/opt/ml/processing/input/code/preprocess.py"].'
        )
    argv = entrypoint + list(spec.get("ContainerArguments") or [])
    if _PYTHON.fullmatch(PurePosixPath(argv[0]).name):
        argv[0] = python
    env = _environment(platform, shims)
    user_env = dict(record.get("Environment") or {})
    if not private_root:
        argv = [map_path(ws, a) for a in argv]
        user_env = {k: map_path(ws, v) for k, v in user_env.items()}
    env |= user_env
    # Resolved outside the namespace, where /opt/ml paths live in the instance's folder.
    try:
        program = resolve_program(str(map_path(ws, argv[0])), env, ws.root)
    except OSError as exc:
        raise DataError(
            f"ClientError: the ContainerEntrypoint program '{entrypoint[0]}' cannot be run "
            f"here ({exc.strerror or exc}). tule runs the entrypoint on this machine rather "
            "than in the image, so it must be python3 or a program found on this machine."
        ) from None
    if private_root:
        return Command(container_root.wrap(argv, ws.root, program=program), env)
    return Command([program, *argv[1:]], env)


def _environment(platform: Platform, shims: Path) -> dict[str, str]:
    """The server's environment, plus what the platform tells every container: where tule
    is and how to sign requests to it, so the container's own boto3 calls work."""
    access_key, secret = platform.credentials
    env = dict(os.environ)
    env.pop("AWS_SESSION_TOKEN", None)
    path = env.get("PATH") or os.defpath
    env.update(
        {
            "AWS_REGION": platform.region,
            "AWS_DEFAULT_REGION": platform.region,
            "AWS_ENDPOINT_URL": platform.endpoint_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{shims}{os.pathsep}{path}",
        }
    )
    return env
