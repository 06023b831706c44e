"""Script mode: running a user's training script as a framework image would (specs §2.8).

The SDK uploads the source folder as `sourcedir.tar.gz` and names it in the reserved
hyperparameter `sagemaker_submit_directory`, the script in `sagemaker_program`. Here the
archive is fetched from S3 and unpacked into each instance's `code/`; a `requirements.txt`
there gets a cached virtualenv layered over the server's packages; the script runs with the
training toolkit's `SM_*` environment and the user's hyperparameters as arguments.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tule.runtime import toolkit
from tule.runtime.archive import ArchiveError, extract_tar_gz
from tule.runtime.venvs import RequirementsError, requirements_python
from tule.runtime.workspace import Workspace
from tule.services.sagemaker.channels import ChannelError, parse_s3_uri

# The module the toolkit runs for each framework image (SM_FRAMEWORK_MODULE).
FRAMEWORK_MODULES = {
    "sklearn": "sagemaker_sklearn_container.training:main",
    "pytorch": "sagemaker_pytorch_container.training:main",
    "tensorflow": "sagemaker_tensorflow_container.training:main",
    "mxnet": "sagemaker_mxnet_container.training:main",
    "huggingface": "sagemaker_huggingface_pytorch_container.training:main",
    "xgboost": "sagemaker_xgboost_container.training:main",
}


class ScriptError(Exception):
    """The user's source could not be prepared; str(e) is the FailureReason."""


@dataclass(frozen=True)
class Script:
    """What to run for one job: the entry point and its decoded hyperparameters."""

    entry_point: str
    submit_directory: str | None
    user_hyperparameters: dict[str, Any]
    framework: str

    @classmethod
    def from_hyperparameters(cls, raw: dict[str, str], framework: str) -> Script | None:
        user, framework_params = toolkit.decode_hyperparameters(raw)
        program = framework_params.get("sagemaker_program")
        if not program:
            return None
        return cls(
            str(program), framework_params.get("sagemaker_submit_directory"), user, framework
        )


def fetch_source(s3: Any, script: Script, workspaces: list[Workspace]) -> None:
    """Unpack the submitted source into every instance's `code/`."""
    uri = script.submit_directory
    if not uri:
        raise ScriptError(
            "ClientError: sagemaker_submit_directory is not set; script mode needs the S3 URI "
            "of the source archive (sourcedir.tar.gz)."
        )
    try:
        bucket, key = parse_s3_uri(str(uri))
    except ChannelError as exc:
        raise ScriptError(f"ClientError: sagemaker_submit_directory: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="tule-source-") as scratch:
        archive = Path(scratch) / "sourcedir.tar.gz"
        try:
            with open(archive, "wb") as f:
                for chunk in s3.read_object(bucket, key):
                    f.write(chunk)
        except Exception as exc:
            code = getattr(exc, "code", type(exc).__name__)
            raise ScriptError(
                f"ClientError: could not download the source archive {uri}: {code}"
            ) from None
        for ws in workspaces:
            try:
                extract_tar_gz(archive, ws.code_dir)
            except ArchiveError as exc:
                raise ScriptError(f"ClientError: the source archive {uri}: {exc}") from None
    entry = workspaces[0].code_dir / script.entry_point
    if not entry.is_file():
        raise ScriptError(
            f"ClientError: the entry point '{script.entry_point}' is not in the source archive "
            f"{uri}."
        )


def interpreter(workspace: Workspace, venv_cache: Path, on_line: Any) -> str:
    """The Python that runs the script: the server's, or a cached venv for requirements.txt."""
    requirements = workspace.code_dir / "requirements.txt"
    if not requirements.is_file():
        return sys.executable
    try:
        return requirements_python(requirements, venv_cache, sys.executable, on_line)
    except RequirementsError as exc:
        raise ScriptError(f"ClientError: installing requirements.txt failed: {exc}") from None
