"""Algorithm names and image URIs: ours equal the SageMaker SDK's, every region and group."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest

from tule.algorithms import registry

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
image_uris = pytest.importorskip("sagemaker.image_uris")
_ORIGINAL_RESOLVER = pytest.importorskip("sagemaker.utils")._botocore_resolver

FIRST_PARTY = [
    "linear-learner",
    "kmeans",
    "knn",
    "pca",
    "randomcutforest",
    "factorization-machines",
    "ipinsights",
    "object2vec",
    "ntm",
    "lda",
    "forecasting-deepar",
    "blazingtext",
    "seq2seq",
]
XGBOOST_TAGS = [
    "1",
    "0.90-1",
    "0.90-2",
    "1.0-1",
    "1.2-1",
    "1.2-2",
    "1.3-1",
    "1.5-1",
    "1.7-1",
    "3.0-5",
]


def _sdk(framework: str, region: str, version: str | None = None) -> str | None:
    try:
        return image_uris.retrieve(framework, region, version)
    except ValueError:
        return None


def _ours(name: str, region: str, version: str | None = None) -> str | None:
    try:
        return registry.image_uri(name, region, version)
    except registry.UnknownAlgorithmError:
        return None


@pytest.fixture(autouse=True)
def _fast_quiet_sdk(monkeypatch):
    """The SDK re-reads botocore's endpoints.json on every retrieve(); read it once."""
    import functools

    import sagemaker.utils

    resolver = functools.lru_cache(maxsize=None)(_ORIGINAL_RESOLVER)
    monkeypatch.setattr(sagemaker.utils, "_botocore_resolver", resolver)
    logging.getLogger("sagemaker").setLevel(logging.ERROR)


def test_every_first_party_image_in_every_region_equals_the_sdk() -> None:
    checked = 0
    for region in registry.regions():
        for name in FIRST_PARTY:
            expected = _sdk(name, region)
            assert _ours(name, region) == expected, (name, region)
            checked += expected is not None
    assert checked > 400  # the table really was compared, not skipped


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-west-1",
        "cn-north-1",
        "us-gov-west-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "us-isof-south-1",
        "ap-southeast-4",
        "il-central-1",
    ],
)
def test_xgboost_images_equal_the_sdk(region: str) -> None:
    for tag in XGBOOST_TAGS:
        assert _ours("xgboost", region, tag) == _sdk("xgboost", region, tag), (region, tag)


def test_examples_from_the_spec() -> None:
    assert registry.image_uri("xgboost", "us-east-1", "1.7-1") == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    )
    assert registry.image_uri("linear-learner", "us-east-1") == (
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
    )
    assert registry.image_uri("xgboost", "us-west-2", "1.0-1") == (
        "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.0-1-cpu-py3"
    )


def test_sdk_uris_resolve_back_to_the_algorithm() -> None:
    for region in ("us-east-1", "cn-northwest-1", "us-isob-east-1", "eu-central-2"):
        for name in FIRST_PARTY:
            uri = _sdk(name, region)
            if uri:
                assert registry.resolve_image(uri) == (registry.canonical_name(name), "1")
        for tag in ("1.5-1", "1.7-1", "3.0-5"):
            assert registry.resolve_image(_sdk("xgboost", region, tag)) == ("xgboost", tag)


def test_short_names_digests_and_suffixed_tags() -> None:
    assert registry.resolve_image("xgboost") == ("xgboost", "1.7-1")
    assert registry.resolve_image("linear-learner") == ("linear-learner", "1")
    assert registry.resolve_image("sagemaker-xgboost:3.0-5") == ("xgboost", "3.0-5")
    assert registry.resolve_image("kmeans:latest") == ("kmeans", "1")
    digest = "@sha256:" + "ab" * 32
    uri = "382416733822.dkr.ecr.us-east-1.amazonaws.com/knn" + digest
    assert registry.resolve_image(uri) == ("knn", "1")
    graviton = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.5-1-arm64"
    assert registry.resolve_image(graviton) == ("xgboost", "1.5-1")


def test_old_xgboost_versions_fall_back_to_the_nearest_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="using 1.5-1"):
        assert registry.resolve_image("sagemaker-xgboost:0.90-2-cpu-py3") == ("xgboost", "1.5-1")
    with pytest.warns(UserWarning, match="using 3.0-5"):
        assert registry.resolve_image("sagemaker-xgboost:3.2-0") == ("xgboost", "3.0-5")
    legacy = "811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"
    with pytest.warns(UserWarning, match="0.72"):
        assert registry.resolve_image(legacy) == ("xgboost", "1.5-1")


def test_foreign_images_are_not_built_ins(caplog) -> None:
    for uri in (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-trainer:latest",
        "docker.io/library/xgboost:1.7-1",
        "my-own-image",
    ):
        with pytest.raises(registry.UnknownAlgorithmError):
            registry.resolve_image(uri)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        wrong_account = "111111111111.dkr.ecr.us-east-1.amazonaws.com/pca:1"
        assert registry.resolve_image(wrong_account) == ("pca", "1")
    assert "382416733822" in caplog.text


def test_unavailable_names_and_regions() -> None:
    with pytest.raises(registry.UnknownAlgorithmError):
        registry.image_uri("lda", "af-south-1")
    with pytest.raises(registry.UnknownAlgorithmError):
        registry.image_uri("kmeans", "mars-north-1")
    with pytest.raises(registry.AlgorithmNotAvailableError, match="not implemented"):
        registry.get("seq2seq")
    with pytest.raises(registry.UnknownAlgorithmError):
        registry.get("sklearn")


def test_registry_lists_the_five_and_imports_them_only_when_asked() -> None:
    assert registry.names() == ["xgboost", "linear-learner", "kmeans", "pca", "knn"]
    probe = (
        "import sys, tule.algorithms.registry as r; "
        "print(sorted(m for m in sys.modules if m.startswith('tule.algorithms.') "
        "and m.rsplit('.', 1)[1] in ('xgboost', 'linear_learner', 'kmeans', 'pca', 'knn')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_get_accepts_spellings_and_matches_the_class_name() -> None:
    try:
        cls = registry.get("xgboost")
    except registry.AlgorithmNotAvailableError:
        pytest.skip("XGBoost is not importable yet")
    assert cls.name == "xgboost" and registry.get("sagemaker-xgboost") is cls
    assert cls.versions == registry.XGBOOST_VERSIONS
