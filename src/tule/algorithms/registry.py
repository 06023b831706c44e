"""The built-in algorithms by name, and their images: URI -> algorithm, algorithm -> URI.

`get(name)` imports an algorithm's module only when asked, so the registry imports even while
some algorithms are missing; `available()` lists those that import. Images follow
specs/algorithms.md §I: `<account>.dkr.ecr.<region>.<domain>/<repository>:<tag>` (or
`@sha256:<digest>`), with per-region accounts from the SageMaker SDK's own tables, grouped as
in the spec (G1 the IM family, G2 DeepAR, G3 BlazingText/Seq2Seq, G4 LDA, G5 the legacy
XGBoost 0.72 image, G6 sagemaker-xgboost). The repository decides the algorithm; the tag only
selects the XGBoost version. Short names (`xgboost`, `linear-learner`,
`sagemaker-xgboost:1.7-1`) are accepted too.
"""

from __future__ import annotations

import importlib
import logging
import re
import warnings
from dataclasses import dataclass

from tule.algorithms.base import Algorithm

logger = logging.getLogger(__name__)

# fmt: off
# region: "G1 G2 G3 G4 G5 G6" accounts, "-" where the group has no registry there.
_ACCOUNTS: dict[str, str] = {
    "af-south-1": "455444449433 455444449433 455444449433 - 455444449433 510948584623",
    "ap-east-1": "286214385809 286214385809 286214385809 - 286214385809 651117190479",
    "ap-northeast-1": "351501993468 633353088612 501404015308 258307448986 501404015308 354813040037",  # noqa: E501
    "ap-northeast-2": "835164637446 204372634319 306986355934 293181348795 306986355934 366743142698",  # noqa: E501
    "ap-northeast-3": "867004704886 867004704886 867004704886 - 867004704886 867004704886",
    "ap-south-1": "991648021394 991648021394 991648021394 991648021394 991648021394 720646828776",
    "ap-south-2": "628508329040 628508329040 628508329040 - 628508329040 628508329040",
    "ap-southeast-1": "475088953585 475088953585 475088953585 475088953585 475088953585 121021644041",  # noqa: E501
    "ap-southeast-2": "712309505854 514117268639 544295431143 297031611018 544295431143 783357654285",  # noqa: E501
    "ap-southeast-3": "951798379941 951798379941 951798379941 - 951798379941 951798379941",
    "ap-southeast-4": "106583098589 106583098589 106583098589 - 106583098589 106583098589",
    "ca-central-1": "469771592824 469771592824 469771592824 469771592824 469771592824 341280168497",
    "ca-west-1": "190319476487 190319476487 190319476487 - - 190319476487",
    "cn-north-1": "390948362332 390948362332 390948362332 - 390948362332 450853457545",
    "cn-northwest-1": "387376663083 387376663083 387376663083 - 387376663083 451049120500",
    "eu-central-1": "664544806723 495149712605 813361260812 353608530281 813361260812 492215442770",
    "eu-central-2": "680994064768 680994064768 680994064768 - 680994064768 680994064768",
    "eu-north-1": "669576153137 669576153137 669576153137 - 669576153137 662702820516",
    "eu-south-1": "257386234256 257386234256 257386234256 - 257386234256 978288397137",
    "eu-south-2": "104374241257 104374241257 104374241257 - 104374241257 104374241257",
    "eu-west-1": "438346466558 224300973850 685385470294 999678624901 685385470294 141502667606",
    "eu-west-2": "644912444149 644912444149 644912444149 644912444149 644912444149 764974769150",
    "eu-west-3": "749696950732 749696950732 749696950732 - 749696950732 659782779980",
    "il-central-1": "898809789911 898809789911 898809789911 - - 898809789911",
    "me-central-1": "272398656194 272398656194 272398656194 - 272398656194 272398656194",
    "me-south-1": "249704162688 249704162688 249704162688 - 249704162688 801668240914",
    "sa-east-1": "855470959533 855470959533 855470959533 - 855470959533 737474898029",
    "us-east-1": "382416733822 522234722520 811284229777 766337827248 811284229777 683313688378",
    "us-east-2": "404615174143 566113047672 825641698319 999911452149 825641698319 257758044811",
    "us-gov-east-1": "237065988967 237065988967 237065988967 - 237065988967 237065988967",
    "us-gov-west-1": "226302683700 226302683700 226302683700 226302683700 226302683700 414596584902",  # noqa: E501
    "us-iso-east-1": "490574956308 490574956308 490574956308 490574956308 490574956308 833128469047",  # noqa: E501
    "us-isob-east-1": "765400339828 765400339828 765400339828 765400339828 765400339828 281123927165",  # noqa: E501
    "us-isof-east-1": "108575199400 108575199400 108575199400 - - 108575199400",
    "us-isof-south-1": "124985052026 124985052026 124985052026 - - 124985052026",
    "us-west-1": "632365934929 632365934929 632365934929 632365934929 632365934929 746614075791",
    "us-west-2": "174872318107 156387875391 433757028032 266724342769 433757028032 246618743249",
}
# fmt: on

_G1, _G2, _G3, _G4, _G5, _G6 = range(6)


@dataclass(frozen=True)
class _Entry:
    repository: str
    group: int
    module: str | None = None  # tule module and class, when tule implements the algorithm
    class_name: str | None = None


# tule name -> where its image lives and where its implementation is.
_ALGORITHMS: dict[str, _Entry] = {
    "xgboost": _Entry("sagemaker-xgboost", _G6, "tule.algorithms.xgboost", "XGBoost"),
    "linear-learner": _Entry(
        "linear-learner", _G1, "tule.algorithms.linear_learner", "LinearLearner"
    ),
    "kmeans": _Entry("kmeans", _G1, "tule.algorithms.kmeans", "KMeans"),
    "pca": _Entry("pca", _G1, "tule.algorithms.pca", "PCA"),
    "knn": _Entry("knn", _G1, "tule.algorithms.knn", "KNN"),
    "randomcutforest": _Entry("randomcutforest", _G1),
    "factorization-machines": _Entry("factorization-machines", _G1),
    "ipinsights": _Entry("ipinsights", _G1),
    "object2vec": _Entry("object2vec", _G1),
    "ntm": _Entry("ntm", _G1),
    "lda": _Entry("lda", _G4),
    "forecasting-deepar": _Entry("forecasting-deepar", _G2),
    "blazingtext": _Entry("blazingtext", _G3),
    "seq2seq": _Entry("seq2seq", _G3),
}
# Repository -> tule name; the legacy XGBoost 0.72 image (`xgboost:1`) is XGBoost too.
_REPOSITORIES = {e.repository: name for name, e in _ALGORITHMS.items()} | {"xgboost": "xgboost"}

XGBOOST_VERSIONS = ("1.5-1", "1.7-1", "3.0-5")
XGBOOST_DEFAULT = "1.7-1"
# Versions whose image tag carries the processor and Python version (SDK tag rule, §I.2).
_XGBOOST_SUFFIXED = ("0.90-1", "0.90-2", "1.0-1")
_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\."
    r"(?P<domain>amazonaws\.com(?:\.cn)?|c2s\.ic\.gov|sc2s\.sgov\.gov|csp\.hci\.ic\.gov)$"
)


class UnknownAlgorithmError(LookupError):
    """A name or image that is not a SageMaker built-in algorithm tule knows."""


class AlgorithmNotAvailableError(LookupError):
    """A built-in algorithm that tule does not implement (yet), or whose module fails to import."""


# ------------------------------------------------------------------------------- classes


def names() -> list[str]:
    """Names of the algorithms tule implements (whether or not their module imports now)."""
    return [name for name, entry in _ALGORITHMS.items() if entry.module]


def canonical_name(name: str) -> str:
    """`linear-learner` for `linear-learner`, `linear_learner`, `LinearLearner`'s repository..."""
    key = name.strip().lower().replace("_", "-")
    if key in _ALGORITHMS:
        return key
    if key in _REPOSITORIES:
        return _REPOSITORIES[key]
    raise UnknownAlgorithmError(f"'{name}' is not a SageMaker built-in algorithm.")


def get(name: str) -> type[Algorithm]:
    """The Algorithm class for a name, imported on first use."""
    canonical = canonical_name(name)
    entry = _ALGORITHMS[canonical]
    if entry.module is None or entry.class_name is None:
        raise AlgorithmNotAvailableError(
            f"The built-in algorithm '{canonical}' is not implemented in tule."
        )
    try:
        module = importlib.import_module(entry.module)
        return getattr(module, entry.class_name)
    except (ImportError, AttributeError) as exc:
        raise AlgorithmNotAvailableError(
            f"The built-in algorithm '{canonical}' is not available in tule: {exc}"
        ) from exc


def available() -> dict[str, type[Algorithm]]:
    """Every implemented algorithm whose module imports, by name."""
    found = {}
    for name in names():
        try:
            found[name] = get(name)
        except AlgorithmNotAvailableError:
            continue
    return found


# ------------------------------------------------------------------------------- images


def _domain(region: str) -> str:
    if region.startswith("cn-"):
        return "amazonaws.com.cn"
    if region.startswith("us-isof-"):
        return "csp.hci.ic.gov"
    if region.startswith("us-isob-"):
        return "sc2s.sgov.gov"
    if region.startswith("us-iso-"):
        return "c2s.ic.gov"
    return "amazonaws.com"


def _account(region: str, group: int) -> str | None:
    row = _ACCOUNTS.get(region)
    if row is None:
        return None
    account = row.split()[group]
    return None if account == "-" else account


def _release(tag: str) -> float:
    """The XGBoost release of a container tag: "1.7-1" -> 1.7, "0.90-2" -> 0.9."""
    return float(tag.split("-", 1)[0])


def xgboost_version(tag: str | None) -> str:
    """The supported XGBoost version a tag stands for; unsupported ones map to the nearest
    supported version with a warning (specs §I.4)."""
    if tag is None or tag in ("latest", "1"):
        # `xgboost:1`/`:latest` is the legacy 0.72 image; its nearest supported version.
        version = None if tag is None else XGBOOST_VERSIONS[0]
        if version is not None:
            warnings.warn(
                f"XGBoost image tag '{tag}' (XGBoost 0.72) is not supported; using {version}.",
                stacklevel=3,
            )
        return version or XGBOOST_DEFAULT
    base = re.sub(r"-(cpu|gpu)-py\d+$|-arm64$", "", tag)
    if base in XGBOOST_VERSIONS:
        return base
    if not re.fullmatch(r"\d+\.\d+-\d+", base):
        raise UnknownAlgorithmError(f"'{tag}' is not a sagemaker-xgboost image tag.")
    wanted = _release(base)
    # Nearest by XGBoost release number (0.90 -> 1.5, 2.0 -> 1.7, 3.2 -> 3.0); ties go newer.
    nearest = min(XGBOOST_VERSIONS, key=lambda v: (abs(_release(v) - wanted), -_release(v)))
    warnings.warn(
        f"sagemaker-xgboost:{tag} is not supported by tule; using {nearest} instead.",
        stacklevel=3,
    )
    return nearest


def resolve_image(uri: str) -> tuple[str, str]:
    """(algorithm name, version) for a training image or model image URI or short name.

    Raises `UnknownAlgorithmError` for an image that is not a built-in algorithm (a custom
    image in the caller's own registry, for instance)."""
    text = uri.strip()
    host, _, path = text.rpartition("/") if "/" in text else ("", "", text)
    if host:
        match = _HOST.match(host)
        if match is None:
            raise UnknownAlgorithmError(f"'{uri}' is not a SageMaker built-in algorithm image.")
    digest = None
    if "@" in path:
        path, _, digest = path.partition("@")
    repository, _, tag = path.partition(":")
    try:
        name = _REPOSITORIES.get(repository.lower()) or canonical_name(repository)
    except UnknownAlgorithmError:
        raise UnknownAlgorithmError(
            f"'{uri}' is not a SageMaker built-in algorithm image."
        ) from None
    entry = _ALGORITHMS[name]
    if host and match is not None:
        group = _G5 if repository == "xgboost" else entry.group
        expected = _account(match["region"], group)
        if expected is not None and expected != match["account"]:
            # AWS adds regions and accounts; the SDK's tables are the reference, so warn only.
            logger.warning(
                "Image %s: account %s is not the registry SageMaker uses for %s in %s (%s)",
                uri,
                match["account"],
                repository,
                match["region"],
                expected,
            )
    if name != "xgboost":
        return name, "1"
    if repository == "xgboost" and host and not tag and not digest:
        return name, xgboost_version("1")  # the legacy 0.72 image
    if digest and not tag:
        # A digest does not say which version it is; the default is the best guess.
        return name, XGBOOST_DEFAULT
    return name, xgboost_version(tag or None)


def image_uri(algorithm: str, region: str, version: str | None = None) -> str:
    """The image URI SageMaker (and `sagemaker.image_uris.retrieve`) gives for an algorithm."""
    name = canonical_name(algorithm)
    entry = _ALGORITHMS[name]
    repository, group, tag = entry.repository, entry.group, "1"
    if name == "xgboost":
        version = version or XGBOOST_DEFAULT
        if version in ("1", "latest"):
            repository, group, tag = "xgboost", _G5, "1"
        else:
            tag = f"{version}-cpu-py3" if version in _XGBOOST_SUFFIXED else version
    elif version not in (None, "1", "latest"):
        raise UnknownAlgorithmError(f"{name} has only version 1, not '{version}'.")
    if region not in _ACCOUNTS:
        raise UnknownAlgorithmError(f"Unsupported region: {region}.")
    account = _account(region, group)
    if account is None:
        raise UnknownAlgorithmError(f"{name} is not available in region {region}.")
    return f"{account}.dkr.ecr.{region}.{_domain(region)}/{repository}:{tag}"


def regions() -> list[str]:
    """Every region with a built-in algorithm registry."""
    return list(_ACCOUNTS)
