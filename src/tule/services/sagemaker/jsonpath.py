"""SageMaker's JSONPath subset: the language of a transform job's InputFilter and OutputFilter.

Batch transform's DataProcessing accepts a small subset of Jayway JsonPath (spec §5.4):
`$`, `.name`, `*`, `['a','b']`, `[n]`, `[n,m,...]` with negative indexes, and `[start:end]`
slices with either bound omitted; a bracket may mix indexes and slices (`$[0,5:]` is one of
AWS's own OutputFilter examples). Anything else is refused at compile time, so a bad filter
fails CreateTransformJob rather than the job.

Results: a path made only of single steps (`$`, `.name`, `['a']`, `[n]`) selects one value and
returns it; a wildcard, an index list or a slice selects several and returns them as a list, and
the steps after it apply to each selected value (`$[*].a`). `['a','b']` returns an object with
those keys, which is what AWS's `$['id','SageMakerOutput']` example writes out.

Compatibility choice: a slice's END IS INCLUSIVE. The SageMaker guide says `$[1:4]` selects the
second through fifth columns and `$[:5]` the first through sixth, unlike Python and standard
JSONPath; we follow the guide (the real service's behaviour is unverified).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["JsonPath", "JsonPathError", "compile", "compiled"]


class JsonPathError(ValueError):
    """A path outside the subset, or a path that does not fit the value it is applied to."""


@dataclass(frozen=True)
class Slice:
    """`[start:end]` with the end inclusive; None is an omitted bound."""

    start: int | None
    end: int | None


@dataclass(frozen=True)
class Child:
    """`.name` or `['name']`: one member of an object."""

    name: str


@dataclass(frozen=True)
class Names:
    """`['a','b',...]`: an object made of those members."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Wildcard:
    """`*` / `[*]`: every element of a list or every value of an object."""


@dataclass(frozen=True)
class Indexes:
    """`[n]`, `[n,m]`, `[a:b]`, `[0,5:]`: positions in a list."""

    items: tuple[int | Slice, ...]

    @property
    def single(self) -> bool:
        return len(self.items) == 1 and isinstance(self.items[0], int)


Step = Child | Names | Wildcard | Indexes

_NAME = re.compile(r"[A-Za-z0-9_\-]+")
_QUOTED = re.compile(r"\s*(?:'([^']*)'|\"([^\"]*)\")\s*")
_INT = re.compile(r"\s*(-?\d+)\s*")
_SLICE = re.compile(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*")


@dataclass(frozen=True)
class JsonPath:
    """A compiled path; `apply(value)` selects from a parsed JSON value or a CSV row (a list of
    field strings, which SageMaker treats as a JSON array)."""

    text: str
    steps: tuple[Step, ...]

    @property
    def is_root(self) -> bool:
        """`$`: selects the whole value, so a filter with this path changes nothing."""
        return not self.steps

    def apply(self, value: Any) -> Any:
        first = self.steps[0] if len(self.steps) == 1 else None
        if isinstance(first, Indexes) and isinstance(value, list):
            # The usual CSV filter (`$[1:]`, `$[0,-1]`), run for every record: go straight there.
            picked = self._indexes(first, value)
            return picked[0] if first.single else picked
        nodes = [value]
        many = False
        for step in self.steps:
            nodes, widened = self._step(step, nodes, many)
            many = many or widened
        return nodes if many else nodes[0]

    def _step(self, step: Step, nodes: list[Any], many: bool) -> tuple[list[Any], bool]:
        out: list[Any] = []
        if isinstance(step, Wildcard):
            for node in nodes:
                if isinstance(node, dict):
                    out.extend(node.values())
                elif isinstance(node, list):
                    out.extend(node)
            return out, True
        if isinstance(step, Child):
            for node in nodes:
                if isinstance(node, dict) and step.name in node:
                    out.append(node[step.name])
                elif not many:
                    # A definite path that names a missing member selects nothing: the record
                    # cannot be filtered, so the job fails (as for an out-of-range index).
                    raise self._error(f"has no member '{step.name}' in {_kind(node)}")
            return out, False
        if isinstance(step, Names):
            for node in nodes:
                if isinstance(node, dict):
                    # Jayway leaves absent members out of a multi-member selection.
                    out.append({n: node[n] for n in step.names if n in node})
                elif not many:
                    raise self._error(f"selects members of {_kind(node)}, which is not an object")
            return out, False
        for node in nodes:
            if isinstance(node, list):
                out.extend(self._indexes(step, node))
            elif not many:
                raise self._error(f"selects indexes of {_kind(node)}, which is not an array")
        return out, not step.single

    def _indexes(self, step: Indexes, node: list[Any]) -> list[Any]:
        size = len(node)
        picked: list[Any] = []
        for item in step.items:
            if isinstance(item, int):
                picked.append(node[self._position(item, size)])
                continue
            # Omitted bounds mean first and last; given bounds must lie inside the array, as
            # AWS fails a job whose filter names indexes beyond the record's size.
            first = 0 if item.start is None else self._position(item.start, size)
            last = size - 1 if item.end is None else self._position(item.end, size)
            picked.extend(node[first : last + 1])
        return picked

    def _position(self, index: int, size: int) -> int:
        position = index + size if index < 0 else index
        if not 0 <= position < size:
            raise self._error(f"index {index} is out of range for an array of {size} elements")
        return position

    def _error(self, what: str) -> JsonPathError:
        return JsonPathError(f"JSONPath '{self.text}' {what}")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"an array of {len(value)} elements"
    return f"the value {value!r}"


def compile(path: str) -> JsonPath:
    """Parse `path`; raises JsonPathError naming the path when it is outside the subset."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise _unsupported(path, "a path must start with '$'")
    steps: list[Step] = []
    pos = 1
    while pos < len(path):
        char = path[pos]
        if char == ".":
            if path.startswith(".*", pos):
                steps.append(Wildcard())
                pos += 2
                continue
            match = _NAME.match(path, pos + 1)
            if match is None:
                raise _unsupported(path, f"expected a member name after '.' at position {pos}")
            steps.append(Child(match.group()))
            pos = match.end()
        elif char == "[":
            close = path.find("]", pos)
            if close < 0:
                raise _unsupported(path, f"the '[' at position {pos} is never closed")
            steps.append(_bracket(path, path[pos + 1 : close]))
            pos = close + 1
        else:
            raise _unsupported(path, f"unexpected {char!r} at position {pos}")
    return JsonPath(path, tuple(steps))


@functools.lru_cache(maxsize=256)
def compiled(path: str) -> JsonPath:
    """`compile` with a cache: a job applies the same two filters to every record."""
    return compile(path)


def _bracket(path: str, inside: str) -> Step:
    if inside.strip() == "*":
        return Wildcard()
    parts = inside.split(",")
    if inside.lstrip().startswith(("'", '"')):
        names = []
        for part in parts:
            match = _QUOTED.fullmatch(part)
            if match is None:
                raise _unsupported(path, f"[{inside}] is not a list of quoted member names")
            names.append(match.group(1) if match.group(1) is not None else match.group(2))
        return Child(names[0]) if len(names) == 1 else Names(tuple(names))
    items: list[int | Slice] = []
    for part in parts:
        if (match := _INT.fullmatch(part)) is not None:
            items.append(int(match.group(1)))
        elif (match := _SLICE.fullmatch(part)) is not None:
            start, end = match.groups()
            items.append(
                Slice(None if start is None else int(start), None if end is None else int(end))
            )
        else:
            raise _unsupported(path, f"[{inside}] is not an index, index list or slice")
    return Indexes(tuple(items))


def _unsupported(path: object, why: str) -> JsonPathError:
    return JsonPathError(
        f"JSONPath '{path}' is not supported: {why}. SageMaker supports $, .name, *, "
        "['a','b'], [n], [n,m,...] and [start:end]."
    )
