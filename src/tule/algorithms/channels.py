"""Checking a training job's channels against what the algorithm accepts.

The IM-family containers validate `inputdataconfig.json` against a JSON schema, so their
reasons read like jsonschema's (`'train' is a required property`, `Additional properties are
not allowed ('validation' was unexpected)`, `'text/x-libsvm' is not one of [...]`); XGBoost's
toolkit says `Missing required channel: train`, `Extraneous channel found: foo` and `Channel
configuration for 'train' channel is not supported: {...}`. The wording follows the algorithm's
hyperparameter `STYLE`, since a container uses one validator family for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tule.algorithms.base import AlgorithmError, ChannelData, ChannelSpec, ValidationStyle
from tule.algorithms.formats.content_types import canonical, parse_content_type

if TYPE_CHECKING:
    from tule.algorithms.base import Algorithm

_IM_PREFIX = (
    "Unable to initialize the algorithm. Failed to validate input data configuration. "
    "(caused by ValidationError)\n\nCaused by: "
)


def input_mode(channel: ChannelData) -> str:
    """`Pipe` when the channel is a stream, else `File`."""
    return "Pipe" if channel.stream_factory is not None else "File"


def accepts(spec: ChannelSpec, content_type: str | None) -> bool:
    """Whether a channel spec takes a content type (any spelling; parameters ignored).
    A missing content type means the spec's default, which it always takes."""
    mime, _ = parse_content_type(content_type)
    if not mime:
        return True
    return canonical(mime) in {canonical(c) for c in spec.content_types}


def check_channels(algorithm: Algorithm, channels: Mapping[str, ChannelData]) -> None:
    """Raise `AlgorithmError` (a ClientError) for a missing required channel, an unknown
    channel, an unsupported content type or an unsupported input mode."""
    specs = {spec.name: spec for spec in algorithm.channels}
    xgboost_style = algorithm.hyperparameters.STYLE is ValidationStyle.XGBOOST

    # Both validators look for missing required channels first.
    for spec in algorithm.channels:
        if spec.required and spec.name not in channels:
            if xgboost_style:
                raise AlgorithmError(f"Missing required channel: {spec.name}")
            raise AlgorithmError(f"{_IM_PREFIX}{spec.name!r} is a required property")

    unknown = [name for name in channels if name not in specs]
    if unknown:
        if xgboost_style:
            raise AlgorithmError(f"Extraneous channel found: {unknown[0]}")
        listed = ", ".join(repr(u) for u in unknown)
        verb = "was" if len(unknown) == 1 else "were"
        raise AlgorithmError(
            f"{_IM_PREFIX}Additional properties are not allowed ({listed} {verb} unexpected)"
        )

    for name, channel in channels.items():
        spec = specs[name]
        mode = input_mode(channel)
        if accepts(spec, channel.content_type) and mode in spec.input_modes:
            continue
        content_type = channel.content_type or spec.default_content_type
        if xgboost_style:
            config = {
                "ContentType": content_type,
                "TrainingInputMode": mode,
                "S3DistributionType": "FullyReplicated",
            }
            raise AlgorithmError(
                f"Channel configuration for '{name}' channel is not supported: {config}"
            )
        if mode not in spec.input_modes:
            raise AlgorithmError(
                f"{_IM_PREFIX}{mode!r} is not one of {list(spec.input_modes)!r}\n\n"
                f"Failed validating 'enum' in "
                f"schema['properties'][{name!r}]['properties']['TrainingInputMode']"
            )
        raise AlgorithmError(
            f"{_IM_PREFIX}{parse_content_type(content_type)[0]!r} is not one of "
            f"{list(spec.content_types)!r}\n\nFailed validating 'enum' in "
            f"schema['properties'][{name!r}]['properties']['ContentType']"
        )
