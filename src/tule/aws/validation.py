"""Input validation against the botocore model: required members, lengths, ranges, patterns, enums.

The message follows the JSON services' wording ("1 validation error detected: Value ... at
'member' failed to satisfy constraint: ..."), naming every member at fault.

Most requests are valid, and walking botocore's shapes per request (their properties build
dicts on access) cost more than a hot operation's own work. So each shape is compiled once
into a predicate over plain tuples that only says whether a value breaks nothing; only a
request it refuses is walked member by member to name each problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.model import Shape

from tule.aws import generated
from tule.aws.shape_cache import PerShape
from tule.errors import AwsError

MAX_ERRORS = 10


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    # botocore's patterns are Java regexes; the few Python cannot compile are not enforced.
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _shown(value: Any) -> str:
    if isinstance(value, str | int | float | bool):
        return str(value)[:256]
    return type(value).__name__


def problems(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every constraint the value breaks, as AWS phrases each one."""
    found: list[str] = []
    _check(shape, value, path, found)
    return found


def _check(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if len(found) >= MAX_ERRORS:
        return
    t = shape.type_name
    meta = shape.metadata
    where = path or shape.name
    if t == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                found.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], _join(path, name), found)
        return
    if t == "list":
        _length(meta, len(value), value, where, found, "length")
        for i, item in enumerate(value):
            _check_item(shape.member, item, f"{where}.{i + 1}.member", found)
        return
    if t == "map":
        _length(meta, len(value), value, where, found, "length")
        for k, v in value.items():
            _check(shape.key, k, f"{where}.key", found)
            _check_item(shape.value, v, f"{where}.{k}.value", found)
        return
    if t == "string":
        _length(meta, len(value), value, where, found, "length")
        if shape.enum and value not in shape.enum:
            found.append(
                f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must "
                f"satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        pattern = meta.get("pattern")
        if pattern and (rx := _compiled(pattern)) is not None and not rx.fullmatch(value):
            found.append(
                f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must "
                f"satisfy regular expression pattern: {pattern}"
            )
        return
    if t in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            found.append(
                f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must "
                f"have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            found.append(
                f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must "
                f"have value less than or equal to {meta['max']}"
            )
        return
    if t == "blob" and isinstance(value, bytes | bytearray):
        _length(meta, len(value), value, where, found, "length")


def _check_item(shape: Shape, value: Any, where: str, found: list[str]) -> None:
    # A null inside a list or map (JSON `[null]`, a bare query key `Tags.member.1=`): AWS's
    # collections are not sparse.
    if value is None:
        found.append(
            f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
        )
    else:
        _check(shape, value, where, found)


def _length(meta: dict, n: int, value: Any, where: str, found: list[str], what: str) -> None:
    if "min" in meta and n < meta["min"]:
        found.append(
            f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must "
            f"have {what} greater than or equal to {meta['min']}"
        )
    if "max" in meta and n > meta["max"]:
        found.append(
            f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must "
            f"have {what} less than or equal to {meta['max']}"
        )


def _join(path: str, name: str) -> str:
    return f"{path}.{_camel(name)}" if path else _camel(name)


def validate(shape: Shape | None, value: dict, code: str = "ValidationException") -> None:
    """Raise the service's validation error if the input breaks any constraint."""
    if shape is None:
        return
    valid = predicate(shape)
    try:
        if valid is None or valid(value):
            return
    except Exception:  # `problems` meets the same value and says why
        pass
    found = problems(shape, value)
    if found:
        count = f"{len(found)} validation error{'s' if len(found) > 1 else ''} detected: "
        raise AwsError(code, count + "; ".join(found), 400)


# -- compiled predicates -----------------------------------------------------------------------

Predicate = Callable[[Any], bool]


def predicate(shape: Shape) -> Predicate | None:
    """Whether a (non-null) value of `shape` breaks no constraint, as `problems` finds none;
    None when no value of the shape can break one."""
    return _PREDICATES.get(shape)


def _stand_in(get: Callable[[], Predicate | None]) -> Predicate:
    def valid(value: Any) -> bool:
        compiled = get()
        return compiled is None or compiled(value)

    return valid


def _compile(shape: Shape, compiling: frozenset[str]) -> Predicate | None:
    t = shape.type_name
    meta = shape.metadata
    inner = compiling | {shape.name}
    low, high = meta.get("min"), meta.get("max")
    if t == "structure":
        required = tuple(shape.required_members)
        members = tuple(
            (name, valid, _inline_check(member))
            for name, member in shape.members.items()
            if (valid := _PREDICATES.member(member, inner)) is not None
        )
        if not required and not members:
            return None
        return _structure(required, members)
    if t == "list":
        return _list(low, high, _PREDICATES.member(shape.member, inner))
    if t == "map":
        key = _PREDICATES.member(shape.key, inner)
        return _map(low, high, key, _PREDICATES.member(shape.value, inner))
    if t == "string":
        pattern = meta.get("pattern")
        rx = _compiled(pattern) if pattern else None
        enum = frozenset(shape.enum) if shape.enum else None
        if low is None and high is None and rx is None and enum is None:
            return None
        return _string(low, high, enum, rx)
    if t in ("integer", "long", "float", "double"):
        if low is None and high is None:
            return None
        return _bounded(low, high)
    if t == "blob":
        if low is None and high is None:
            return None
        return _blob(low, high)
    return None


# Absent bounds as infinities, so each check is one chained comparison (exact for ints).
_NO_MIN, _NO_MAX = float("-inf"), float("inf")


def _bounds(low: Any, high: Any) -> tuple[Any, Any]:
    return (_NO_MIN if low is None else low), (_NO_MAX if high is None else high)


def _structure(
    required: tuple[str, ...], members: tuple[tuple[str, Predicate, str | None], ...]
) -> Predicate:
    # Generated straight-line code (see `tule.aws.generated`): each required member's null
    # check, then each member's check, written in place when it is one comparison (the
    # member predicate's own test, on `v`), else a call of the member's predicate.
    namespace: dict[str, Any] = {"BYTES": (bytes, bytearray)}
    body = ["get = value.get"]
    for name in required:
        body += [f"if get({generated.literal(name)}) is None:", "    return False"]
    for i, (name, valid, inline) in enumerate(members):
        if inline is None:
            namespace[f"valid{i}"] = valid
            inline = f"valid{i}(v)"
        body += [
            f"v = get({generated.literal(name)})",
            f"if v is not None and not ({inline}):",
            "    return False",
        ]
    body.append("return True")
    return generated.function("valid", "value", body, namespace)


def _inline_check(shape: Shape) -> str | None:
    """The test a member's predicate makes, as source on `v`, when it is one comparison (a
    string's length alone, a blob's length, a number's range); None for any other."""
    t = shape.type_name
    meta = shape.metadata
    if t == "string" and not shape.enum and not meta.get("pattern"):
        within = _within("len(v)", meta.get("min"), meta.get("max"))
    elif t == "blob":
        within = _within("len(v)", meta.get("min"), meta.get("max"))
        within = within and f"not isinstance(v, BYTES) or {within}"
    elif t in ("integer", "long", "float", "double"):
        within = _within("v", meta.get("min"), meta.get("max"))
    else:
        return None
    return within or None


def _within(term: str, low: Any, high: Any) -> str:
    """`low <= term <= high` with the bounds given (either may be absent); empty if neither."""
    try:
        low_text = "" if low is None else f"{generated.literal(low)} <= "
        high_text = "" if high is None else f" <= {generated.literal(high)}"
    except TypeError:  # a bound no literal writes exactly: the predicate's call instead
        return ""
    return f"{low_text}{term}{high_text}" if low_text or high_text else ""


def _list(low: Any, high: Any, item: Predicate | None) -> Predicate:
    low, high = _bounds(low, high)

    def valid(value: Any) -> bool:
        if not low <= len(value) <= high:
            return False
        # AWS's collections are not sparse: a null item is a problem of its own.
        if item is None:
            return all(v is not None for v in value)
        return all(v is not None and item(v) for v in value)

    return valid


def _map(low: Any, high: Any, key: Predicate | None, item: Predicate | None) -> Predicate:
    low, high = _bounds(low, high)

    def valid(value: Any) -> bool:
        if not low <= len(value) <= high:
            return False
        if key is not None and not all(key(k) for k in value):
            return False
        return all(v is not None and (item is None or item(v)) for v in value.values())

    return valid


def _string(
    low: Any, high: Any, enum: frozenset[str] | None, rx: re.Pattern[str] | None
) -> Predicate:
    low, high = _bounds(low, high)
    if enum is None and rx is None:

        def sized(value: Any) -> bool:
            return low <= len(value) <= high

        return sized

    def valid(value: Any) -> bool:
        if not low <= len(value) <= high:
            return False
        if enum is not None and value not in enum:
            return False
        return rx is None or rx.fullmatch(value) is not None

    return valid


def _bounded(low: Any, high: Any) -> Predicate:
    low, high = _bounds(low, high)

    def valid(value: Any) -> bool:
        return low <= value <= high

    return valid


def _blob(low: Any, high: Any) -> Predicate:
    low, high = _bounds(low, high)

    def valid(value: Any) -> bool:
        return not isinstance(value, bytes | bytearray) or low <= len(value) <= high

    return valid


_PREDICATES: PerShape[Predicate] = PerShape(_compile, _stand_in)
