"""Which training images tule can run: built-in algorithms and framework (script-mode) images.

tule runs no containers. A `TrainingImage` is runnable when it names a SageMaker built-in
algorithm (tule has its own implementation, found through `tule.algorithms.registry`) or one of
SageMaker's framework images, whose only job is to run the user's script through the training
toolkit, which tule does with a local Python (`tule.runtime.toolkit`). Framework images are known
by their ECR repository names, as in the SageMaker SDK's `image_uri_config/*.json`; the account,
region and partition domain are not checked, since AWS keeps adding regions. `sagemaker-xgboost`
is both a built-in algorithm and a framework image: the caller picks script mode when the job has
a `sagemaker_program` hyperparameter, and `builtin_for` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tule.algorithms import registry

FRAMEWORKS = ("sklearn", "pytorch", "tensorflow", "mxnet", "huggingface", "xgboost")

# ECR repository -> framework, for the training images of the SDK's configs (sklearn.json,
# pytorch.json, tensorflow.json, mxnet.json, huggingface.json, xgboost.json and the training
# compiler variants, which run the same scripts). The legacy-mode `sagemaker-tensorflow` images
# (TF <= 1.10) are left out: they call `model_fn`-style hooks, not a script.
_REPOSITORIES: dict[str, str] = {
    "sagemaker-scikit-learn": "sklearn",
    "pytorch-training": "pytorch",
    "pytorch-trcomp-training": "pytorch",
    "sagemaker-pytorch": "pytorch",  # PyTorch before 1.2
    "tensorflow-training": "tensorflow",
    "sagemaker-tensorflow-scriptmode": "tensorflow",  # TensorFlow 1.11 to 1.15, 2.0 to 2.1
    "mxnet-training": "mxnet",
    "sagemaker-mxnet": "mxnet",  # MXNet before 1.6
    "huggingface-pytorch-training": "huggingface",
    "huggingface-tensorflow-training": "huggingface",
    "huggingface-pytorch-trcomp-training": "huggingface",
    "huggingface-tensorflow-trcomp-training": "huggingface",
    "sagemaker-xgboost": "xgboost",
}

# ECR repository -> framework, for the inference images of the same configs: the serving side
# of each framework runs the user's inference script (model_fn, input_fn, ...) or the
# framework's default handlers.
_INFERENCE_REPOSITORIES: dict[str, str] = {
    "sagemaker-scikit-learn": "sklearn",
    "pytorch-inference": "pytorch",
    "sagemaker-pytorch": "pytorch",
    "tensorflow-inference": "tensorflow",
    "sagemaker-tensorflow-serving": "tensorflow",
    "mxnet-inference": "mxnet",
    "sagemaker-mxnet-serving": "mxnet",
    "huggingface-pytorch-inference": "huggingface",
    "huggingface-tensorflow-inference": "huggingface",
    "sagemaker-xgboost": "xgboost",
}

# `<account>.dkr.ecr[-fips].<region>.<domain>`, any partition's domain.
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+(?:\.[a-z0-9-]+)+$")
# A tag starts with the framework version: `1.2-1`, `2.1`, `2.0.0`, `0.90-1`.
_VERSION = re.compile(r"^\d+(?:\.\d+)*(?:-\d+)?(?=-|$)")
# Hugging Face tags put the base framework first: `2.0.0-transformers4.28.1-gpu-py310-...`.
_TRANSFORMERS = re.compile(r"(?:^|-)transformers(\d+(?:\.\d+)*)(?=-|$)")


@dataclass(frozen=True)
class BuiltInImage:
    """A SageMaker built-in algorithm image; `version` as the algorithm registry resolves it."""

    algorithm: str
    version: str | None


@dataclass(frozen=True)
class FrameworkImage:
    """A SageMaker framework image that runs a user's script.

    `version` is the framework version from the tag (for Hugging Face, the Transformers version,
    which is what the SDK's `HuggingFace` estimator is pinned by), or None when the tag does not
    say (`latest`, a bare digest). `processor` is `gpu` when the tag says so, else `cpu`.
    """

    framework: str
    version: str | None
    processor: str


def _split(image: str) -> tuple[str, str, str, str] | None:
    """(host, repository, tag, digest) of an image reference; None for a non-ECR registry."""
    text = image.strip()
    host, _, path = text.partition("/") if "/" in text else ("", "", text)
    if host and _ECR_HOST.match(host.lower()) is None:
        return None
    path, _, digest = path.partition("@")
    repository, _, tag = path.partition(":")
    return host, repository.lower(), tag, digest


def _framework_image(framework: str, tag: str) -> FrameworkImage:
    version: str | None = None
    if framework == "huggingface":
        match = _TRANSFORMERS.search(tag)
        version = match[1] if match else None
    else:
        match = _VERSION.match(tag)
        version = match[0] if match else None
    processor = "gpu" if "gpu" in tag.split("-") else "cpu"
    return FrameworkImage(framework, version, processor)


def builtin_for(image: str) -> BuiltInImage | None:
    """The built-in algorithm an image stands for (sagemaker-xgboost included), else None."""
    try:
        algorithm, version = registry.resolve_image(image)
    except registry.UnknownAlgorithmError:
        return None
    return BuiltInImage(algorithm, version)


def classify(image: str) -> BuiltInImage | FrameworkImage | None:
    """What tule would run for a training image, or None for an image it cannot run.

    A framework repository gives a `FrameworkImage` (sagemaker-xgboost too: see the module
    docstring), another built-in algorithm repository a `BuiltInImage`, and anything else (a
    custom image in the caller's registry, a Docker Hub image) None.
    """
    parts = _split(image)
    if parts is None:
        return None
    _host, repository, tag, _digest = parts
    framework = _REPOSITORIES.get(repository)
    if framework is not None:
        return _framework_image(framework, tag)
    return builtin_for(image)


def unsupported_reason(image: str) -> str:
    """The `FailureReason` for a training job whose image tule cannot run."""
    return (
        f"tule cannot run the training image '{image}': it is neither a SageMaker built-in "
        "algorithm nor a supported framework image (scikit-learn, PyTorch, TensorFlow, MXNet, "
        "Hugging Face, XGBoost), and tule runs no containers."
    )


def classify_inference(
    image: str, environment: dict[str, str]
) -> BuiltInImage | FrameworkImage | None:
    """What tule would serve for a model container's image, or None when it cannot.

    A built-in algorithm's image serves its model through the algorithm's own server; a
    framework image serves the user's inference script (`SAGEMAKER_PROGRAM`). sagemaker-xgboost
    is both: it runs a script when the container's Environment names one, as the image does.
    """
    parts = _split(image)
    if parts is None:
        return None
    _host, repository, tag, _digest = parts
    framework = _INFERENCE_REPOSITORIES.get(repository) or _REPOSITORIES.get(repository)
    if framework == "xgboost" and not environment.get("SAGEMAKER_PROGRAM"):
        return builtin_for(image)
    if framework is not None:
        return _framework_image(framework, tag)
    return builtin_for(image)


def unsupported_inference_reason(image: str) -> str:
    """Why a model container's image cannot be served."""
    return (
        f"tule cannot serve the image '{image}': it is neither a SageMaker built-in algorithm "
        "nor a supported framework inference image (scikit-learn, PyTorch, TensorFlow, MXNet, "
        "Hugging Face, XGBoost), and tule runs no containers."
    )
