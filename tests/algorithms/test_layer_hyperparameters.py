"""Hyperparameter strings parse into frozen dataclasses with SageMaker's own error wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from tule.algorithms.base import HyperparameterError, Hyperparameters, ValidationStyle, hp


@dataclass(frozen=True)
class IM(Hyperparameters):
    IGNORED: ClassVar[frozenset[str]] = frozenset({"force_dense"})

    feature_dim: int | None = hp(required=True, minimum=1)
    k: int | None = hp(required=True, minimum=1, tunable=True)
    mini_batch_size: int = hp(5000, minimum=1)
    init_method: str = hp("random", choices=("random", "kmeans++"))
    eval_metrics: tuple[str, ...] = hp(("msd",), choices=("msd", "ssd"))
    half_life: float = hp(0.0, minimum=0, maximum=1)
    learning_rate: float | str = hp("auto", allow=("auto",), minimum=0, exclusive_minimum=True)
    normalize: bool = hp(True)
    seeds: list[int] | None = hp()  # noqa: RUF009 - hp() is a dataclass field


@dataclass(frozen=True)
class XGB(Hyperparameters):
    STYLE: ClassVar[ValidationStyle] = ValidationStyle.XGBOOST

    num_round: int | None = hp(required=True, minimum=1)
    eta: float = hp(0.3, minimum=0, maximum=1, aliases=("learning_rate",))
    subsample: float = hp(1.0, minimum=0, exclusive_minimum=True, maximum=1)
    objective: str = hp("reg:squarederror", choices=("reg:squarederror", "binary:logistic"))
    eval_metric: tuple[str, ...] | None = hp()
    _kfold: int | None = hp(minimum=2)


def _reason(cls, raw) -> str:
    with pytest.raises(HyperparameterError) as info:
        cls.parse(raw)
    assert info.value.failure_reason.startswith("ClientError: ")
    return info.value.reason


def test_sdk_string_forms_parse_to_typed_values() -> None:
    raw = {
        "feature_dim": "4",
        "k": "10",
        "normalize": "False",
        "eval_metrics": '["msd", "ssd"]',
        "half_life": "1e-1",
        "learning_rate": "0.5",
        "seeds": "1,2",
        "force_dense": "True",
        "_kvstore": "dist_sync",
        "_tuning_objective_metric": "test:msd",
    }
    parsed = IM.parse(raw)
    assert parsed == IM(
        feature_dim=4,
        k=10,
        normalize=False,
        eval_metrics=("msd", "ssd"),
        half_life=0.1,
        learning_rate=0.5,
        seeds=[1, 2],
    )
    assert IM.parse({"feature_dim": "4", "k": "1", "normalize": "true"}).learning_rate == "auto"


def test_as_strings_round_trips() -> None:
    parsed = IM.parse({"feature_dim": "4", "k": "2", "eval_metrics": "['ssd']"})
    assert IM.parse(parsed.as_strings()) == parsed


def test_im_unknown_name_is_an_additional_property() -> None:
    reason = _reason(IM, {"feature_dim": "4", "k": "2", "mini_batch_siz": "5"})
    assert "Additional properties are not allowed ('mini_batch_siz' was unexpected)" in reason


def test_im_missing_required_is_a_required_property() -> None:
    assert "'k' is a required property" in _reason(IM, {"feature_dim": "4"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("k", "abc"),
        ("k", "0"),
        ("k", "5.0"),
        ("half_life", "2"),
        ("learning_rate", "0"),
        ("learning_rate", "fast"),
        ("normalize", "maybe"),
        ("half_life", "nan"),
    ],
)
def test_im_bad_values_are_not_valid_under_any_schema(name: str, value: str) -> None:
    reason = _reason(IM, {"feature_dim": "4", "k": "2", name: value})
    assert f"{value!r} is not valid under any of the given schemas" in reason
    assert f"schema['properties'][{name!r}]" in reason


def test_im_bad_choice_is_not_one_of() -> None:
    reason = _reason(IM, {"feature_dim": "4", "k": "2", "init_method": "best"})
    assert "'best' is not one of ['random', 'kmeans++']" in reason
    reason = _reason(IM, {"feature_dim": "4", "k": "2", "eval_metrics": '["msd", "mse"]'})
    assert "eval_metrics" in reason


def test_xgboost_wording() -> None:
    assert _reason(XGB, {"eta": "0.1"}) == "Missing required hyperparameter: num_round"
    assert _reason(XGB, {"num_round": "1", "foo": "1"}) == "Extraneous hyperparameter found: foo"
    assert _reason(XGB, {"num_round": "1", "eta": "2"}) == (
        "Hyperparameter eta: value 2 not in range [0, 1]"
    )
    assert _reason(XGB, {"num_round": "1", "subsample": "0"}) == (
        "Hyperparameter subsample: value 0 not in range (0, 1]"
    )
    assert _reason(XGB, {"num_round": "ten"}) == "Hyperparameter num_round: could not parse value"
    assert "num_round: value 0 not in range [1, +inf)" in _reason(XGB, {"num_round": "0"})
    assert "objective" in _reason(XGB, {"num_round": "1", "objective": "multi:nope"})


def test_xgboost_aliases_comma_lists_and_declared_hidden_names() -> None:
    parsed = XGB.parse(
        {
            "num_round": "3",
            "learning_rate": "0.1",
            "eval_metric": "auc,logloss",
            "_kfold": "3",
            "_tuning_objective_metric": "validation:auc",
        }
    )
    assert (parsed.eta, parsed.eval_metric, parsed._kfold) == (0.1, ("auc", "logloss"), 3)
    assert "_kfold" in _reason(XGB, {"num_round": "3", "_kfold": "1"})
