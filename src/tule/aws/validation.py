"""Input validation against the botocore model: required members, lengths, ranges, patterns, enums.

The message follows the JSON services' wording ("1 validation error detected: Value ... at
'member' failed to satisfy constraint: ..."), naming every member at fault.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from botocore.model import Shape

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
    found = problems(shape, value)
    if found:
        count = f"{len(found)} validation error{'s' if len(found) > 1 else ''} detected: "
        raise AwsError(code, count + "; ".join(found), 400)
