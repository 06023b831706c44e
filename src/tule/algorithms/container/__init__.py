"""The SageMaker container contract for the built-in algorithms.

`train.run_training(workspace, algorithm)` behaves like `docker run <image> train` against a
`/opt/ml`-shaped workspace (config JSON files, channel data, `model/`, `output/failure`), and
`serve.create_app(model_dir, algorithm)` like `docker run <image> serve` (`/ping`,
`/invocations`, `/execution-parameters`). Training jobs, endpoints and batch transform only
have to lay out folders and start these; `python -m tule.algorithms.container train|serve`
runs them in a separate process.
"""

from __future__ import annotations

import inspect

from tule.algorithms import registry
from tule.algorithms.base import Algorithm


def instantiate(
    algorithm: str | Algorithm | type[Algorithm], version: str | None = None
) -> Algorithm:
    """An algorithm instance from a name, short name or image URI (the image's tag is the
    version unless `version` says otherwise); instances pass through, classes are built."""
    if isinstance(algorithm, Algorithm):
        return algorithm
    if isinstance(algorithm, type):
        return _build(algorithm, version)
    try:
        name, image_version = registry.resolve_image(algorithm)
    except registry.UnknownAlgorithmError:
        name, image_version = registry.canonical_name(algorithm), None
    return _build(registry.get(name), version or image_version)


def _build(cls: type[Algorithm], version: str | None) -> Algorithm:
    if version and "version" in inspect.signature(cls).parameters:
        return cls(version=version)  # type: ignore[call-arg]
    return cls()
