"""The algorithm interface every built-in implements, and the values that cross it.

An `Algorithm` subclass declares its SageMaker identity (name, image repositories), a frozen
`Hyperparameters` dataclass, its channels with accepted content types, and its metrics with the
exact names and regexes SageMaker attaches to the image. `train()` reads channel data through
`tule.algorithms.formats`, writes SageMaker-style log lines to the `Reporter` (metrics are
extracted from those lines by regex, as SageMaker does), and returns a `TrainedModel`, which
saves to and loads from a model directory and predicts on arrays. Turning request bytes into
arrays and predictions into response bytes is `tule.algorithms.inference`'s job.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import numpy as np


class AlgorithmError(Exception):
    """A failure SageMaker reports as the job's FailureReason.

    `client_error=True` (the default) is the user's fault: "ClientError: <reason>"; False is an
    internal failure: "AlgorithmError: <reason>"."""

    def __init__(self, reason: str, *, client_error: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_error = client_error

    @property
    def failure_reason(self) -> str:
        return f"{'ClientError' if self.client_error else 'AlgorithmError'}: {self.reason}"


class HyperparameterError(AlgorithmError):
    """A hyperparameter rejected with the reason SageMaker gives."""


class DataError(AlgorithmError):
    """Channel data that cannot be used (wrong feature count, non-numeric CSV, ...)."""


# ---------------------------------------------------------------------------------------------
# Hyperparameters


class ValidationStyle(Enum):
    """How a container words hyperparameter errors (specs/algorithms.md §0.1)."""

    JSON_SCHEMA = "json-schema"  # the IM family: "Additional properties are not allowed ..."
    XGBOOST = "xgboost"  # "Missing required hyperparameter: num_round", "Extraneous ..."


@dataclass(frozen=True)
class Spec:
    """Constraints of one hyperparameter, attached to its dataclass field."""

    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[Any, ...] | None = None
    tunable: bool = False
    aliases: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None  # custom parser (lists, 'auto' values, ...)
    allow: tuple[str, ...] = ()  # literal strings accepted besides the typed values ('auto')


def hp(default: Any = None, **spec: Any) -> Any:
    """Declare a hyperparameter field: `k: int | None = hp(required=True, minimum=1)`."""
    return field(default=default, metadata={"spec": Spec(**spec)})


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise ValueError(text)


@dataclass(frozen=True)
class Hyperparameters:
    """Base of every algorithm's frozen hyperparameter dataclass.

    `parse` takes SageMaker's string map (what CreateTrainingJob carries: the SDK sends `str()`
    of each value, booleans as "True"/"False", lists as JSON), applies defaults, checks ranges,
    choices and required members, rejects unknown names (hidden `_`-prefixed ones and
    `IGNORED` are accepted and ignored), and raises `HyperparameterError` worded in the
    container's `STYLE`.
    """

    STYLE: ClassVar[ValidationStyle] = ValidationStyle.JSON_SCHEMA
    IGNORED: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def specs(cls) -> dict[str, tuple[dataclasses.Field, Spec]]:
        return {f.name: (f, f.metadata.get("spec", Spec())) for f in dataclasses.fields(cls)}

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Self:
        from tule.algorithms.hyperparameters import parse_hyperparameters

        return parse_hyperparameters(cls, raw)

    def as_strings(self) -> dict[str, str]:
        """The values as the container would log them in 'Final configuration'."""
        out = {}
        for name in self.specs():
            value = getattr(self, name)
            if value is not None:
                out[name] = json.dumps(value) if isinstance(value, list | tuple) else str(value)
        return out


# ---------------------------------------------------------------------------------------------
# Channels, data and metrics


@dataclass(frozen=True)
class ChannelSpec:
    """A training channel an algorithm accepts."""

    name: str
    required: bool
    content_types: tuple[str, ...]
    default_content_type: str
    input_modes: tuple[str, ...] = ("File", "Pipe")


@dataclass
class ChannelData:
    """A channel as the algorithm receives it: files (File mode) or a byte stream (Pipe mode).

    `content_type` is the full MIME string from the job (`text/csv;label_size=1`);
    `compression` is "None" or "Gzip" (files may also simply end in .gz).
    """

    name: str
    content_type: str
    files: list[Path] = field(default_factory=list)
    stream_factory: Callable[[], Any] | None = None  # Pipe mode: a new binary stream per epoch
    compression: str = "None"
    record_wrapper: str = "None"


class Direction(Enum):
    MAXIMIZE = "Maximize"
    MINIMIZE = "Minimize"


@dataclass(frozen=True)
class MetricDefinition:
    """A metric as SageMaker attaches it to the image: name, regex over the log, direction."""

    name: str
    regex: str
    direction: Direction | None = None  # None: not tunable

    @property
    def tunable(self) -> bool:
        return self.direction is not None


class Reporter(Protocol):
    """Where an algorithm writes its log lines (the container's stdout)."""

    def log(self, line: str) -> None: ...


class ListReporter:
    """A Reporter that keeps the lines (tests, the conformance suite)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        self.lines.append(line)


@dataclass(frozen=True)
class Resources:
    """Where training runs: this host among all hosts, and how many CPU threads it may use.

    With several hosts, `collective` holds the communicator arguments of the job's tracker
    (`tule.algorithms.distributed`); algorithms join it through `distributed.joined`."""

    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)
    num_cpus: int = 1
    num_gpus: int = 0
    # A dict, so left out of the hash (the dataclass stays hashable when it is None or set).
    collective: dict[str, Any] | None = field(default=None, hash=False)


# ---------------------------------------------------------------------------------------------
# Models and algorithms


class TrainedModel(ABC):
    """A trained model: saved into / loaded from a model directory; predicts on arrays."""

    @abstractmethod
    def save(self, model_dir: Path) -> None:
        """Write the artifact files (e.g. `xgboost-model`, `model_algo-1`) into model_dir."""

    @classmethod
    @abstractmethod
    def load(cls, model_dir: Path) -> Self:
        """Read a model written by `save`."""

    # The number of features the model expects, when it knows it (a property is fine).
    # Inference passes it to the request decoders: sparse requests get this width and dense
    # ones are checked against it. Leave None to check widths in `predict` (XGBoost accepts
    # one column fewer).
    feature_dim: int | None = None

    @abstractmethod
    def predict(
        self, features: Any, *, options: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray]:
        """Predictions for a 2-D array (numpy or scipy.sparse CSR) of features.

        Returns output keys as SageMaker names them (`predicted_label`, `score`,
        `closest_cluster`, `projection`, ...) mapped to arrays with one entry (or row) per
        input row; a row may itself be a vector (multiclass `score`). Key order is the order
        of JSON objects and CSV columns in responses. `options` carries the request's MIME
        parameters (Content-Type's and Accept's, e.g. `verbose=true`). Raise `DataError` /
        `AlgorithmError` for a request the model cannot answer (HTTP 400)."""


class Algorithm(ABC):
    """A SageMaker built-in algorithm.

    Besides the class attributes and `train`, every algorithm implements two classmethods the
    conformance suite (`tule.testing.algorithms`) relies on:

    * `example_hyperparameters()`: the smallest string map that trains (the required
      hyperparameters, e.g. `{"num_round": "5"}`; with `feature_dim` etc. matching
      `example_data`), kept small so a run takes well under a second;
    * `example_data(seed)`: a small generated `Dataset` per channel (`"train"`, plus
      `"validation"`/`"test"` where the algorithm emits metrics for them) with labels where
      the algorithm needs them; a few hundred rows at most.

    Optional hooks: `emitted_metrics` (which declared metrics a given run logs),
    `json_response_key` (PCA "projections", RCF "scores"), `encode_response`
    for container-specific response bodies, `decode_error_status` for how the server answers
    an unparsable request (XGBoost: 415).
    """

    name: ClassVar[str]  # "xgboost", "linear-learner", ...
    repositories: ClassVar[tuple[str, ...]]  # ECR repository names ("sagemaker-xgboost", ...)
    versions: ClassVar[tuple[str, ...]] = ("1",)  # image tags the algorithm implements
    default_version: ClassVar[str] = "1"
    hyperparameters: ClassVar[type[Hyperparameters]]
    channels: ClassVar[tuple[ChannelSpec, ...]]
    metrics: ClassVar[tuple[MetricDefinition, ...]]
    model_class: ClassVar[type[TrainedModel]]
    # Inference content types (requests) and accept types (responses) the container supports.
    request_content_types: ClassVar[tuple[str, ...]]
    response_accept_types: ClassVar[tuple[str, ...]]
    default_accept: ClassVar[str] = "application/json"
    # The top-level key of application/json responses (specs §0.3).
    json_response_key: ClassVar[str] = "predictions"
    # HTTP status for a request body that cannot be decoded (bad CSV, bad JSON, ...).
    decode_error_status: ClassVar[int] = 400

    @abstractmethod
    def train(
        self,
        hyperparameters: Hyperparameters,
        channels: Mapping[str, ChannelData],
        reporter: Reporter,
        resources: Resources = Resources(),
    ) -> TrainedModel:
        """Train on the channels; raise `AlgorithmError` with SageMaker's reason on failure.

        Log lines go to `reporter.log` exactly as the container prints them (metric regexes
        run over them). Tabs may be written as tabs: log pipelines render them as `#011`."""

    def validate_channels(self, channels: Mapping[str, ChannelData]) -> None:
        """Reject missing required channels, unknown channels and unsupported content types."""
        from tule.algorithms.channels import check_channels

        check_channels(self, channels)

    @classmethod
    def metric_names(cls) -> Sequence[str]:
        return [m.name for m in cls.metrics]

    @classmethod
    def example_hyperparameters(cls) -> dict[str, str]:
        """Required hyperparameters that make `example_data` train quickly (see class doc)."""
        return {}

    @classmethod
    def example_data(cls, seed: int = 0) -> Mapping[str, Any]:
        """A small `tule.algorithms.formats.Dataset` per channel (see class doc)."""
        raise NotImplementedError(f"{cls.__name__} does not provide example data")

    @classmethod
    def emitted_metrics(
        cls, hyperparameters: Mapping[str, str], channels: Sequence[str]
    ) -> Sequence[str]:
        """Names of the metrics a run with these hyperparameters and channels logs.

        The conformance suite checks each one's regex against the log. Default: every declared
        metric whose channel prefix (`train:`, `validation:`, `test:`) is among `channels`.
        Override when hyperparameters pick the metrics (XGBoost's `eval_metric`)."""
        return [
            m.name for m in cls.metrics if ":" not in m.name or m.name.split(":", 1)[0] in channels
        ]

    def encode_response(
        self, outputs: Mapping[str, np.ndarray], accept: str, options: Mapping[str, str]
    ) -> bytes | None:
        """Response bytes for `accept` (canonical MIME type), or None for the common encoding
        of `tule.algorithms.inference`. Override where the container answers differently."""
        return None
