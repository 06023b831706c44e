"""Functions compiled once per botocore shape (validators, JSON converters), with recursion.

Keyed by identity: botocore builds a new `Shape` for each reference, so a recursive shape is a
chain of distinct objects. A member whose shape is one of its ancestors gets a stand-in that
compiles the shape when a value first reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from botocore.model import Shape

F = TypeVar("F")
Compile = Callable[[Shape, frozenset[str]], F | None]
StandIn = Callable[[Callable[[], F | None]], F]


class PerShape(Generic[F]):
    """`compile(shape, compiling)` builds a shape's function (None: nothing to do for it);
    `stand_in(get)` wraps a later `get()` for a recursive member."""

    def __init__(self, compile: Compile[F], stand_in: StandIn[F]) -> None:
        self._compile = compile
        self._stand_in = stand_in
        self._built: dict[Shape, F | None] = {}

    def get(self, shape: Shape) -> F | None:
        try:
            return self._built[shape]
        except KeyError:
            pass
        built = self._built[shape] = self._compile(shape, frozenset())
        return built

    def member(self, shape: Shape, compiling: frozenset[str]) -> F | None:
        """The function for a member met while compiling the shapes named in `compiling`."""
        if shape.name in compiling and shape.type_name in ("structure", "list", "map"):
            return self._stand_in(lambda: self.get(shape))
        try:
            return self._built[shape]
        except KeyError:
            pass
        built = self._built[shape] = self._compile(shape, compiling)
        return built
