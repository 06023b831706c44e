"""`train`: run a built-in algorithm inside a SageMaker-shaped job workspace.

Reads `input/config/hyperparameters.json`, `inputdataconfig.json` and `resourceconfig.json`,
binds each channel to `input/data/<channel>/` (File) or to the FIFOs `input/data/<channel>_<n>`
(Pipe, one per epoch), prints the IM containers' three configuration lines, trains, saves the
model into `model/`, and on failure writes the FailureReason to `output/failure` and returns a
non-zero exit code (1 for a client error, 2 for an algorithm error), as a container does.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from tule.algorithms.base import (
    Algorithm,
    AlgorithmError,
    ChannelData,
    Hyperparameters,
    Resources,
    ValidationStyle,
)
from tule.algorithms.container import instantiate
from tule.algorithms.distributed import communicator_args

# SageMaker truncates FailureReason to 1024 characters (specs/aws-apis.md, training jobs).
FAILURE_REASON_LIMIT = 1024


class StdoutReporter:
    """Prints the algorithm's log lines (the container's stdout), optionally to a callback."""

    def __init__(self, stream=None, sink: Callable[[str], None] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._sink = sink

    def log(self, line: str) -> None:
        print(line, file=self._stream, flush=True)
        if self._sink is not None:
            self._sink(line)


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    return json.loads(path.read_text() or "null") or default


def _prefix(style: ValidationStyle) -> str:
    if style is ValidationStyle.XGBOOST:
        return time.strftime("[%Y-%m-%d:%H:%M:%S:INFO] ")
    return time.strftime("[%m/%d/%Y %H:%M:%S INFO ") + f"{threading.get_ident()}] "


def _defaults(cls: type[Hyperparameters]) -> dict[str, str]:
    import dataclasses

    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING and f.default is not None:
            value = f.default
            if isinstance(value, bool):  # default-input.json spells booleans in lower case
                out[f.name] = str(value).lower()
            elif isinstance(value, list | tuple):
                out[f.name] = json.dumps(list(value))
            else:
                out[f.name] = str(value)
    return out


def _pipe_factory(data_dir: Path, channel: str) -> Callable[[], BinaryIO]:
    epoch = {"next": 0}

    def open_next() -> BinaryIO:
        path = data_dir / f"{channel}_{epoch['next']}"
        epoch["next"] += 1
        return open(path, "rb")  # the reader closes it

    return open_next


def load_channels(workspace: Path, algorithm: Algorithm) -> dict[str, ChannelData]:
    """The job's channels as `ChannelData`, content types defaulted per channel spec."""
    data_dir = workspace / "input" / "data"
    config = _read_json(workspace / "input" / "config" / "inputdataconfig.json", None)
    if config is None:  # no config file: every folder under input/data is a File channel
        config = {p.name: {} for p in sorted(data_dir.iterdir()) if p.is_dir()}
    defaults = {spec.name: spec.default_content_type for spec in algorithm.channels}
    channels = {}
    for name, entry in config.items():
        content_type = entry.get("ContentType") or defaults.get(name, "")
        pipe = entry.get("TrainingInputMode") == "Pipe"
        channels[name] = ChannelData(
            name=name,
            content_type=content_type,
            files=[] if pipe else [data_dir / name],
            stream_factory=_pipe_factory(data_dir, name) if pipe else None,
            compression=entry.get("CompressionType", "None"),
            record_wrapper=entry.get("RecordWrapperType", "None"),
        )
    return channels


def load_resources(workspace: Path) -> Resources:
    """The hosts of `resourceconfig.json`, the CPU/GPU share from the environment, and the
    communicator arguments of a multi-host job's tracker (`TULE_COLLECTIVE`)."""
    config = _read_json(workspace / "input" / "config" / "resourceconfig.json", {})
    hosts = tuple(config.get("hosts") or ("algo-1",))
    return Resources(
        current_host=config.get("current_host", hosts[0]),
        hosts=hosts,
        num_cpus=int(os.environ.get("SM_NUM_CPUS", os.cpu_count() or 1)),
        num_gpus=int(os.environ.get("SM_NUM_GPUS", 0)),
        collective=communicator_args(),
    )


def _write_failure(workspace: Path, reason: str) -> None:
    output = workspace / "output"
    output.mkdir(parents=True, exist_ok=True)
    (output / "failure").write_text(reason[:FAILURE_REASON_LIMIT])


def run_training(
    workspace: Path,
    algorithm_name: str | Algorithm,
    *,
    version: str | None = None,
    stream=None,
    sink: Callable[[str], None] | None = None,
) -> int:
    """Train in `workspace`; 0 on success, else non-zero with `output/failure` written.

    `algorithm_name` may be a registry name, the job's training image URI or an Algorithm
    instance. Log lines go to
    `stream` (stdout by default) and to `sink` when given."""
    workspace = Path(workspace)
    reporter = StdoutReporter(stream, sink)
    try:
        algorithm = instantiate(algorithm_name, version)
        hp_cls = algorithm.hyperparameters
        config_dir = workspace / "input" / "config"
        raw = {k: str(v) for k, v in _read_json(config_dir / "hyperparameters.json", {}).items()}
        prefix = _prefix(hp_cls.STYLE)
        defaults = _defaults(hp_cls)
        reporter.log(
            f"{prefix}Reading default configuration from "
            f"{type(algorithm).__module__}/default-input.json: {defaults}"
        )
        reporter.log(
            f"{prefix}Merging with provided configuration from "
            f"{config_dir / 'hyperparameters.json'}: {raw}"
        )
        reporter.log(f"{prefix}Final configuration: {defaults | raw}")
        hyperparameters = hp_cls.parse(raw)
        channels = load_channels(workspace, algorithm)
        algorithm.validate_channels(channels)
        model = algorithm.train(hyperparameters, channels, reporter, load_resources(workspace))
        model_dir = workspace / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        model.save(model_dir)
    except AlgorithmError as exc:
        reporter.log(exc.failure_reason)
        _write_failure(workspace, exc.failure_reason)
        return 1 if exc.client_error else 2
    except Exception as exc:  # a container reports any crash as AlgorithmError
        reporter.log(traceback.format_exc().rstrip())
        _write_failure(workspace, f"AlgorithmError: {type(exc).__name__}: {exc}")
        return 2
    return 0
