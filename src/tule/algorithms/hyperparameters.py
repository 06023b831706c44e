"""Parsing SageMaker's hyperparameter string map into an algorithm's frozen dataclass.

`CreateTrainingJob.HyperParameters` is a string-to-string map: the SageMaker SDK sends `str()` of
each value (booleans as "True"/"False") and lists as JSON. Each field of a `Hyperparameters`
subclass is declared with `hp(...)` (see `tule.algorithms.base.Spec`); its type annotation picks
the parser: `int`, `float`, `str`, `bool`, `tuple[str, ...]` (or `tuple[int, ...]`, ...; prefer
tuples, as a frozen dataclass cannot have a list default; `list[str]` parses to a list), any of
them `| None`, a union such as `float | str` with `allow=("auto",)`, or a custom `parse=`.
Sequence values may be JSON lists (what the SDK sends) or comma-separated ("rmse,auc").

Errors are worded the way the container family words them (specs/algorithms.md §0.1):

* `ValidationStyle.JSON_SCHEMA` (the IM family validates against a JSON schema with the
  `jsonschema` library): `Additional properties are not allowed ('x' was unexpected)`,
  `'k' is a required property`, `'abc' is not valid under any of the given schemas`,
  `'foo' is not one of ['a', 'b']`, followed by jsonschema's "Failed validating ..." detail.
* `ValidationStyle.XGBOOST` (sagemaker_algorithm_toolkit): `Missing required hyperparameter: x`,
  `Extraneous hyperparameter found: x`, `Hyperparameter x: could not parse value`,
  `Hyperparameter x: value v not in range [lo, hi]`.

Integers: the IM schemas accept only `^-?[0-9]+$`-shaped strings and the XGBoost toolkit calls
`int(value)`, so "5.0" is rejected by both; we follow them rather than silently truncating.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from tule.algorithms.base import (
    HyperparameterError,
    Hyperparameters,
    Spec,
    ValidationStyle,
    parse_bool,
)

__all__ = ["describe_range", "parse_hyperparameters", "parse_value"]

H = typing.TypeVar("H", bound=Hyperparameters)

# The IM family's FailureReason wraps the jsonschema message in this sentence.
_IM_PREFIX = (
    "Unable to initialize the algorithm. Failed to validate input hyperparameters. "
    "(caused by ValidationError)\n\nCaused by: "
)


class _BadValue(Exception):
    """A value failed parsing or a constraint; `kind` picks the message wording."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "parse" | "range" | "choice"


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without `| None`, whether None is allowed)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return tuple(args), optional
    return annotation, False


def _value_type(annotation: Any, spec: Spec) -> Any:
    """The type values are parsed as: `float | str` with `allow=("auto",)` parses as float,
    the literal strings being handled by `allow` (so "abc" is still rejected)."""
    typ, _ = _base_type(annotation)
    if spec.allow and isinstance(typ, tuple):
        rest = tuple(t for t in typ if t is not str)
        typ = rest[0] if len(rest) == 1 else rest
    return typ


def _parse_int(text: str) -> int:
    stripped = text.strip()
    # int() accepts "1_000" and surrounding spaces; containers do not document either, but
    # spaces are harmless. Underscores and floats ("5.0") are rejected, as both validators do.
    if "_" in stripped:
        raise ValueError(text)
    return int(stripped)


def _parse_float(text: str) -> float:
    value = float(text.strip())
    if math.isnan(value):
        raise ValueError(text)
    return value


def _parse_list(text: str, item: Any) -> list[Any]:
    stripped = text.strip()
    if stripped.startswith("["):
        # The SDK sends json.dumps(list); hand-written maps sometimes use Python's repr.
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError:
            items = ast.literal_eval(stripped)
        if not isinstance(items, list):
            raise ValueError(text)
    else:
        # XGBoost-style comma lists: "rmse,mae".
        items = [part.strip() for part in stripped.split(",") if part.strip()]
    return [_parse_scalar(str(i) if not isinstance(i, str) else i, item) for i in items]


def _parse_scalar(text: str, typ: Any) -> Any:
    if typ is bool:
        return parse_bool(text)
    if typ is int:
        return _parse_int(text)
    if typ is float:
        return _parse_float(text)
    if typ is str or typ is Any:
        return text
    if isinstance(typ, tuple):  # a union such as `int | str`: first parser that accepts wins
        for option in typ:
            try:
                return _parse_scalar(text, option)
            except (ValueError, SyntaxError):
                continue
        raise ValueError(text)
    origin = typing.get_origin(typ)
    if origin in (list, tuple):
        args = typing.get_args(typ)
        parsed = _parse_list(text, args[0] if args else str)
        return parsed if origin is list else tuple(parsed)
    raise TypeError(f"unsupported hyperparameter type {typ!r}")


def _in_range(value: Any, spec: Spec) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    if spec.minimum is not None and (
        value <= spec.minimum if spec.exclusive_minimum else value < spec.minimum
    ):
        return False
    return not (
        spec.maximum is not None
        and (value >= spec.maximum if spec.exclusive_maximum else value > spec.maximum)
    )


def parse_value(text: str, annotation: Any, spec: Spec) -> Any:
    """Parse one string value and check its constraints; raises `_BadValue` on failure."""
    if text in spec.allow:
        return text
    typ = _value_type(annotation, spec)
    try:
        value = spec.parse(text) if spec.parse is not None else _parse_scalar(text, typ)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise _BadValue("parse") from exc
    items = value if isinstance(value, list | tuple) else [value]
    if spec.choices is not None and any(v not in spec.choices for v in items):
        raise _BadValue("choice")
    if not all(_in_range(v, spec) for v in items):
        raise _BadValue("range")
    return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def describe_range(spec: Spec) -> str:
    """The toolkit's interval notation: `[0, 1]`, `(0, +inf)`, `(-inf, 10]`."""
    if spec.choices is not None:
        return repr(list(spec.choices))
    lo = (
        "(-inf"
        if spec.minimum is None
        else ("(" if spec.exclusive_minimum else "[") + _num(spec.minimum)
    )
    hi = (
        "+inf)"
        if spec.maximum is None
        else _num(spec.maximum) + (")" if spec.exclusive_maximum else "]")
    )
    return f"{lo}, {hi}"


def _json_schema(annotation: Any, spec: Spec) -> dict[str, Any]:
    """A jsonschema-like description of a field, for the "Failed validating" detail."""
    if spec.choices is not None:
        return {"enum": list(spec.choices)}
    typ = _value_type(annotation, spec)
    numeric: dict[str, Any] = {}
    if typ is int or typ is float:
        numeric["type"] = "integer" if typ is int else "number"
        if spec.minimum is not None:
            key = "exclusiveMinimum" if spec.exclusive_minimum else "minimum"
            numeric[key] = spec.minimum
        if spec.maximum is not None:
            key = "exclusiveMaximum" if spec.exclusive_maximum else "maximum"
            numeric[key] = spec.maximum
        pattern = "^-?[0-9]+$" if typ is int else "^-?[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?$"
        options: list[dict[str, Any]] = [{"type": "string", "pattern": pattern}, numeric]
    elif typ is bool:
        options = [{"type": "string", "enum": ["true", "false", "True", "False"]}]
        options.append({"type": "boolean"})
    else:
        options = [{"type": "string"}]
    options.extend({"enum": [a]} for a in spec.allow)
    return {"anyOf": options}


def _schema_error(name: str, text: str, kind: str, annotation: Any, spec: Spec) -> str:
    schema = _json_schema(annotation, spec)
    if kind == "choice" and "enum" in schema:
        head = f"{text!r} is not one of {schema['enum']!r}"
        keyword = "enum"
    else:
        head = f"{text!r} is not valid under any of the given schemas"
        keyword = "anyOf"
    return (
        f"{_IM_PREFIX}{head}\n\n"
        f"Failed validating {keyword!r} in schema['properties'][{name!r}]:\n"
        f"    {schema!r}\n\nOn instance[{name!r}]:\n    {text!r}"
    )


def _xgboost_error(name: str, text: str, kind: str, spec: Spec) -> str:
    if kind == "parse":
        return f"Hyperparameter {name}: could not parse value"
    return f"Hyperparameter {name}: value {text} not in range {describe_range(spec)}"


def parse_hyperparameters(cls: type[H], raw: Mapping[str, str]) -> H:
    """Build `cls` from SageMaker's string map, or raise `HyperparameterError`."""
    style = cls.STYLE
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    specs = {name: f.metadata.get("spec", Spec()) for name, f in fields.items()}
    aliases = {alias: name for name, spec in specs.items() for alias in spec.aliases}

    # Canonicalise names; hidden `_x` names and IGNORED ones are accepted and dropped unless
    # the class declares them (XGBoost parses `_kfold`, `_tuning_objective_metric`).
    given: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in raw.items():
        name = aliases.get(key, key)
        if name in fields:
            given[name] = str(value)
        elif key.startswith("_") or key in cls.IGNORED:
            continue
        else:
            unknown.append(key)

    if style is ValidationStyle.XGBOOST:
        # The toolkit checks required names first, then extraneous ones (validate() order).
        for name, spec in specs.items():
            if spec.required and name not in given:
                raise HyperparameterError(f"Missing required hyperparameter: {name}")
        if unknown:
            raise HyperparameterError(f"Extraneous hyperparameter found: {unknown[0]}")
    else:
        # jsonschema reports additionalProperties before required in the IM schemas' order.
        if unknown:
            listed = ", ".join(repr(u) for u in unknown)
            verb = "was" if len(unknown) == 1 else "were"
            raise HyperparameterError(
                f"{_IM_PREFIX}Additional properties are not allowed ({listed} {verb} unexpected)"
            )
        for name, spec in specs.items():
            if spec.required and name not in given:
                raise HyperparameterError(f"{_IM_PREFIX}{name!r} is a required property")

    values: dict[str, Any] = {}
    for name, text in given.items():
        spec = specs[name]
        try:
            values[name] = parse_value(text, hints.get(name, str), spec)
        except _BadValue as bad:
            if style is ValidationStyle.XGBOOST:
                raise HyperparameterError(_xgboost_error(name, text, bad.kind, spec)) from None
            message = _schema_error(name, text, bad.kind, hints.get(name, str), spec)
            raise HyperparameterError(message) from None
    return cls(**values)
