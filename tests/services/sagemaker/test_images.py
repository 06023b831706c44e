"""Training images tule can run: framework images by repository, built-ins by the registry."""

from __future__ import annotations

import functools
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import botocore.loaders
import botocore.regions
import pytest

from tule.services.sagemaker.images import (
    BuiltInImage,
    FrameworkImage,
    builtin_for,
    classify,
    unsupported_reason,
)

sagemaker = pytest.importorskip("sagemaker")
image_uris = pytest.importorskip("sagemaker.image_uris")

_ORIGINAL_RESOLVER = pytest.importorskip("sagemaker.utils")._botocore_resolver
CONFIG_DIR = Path(sagemaker.__file__).parent / "image_uri_config"
_ENDPOINTS = botocore.regions.EndpointResolver(
    botocore.loaders.create_loader().load_data("endpoints")
)


@functools.cache
def _ecr_host(region: str) -> str:
    """The ECR hostname the SDK uses for a region (it asks botocore's endpoint data too)."""
    endpoint = _ENDPOINTS.construct_endpoint("ecr", region)
    return endpoint["hostname"] if endpoint else f"ecr.{region}.amazonaws.com"


def _training(name: str) -> dict:
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())["training"]


def _config_uris(name: str) -> Iterator[tuple[str, str, str, str]]:
    """(uri, framework version, processor, repository) for every version and region of a config.

    Tags are built the SDK's way: `<version>-<processor>-<py>` where the config lists processors
    and Python versions, the bare version where it does not (XGBoost 1.2-1 and later)."""
    config = _training(name)
    for version, versioned in config["versions"].items():
        # A few old versions keep one entry per Python version ({"py2": {...}, "py3": {...}}).
        if "registries" in versioned:
            entries = [(versioned.get("py_versions", [None])[-1], versioned)]
        else:
            entries = list(versioned.items())
        for python, entry in entries:
            processors = entry.get("processors", config.get("processors", [None]))
            for region, account in entry["registries"].items():
                for processor in processors:
                    parts = [version, processor, python] if processor else [version]
                    tag = "-".join(p for p in parts if p)
                    uri = f"{account}.dkr.{_ecr_host(region)}/{entry['repository']}:{tag}"
                    yield uri, version, processor or "cpu", entry["repository"]


def _huggingface_uris() -> Iterator[tuple[str, str, str]]:
    """(uri, transformers version, processor) for every Hugging Face training image."""
    config = _training("huggingface")
    for version, entry in config["versions"].items():
        for base, base_entry in entry.items():
            if base == "version_aliases":
                continue
            base_version = base.removeprefix("pytorch").removeprefix("tensorflow")
            python = base_entry["py_versions"][-1]
            cuda = base_entry.get("container_version", {}).get("gpu", "cu110-ubuntu18.04")
            for region, account in base_entry["registries"].items():
                for processor in config["processors"]:
                    tag = f"{base_version}-transformers{version}-{processor}-{python}-{cuda}"
                    uri = f"{account}.dkr.{_ecr_host(region)}/{base_entry['repository']}:{tag}"
                    yield uri, version, processor


@pytest.fixture(autouse=True)
def _fast_quiet_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK re-reads botocore's endpoints.json on every retrieve(); read it once."""
    monkeypatch.setattr(sagemaker.utils, "_botocore_resolver", functools.cache(_ORIGINAL_RESOLVER))
    logging.getLogger("sagemaker").setLevel(logging.ERROR)


# ------------------------------------------------------------------------ framework images


@pytest.mark.parametrize(("name", "framework"), [("sklearn", "sklearn"), ("pytorch", "pytorch")])
def test_every_region_and_version_of_a_framework_config_classifies(
    name: str, framework: str
) -> None:
    count = 0
    for uri, version, processor, _ in _config_uris(name):
        assert classify(uri) == FrameworkImage(framework, version, processor), uri
        count += 1
    assert count > 100


def test_every_sagemaker_xgboost_image_is_a_framework_and_a_builtin() -> None:
    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the registry maps old XGBoost versions to newer ones
        for uri, version, processor, repository in _config_uris("xgboost"):
            builtin = builtin_for(uri)
            assert builtin is not None and builtin.algorithm == "xgboost", uri
            if repository == "xgboost":
                # The legacy 0.72 image (`xgboost:1`) has no script mode: built-in only.
                assert classify(uri) == builtin, uri
            else:
                assert classify(uri) == FrameworkImage("xgboost", version, processor), uri
                count += 1
    assert count > 100


def test_every_huggingface_training_image_classifies() -> None:
    count = 0
    for uri, version, processor in _huggingface_uris():
        assert classify(uri) == FrameworkImage("huggingface", version, processor), uri
        count += 1
    assert count > 100


def test_every_tensorflow_and_mxnet_script_mode_image_classifies() -> None:
    for name in ("tensorflow", "mxnet"):
        for uri, version, processor, repository in _config_uris(name):
            expected = None if repository == "sagemaker-tensorflow" else name
            image = classify(uri)
            if expected is None:
                assert image is None, uri  # legacy-mode TensorFlow (<= 1.10) runs no script
            else:
                assert image == FrameworkImage(name, version, processor), uri


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"framework": "sklearn", "region": "us-east-1", "version": "1.2-1"},
            FrameworkImage("sklearn", "1.2-1", "cpu"),
        ),
        (
            {
                "framework": "pytorch",
                "region": "us-west-2",
                "version": "2.1",
                "py_version": "py310",
                "instance_type": "ml.m5.xlarge",
            },
            FrameworkImage("pytorch", "2.1", "cpu"),
        ),
        (
            {
                "framework": "pytorch",
                "region": "cn-north-1",
                "version": "2.0.0",
                "py_version": "py310",
                "instance_type": "ml.p3.2xlarge",
            },
            FrameworkImage("pytorch", "2.0.0", "gpu"),
        ),
        (
            {
                "framework": "tensorflow",
                "region": "eu-west-1",
                "version": "2.13",
                "py_version": "py310",
                "instance_type": "ml.g5.xlarge",
            },
            FrameworkImage("tensorflow", "2.13", "gpu"),
        ),
        (
            {
                "framework": "huggingface",
                "region": "us-east-1",
                "version": "4.28.1",
                "base_framework_version": "pytorch2.0.0",
                "py_version": "py310",
                "instance_type": "ml.p3.2xlarge",
            },
            FrameworkImage("huggingface", "4.28.1", "gpu"),
        ),
        (
            {"framework": "xgboost", "region": "ap-southeast-2", "version": "1.7-1"},
            FrameworkImage("xgboost", "1.7-1", "cpu"),
        ),
        (
            {"framework": "xgboost", "region": "us-east-1", "version": "1.0-1"},
            FrameworkImage("xgboost", "1.0-1", "cpu"),
        ),
    ],
)
def test_sdk_retrieved_framework_images_classify(kwargs: dict, expected: FrameworkImage) -> None:
    uri = image_uris.retrieve(image_scope="training", **kwargs)
    assert classify(uri) == expected


def test_tags_with_cuda_and_os_suffixes_and_digests() -> None:
    host = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
    assert classify(
        f"{host}/pytorch-training:2.0.0-gpu-py310-cu118-ubuntu20.04-sagemaker"
    ) == FrameworkImage("pytorch", "2.0.0", "gpu")
    assert classify(f"{host}/pytorch-training@sha256:{'a' * 64}") == FrameworkImage(
        "pytorch", None, "cpu"
    )
    assert classify(f"{host}/pytorch-training:2.1-cpu-py310@sha256:{'b' * 64}") == (
        FrameworkImage("pytorch", "2.1", "cpu")
    )
    assert classify(f"{host}/tensorflow-training:latest") == FrameworkImage(
        "tensorflow", None, "cpu"
    )


def test_any_account_region_and_partition_domain() -> None:
    for host in (
        "999999999999.dkr.ecr.us-east-1.amazonaws.com",
        "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn",
        "123456789012.dkr.ecr.mx-central-1.amazonaws.com",
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
        "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
    ):
        assert classify(f"{host}/sagemaker-scikit-learn:1.2-1-cpu-py3") == FrameworkImage(
            "sklearn", "1.2-1", "cpu"
        ), host


# ------------------------------------------------------------------------ built-in algorithms


@pytest.mark.parametrize(
    ("framework", "version", "algorithm", "expected_version"),
    [
        ("linear-learner", None, "linear-learner", "1"),
        ("kmeans", None, "kmeans", "1"),
        ("pca", None, "pca", "1"),
        ("knn", None, "knn", "1"),
        ("xgboost", "1.7-1", "xgboost", "1.7-1"),
    ],
)
def test_builtin_algorithm_images_resolve_through_the_registry(
    framework: str, version: str | None, algorithm: str, expected_version: str
) -> None:
    for region in ("us-east-1", "eu-central-1", "cn-northwest-1"):
        uri = image_uris.retrieve(framework, region, version=version, image_scope="training")
        expected = BuiltInImage(algorithm, expected_version)
        assert builtin_for(uri) == expected, uri
        if algorithm != "xgboost":
            assert classify(uri) == expected, uri


def test_builtin_for_is_none_for_framework_and_custom_images() -> None:
    assert builtin_for(image_uris.retrieve("sklearn", "us-east-1", version="1.2-1")) is None
    assert builtin_for("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-algo:latest") is None


# ------------------------------------------------------------------------ everything else


@pytest.mark.parametrize(
    "image",
    [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-algo:latest",
        "my-image:latest",
        "my-image",
        "docker.io/pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime",
        "public.ecr.aws/docker/library/python:3.11",
        "ghcr.io/someone/pytorch-training:2.1-cpu-py310",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/pytorch-training:2.1-cpu-py310",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
        "",
    ],
)
def test_custom_and_unknown_images_are_not_runnable(image: str) -> None:
    assert classify(image) is None


def test_unsupported_reason_names_the_image_and_what_tule_runs() -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-algo:latest"
    assert unsupported_reason(image) == (
        f"tule cannot run the training image '{image}': it is neither a SageMaker built-in "
        "algorithm nor a supported framework image (scikit-learn, PyTorch, TensorFlow, MXNet, "
        "Hugging Face, XGBoost), and tule runs no containers."
    )
