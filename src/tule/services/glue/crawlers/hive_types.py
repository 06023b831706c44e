"""Hive column types as crawlers write them, and how two inferred types widen into one.

Types are kept as small trees while inferring (so that nested JSON structs from different files
can be merged field by field) and rendered to Glue's strings (`struct<a:int,b:string>`,
`array<bigint>`, `map<string,double>`) only when a table is written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Struct:
    """`struct<name:type,...>`: fields in order of first appearance."""

    fields: tuple[tuple[str, HiveType | None], ...]  # None: only nulls seen so far


@dataclass(frozen=True)
class Array:
    """`array<element>`."""

    element: HiveType | None


@dataclass(frozen=True)
class Map:
    """`map<key,value>`."""

    key: HiveType
    value: HiveType


HiveType = str | Struct | Array | Map

STRING = "string"

# Numeric types in widening order: a column seen as both takes the later one.
_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double")


def render(t: HiveType) -> str:
    """The catalog's spelling of a type."""
    if isinstance(t, Struct):
        return "struct<" + ",".join(f"{n}:{render(finish(ft))}" for n, ft in t.fields) + ">"
    if isinstance(t, Array):
        return f"array<{render(finish(t.element))}>"
    if isinstance(t, Map):
        return f"map<{render(t.key)},{render(t.value)}>"
    return t


def merge(a: HiveType | None, b: HiveType | None) -> HiveType | None:
    """The narrowest type that holds values of both `a` and `b` (None: only nulls seen).

    Numbers widen (int + bigint -> bigint, bigint + double -> double); structs merge their
    fields; arrays merge their elements; anything else that disagrees becomes `string`, which
    is what crawlers fall back to for mixed columns.
    """
    if a is None:
        return b
    if b is None or a == b:
        return a
    if isinstance(a, Struct) and isinstance(b, Struct):
        return merge_structs(a, b)
    if isinstance(a, Array) and isinstance(b, Array):
        return Array(merge(a.element, b.element))
    if isinstance(a, Map) and isinstance(b, Map):
        return Map(merge(a.key, b.key) or STRING, merge(a.value, b.value) or STRING)
    if isinstance(a, str) and isinstance(b, str):
        return _merge_primitives(a, b)
    return STRING


def merge_structs(a: Struct, b: Struct) -> Struct:
    fields: dict[str, HiveType | None] = dict(a.fields)
    for name, t in b.fields:
        fields[name] = merge(fields.get(name), t)
    return Struct(tuple(fields.items()))


def _merge_primitives(a: str, b: str) -> str:
    if a.startswith("decimal") and b.startswith("decimal"):
        return _merge_decimals(a, b)
    if a.startswith("decimal") or b.startswith("decimal"):
        other = b if a.startswith("decimal") else a
        return "double" if other in _NUMERIC else STRING
    if a in _NUMERIC and b in _NUMERIC:
        wider = max(_NUMERIC.index(a), _NUMERIC.index(b))
        # A float column meeting a 64-bit integer loses precision either way; double keeps more.
        if _NUMERIC[wider] == "float" and "bigint" in (a, b):
            return "double"
        return _NUMERIC[wider]
    if {a, b} == {"date", "timestamp"}:
        return "timestamp"
    return STRING


def _merge_decimals(a: str, b: str) -> str:
    pa, sa = _decimal_parts(a)
    pb, sb = _decimal_parts(b)
    scale = max(sa, sb)
    precision = min(38, max(pa - sa, pb - sb) + scale)
    return f"decimal({precision},{scale})"


def _decimal_parts(t: str) -> tuple[int, int]:
    inner = t[len("decimal(") : -1] if "(" in t else "10,0"
    precision, _, scale = inner.partition(",")
    return int(precision), int(scale or 0)


def finish(t: HiveType | None) -> HiveType:
    """A type for the catalog: a column only ever seen as null is a string column."""
    if t is None:
        return STRING
    if isinstance(t, Struct):
        return Struct(tuple((n, finish(ft)) for n, ft in t.fields))
    if isinstance(t, Array):
        return Array(finish(t.element))
    if isinstance(t, Map):
        return Map(finish(t.key), finish(t.value))
    return t
