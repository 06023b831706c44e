"""Deterministic example values for any botocore shape, honouring the shape's constraints.

`examples(shape, seeds)` gives one value with every optional member (`seed=None`) and one per
seed where a seeded `random.Random` picks which optional members appear. Values respect what
the model says about them: required members always present, string lengths, enums and
patterns (the first candidate that matches: the member's own distinct value, a few stock
strings, then strings walked out of the pattern itself; an optional member none fits is left
out), numeric ranges, list/map sizes, tagged unions (exactly one member). Timestamps sit at
whole milliseconds, or whole seconds where the wire format is RFC 822 or an HTTP header
(botocore sends no fractions there). Recursive shapes stop at a depth limit, where only
required members are kept.
"""

from __future__ import annotations

import random
import re
import re._parser as regex_parser  # the stdlib's own regex parser (Python >= 3.11)
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from botocore.model import Shape

MAX_DEPTH = 6
# Required members and unions may go this much deeper before a branch is abandoned.
HARD_DEPTH_MARGIN = 6
# Strings tried, in order, against a member's `pattern`; the first that matches is used.
PATTERN_CANDIDATES = (
    "abc",
    "a-1",
    "arn:aws:iam::000000000000:role/r",
    "123",
    "0",
    "1",
    "a",
    "A",
    "abc.def",
    "us-east-1",
    "s3://bucket/key",
    "https://example.com",
    "2024-01-02",
    "a@b.co",
    "ml.m5.large",
    "1.0",
    "12345678-1234-1234-1234-123456789012",
    "000000000000",
    "/",
    "*",
    " ",
)
BASE_TIME = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    # botocore's patterns are Java regexes; those Python cannot compile are not enforced.
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


class NoExample(Exception):
    """No value satisfies the shape's constraints (the member is left out when optional)."""


class ExampleBuilder:
    """Builds one example value; `seed=None` includes every optional member."""

    def __init__(self, seed: int | None = None, max_depth: int = MAX_DEPTH) -> None:
        self.seed = seed
        self.rng = random.Random(seed) if seed is not None else None
        self.max_depth = max_depth
        self.counter = 0

    def build(self, shape: Shape) -> Any:
        return self._value(shape, shape.name, 0)

    # ---- helpers -------------------------------------------------------------------------

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _coin(self) -> bool:
        return True if self.rng is None else self.rng.random() < 0.5

    def _count(self, shape: Shape) -> int:
        low = max(int(shape.metadata.get("min", 1)), 1)
        high = int(shape.metadata.get("max", 2))
        wanted = 1 if self.rng is None else self.rng.choice((1, 2))
        return max(low, min(wanted, high, 2))

    # ---- per type ------------------------------------------------------------------------

    def _value(self, shape: Shape, name: str, depth: int) -> Any:
        if depth > self.max_depth + HARD_DEPTH_MARGIN:
            raise NoExample(f"{shape.name} nests too deep")
        t = shape.type_name
        if t == "structure":
            return self._structure(shape, depth)
        if t == "list":
            return [self._value(shape.member, name, depth + 1) for _ in range(self._count(shape))]
        if t == "map":
            return self._map(shape, name, depth)
        if t == "string":
            return self._string(shape, name)
        if t in ("integer", "long"):
            return self._integer(shape)
        if t in ("float", "double"):
            return self._float(shape)
        if t == "boolean":
            return True if self.rng is None else self.rng.random() < 0.5
        if t == "timestamp":
            return self._timestamp(shape)
        if t == "blob":
            return self._blob(shape)
        raise NoExample(f"unknown type {t}")

    def _structure(self, shape: Shape, depth: int) -> dict[str, Any]:
        if shape.is_document_type:
            return {"key": ["value", 1]}
        members = shape.members
        if shape.is_tagged_union:
            names = sorted(members)
            order = names if self.rng is None else self.rng.sample(names, len(names))
            if depth >= self.max_depth:  # past the limit, end the recursion with a scalar
                order.sort(key=lambda n: members[n].type_name in ("structure", "list", "map"))
            for name in order:
                try:
                    return {name: self._value(members[name], name, depth + 1)}
                except NoExample:
                    continue
            raise NoExample(f"no member of union {shape.name} can be built")
        required = set(shape.required_members)
        out: dict[str, Any] = {}
        for name, member in members.items():
            if member.serialization.get("eventstream"):
                continue  # event streams are framed on their own, not part of the shape's value
            if name not in required and (depth >= self.max_depth or not self._coin()):
                continue
            try:
                out[name] = self._value(member, name, depth + 1)
            except NoExample:
                if name in required:
                    raise
        if not out:
            # An empty structure cannot always be told from an absent one on the wire (the
            # query protocol sends nothing for it), so an example has at least one member.
            scalars_first = sorted(
                members, key=lambda n: members[n].type_name in ("structure", "list", "map")
            )
            for name in scalars_first:
                if members[name].serialization.get("eventstream"):
                    continue
                try:
                    return {name: self._value(members[name], name, depth + 1)}
                except NoExample:
                    continue
        return out

    def _map(self, shape: Shape, name: str, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for _ in range(self._count(shape)):
            key = self._string(shape.key, name + "key")
            out.setdefault(key, self._value(shape.value, name, depth + 1))
        return out

    def _string(self, shape: Shape, name: str) -> str:
        low = int(shape.metadata.get("min", 1))
        high = int(shape.metadata.get("max", 1 << 20))
        if shape.enum:
            choices = [e for e in shape.enum if low <= len(e) <= high] or list(shape.enum)
            return choices[0] if self.rng is None else self.rng.choice(choices)
        own = f"{_slug(name)}{self._next()}"
        pattern = shape.metadata.get("pattern")
        rx = _compiled(pattern) if pattern else None
        candidates = (own, *PATTERN_CANDIDATES, *(_regex_strings(pattern) if rx else ()))
        for candidate in candidates:
            for text in _fitted(candidate, low, high):
                if rx is None or rx.fullmatch(text):
                    return text
        raise NoExample(f"no candidate string matches {pattern!r} ({low}..{high})")

    def _integer(self, shape: Shape) -> int:
        if shape.serialization.get("location") == "statusCode":
            return 200  # anything else would make the response an error
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        value = 3 + self._next() % 7
        if low is not None:
            value = max(value, int(low))
        if high is not None:
            value = min(value, int(high))
        return value

    def _float(self, shape: Shape) -> float:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        value = 1.5 + self._next() % 5
        if low is not None:
            value = max(value, float(low))
        if high is not None:
            value = min(value, float(high))
        return float(value)

    def _timestamp(self, shape: Shape) -> datetime:
        value = BASE_TIME + timedelta(seconds=self._next())
        fmt = shape.serialization.get("timestampFormat") or shape.metadata.get("timestampFormat")
        # botocore cuts header timestamps to whole seconds whatever their format
        if fmt == "rfc822" or shape.serialization.get("location") == "header":
            value = value.replace(microsecond=0)
        return value

    def _blob(self, shape: Shape) -> bytes:
        base = f"blob{self._next()}\x00\xff".encode("latin-1")
        low = int(shape.metadata.get("min", 1))
        high = int(shape.metadata.get("max", 1 << 20))
        data = (base * (low // len(base) + 1))[: max(low, len(base))]
        return data[:high]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())[:12] or "v"


def _fitted(candidate: str, low: int, high: int) -> list[str]:
    """The candidate as is, and stretched or cut to fit the length bounds."""
    out = []
    if low <= len(candidate) <= high:
        out.append(candidate)
    if len(candidate) < low:
        out.append((candidate * (low // max(len(candidate), 1) + 1))[:low])
        out.append(candidate + "a" * (low - len(candidate)))
        out.append(candidate + "0" * (low - len(candidate)))
    if len(candidate) > high and high > 0:
        out.append(candidate[:high])
    return out


@cache
def _regex_strings(pattern: str) -> tuple[str, ...]:
    """Strings built by walking the pattern's parse tree: each repeat taken a few times."""
    try:
        tree = regex_parser.parse(pattern)
    except (re.error, RecursionError):
        return ()
    return tuple(dict.fromkeys(_emit(tree, extra) for extra in (0, 8, 40)))


_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "0",
    "CATEGORY_NOT_DIGIT": "a",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a",
    "CATEGORY_WORD": "a",
    "CATEGORY_NOT_WORD": "-",
    "CATEGORY_LINEBREAK": "\n",
    "CATEGORY_NOT_LINEBREAK": "a",
}


_CATEGORY_REGEX = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


def _emit(items: Any, extra: int) -> str:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("b" if chr(arg) == "a" else "a")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_class_char(arg))
        elif name == "CATEGORY":
            out.append(_CATEGORY_CHARS.get(str(arg), "a"))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = arg
            count = max(lo, 1) + (extra if hi > lo + 1 else 0)
            out.append(_emit(sub, extra) * min(count, hi))
        elif name == "SUBPATTERN":
            out.append(_emit(arg[-1], extra))
        elif name == "ATOMIC_GROUP":
            out.append(_emit(arg, extra))
        elif name == "BRANCH":
            out.append(_emit(arg[1][0], extra))
        # AT (anchors), ASSERT, ASSERT_NOT and group references add no characters
    return "".join(out)


def _class_char(items: list[tuple[Any, Any]]) -> str:
    """A character inside (or, for a negated class, outside) a character class."""
    negate = bool(items) and str(items[0][0]) == "NEGATE"
    if not negate:
        op, arg = items[0]
        if str(op) == "LITERAL":
            return chr(arg)
        if str(op) == "RANGE":
            return chr(arg[0])
        if str(op) == "CATEGORY":
            return _CATEGORY_CHARS.get(str(arg), "a")
        return "a"
    for ch in "aA0-_x. ":
        if not _in_class(items[1:], ch):
            return ch
    return "a"


def _in_class(items: list[tuple[Any, Any]], ch: str) -> bool:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL" and chr(arg) == ch:
            return True
        if name == "RANGE" and arg[0] <= ord(ch) <= arg[1]:
            return True
        if name == "CATEGORY" and re.fullmatch(_CATEGORY_REGEX.get(str(arg), "a"), ch):
            return True
    return False


def example(shape: Shape, seed: int | None = None) -> Any:
    """One example value for `shape` (every optional member when `seed` is None)."""
    return ExampleBuilder(seed).build(shape)


SEEDS: tuple[int | None, ...] = (None, 1, 2)


def examples(shape: Shape, seeds: tuple[int | None, ...] = SEEDS) -> list[tuple[str, Any]]:
    """(label, value) pairs: the full example, then one per random seed."""
    return [("full" if s is None else f"seed={s}", example(shape, s)) for s in seeds]
