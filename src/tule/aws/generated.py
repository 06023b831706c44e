"""Functions written as Python source at run time, once per botocore shape.

A structure's compiled converter or validator that loops over its members pays, per value,
the loop, the unpacking of each member's entry and a call per member; for a PutRecords of 500
records those were most of the request's conversion and validation CPU. A function generated
for the structure names each member once, in straight-line code, with the member checks that
are one comparison written in place (as `dataclasses` writes `__init__`).

Only literals that `repr` writes exactly (member names, integer and float bounds) are put in
the source; every other object the code uses is passed in by name through its namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def function(name: str, args: str, body: list[str], namespace: dict[str, Any]) -> Callable:
    """`def name(args):` with `body` (lines, indented by the caller one level below the def),
    its globals being `namespace`."""
    source = f"def {name}({args}):\n" + "\n".join(f"    {line}" for line in body) + "\n"
    scope: dict[str, Any] = dict(namespace)
    exec(compile(source, f"<generated {name}>", "exec"), scope)
    return scope[name]


def literal(value: str | int | float) -> str:
    """The source text of a member name or a bound; refuses anything else, or a float that
    does not read back as itself (infinities, NaN)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"not a literal for generated code: {value!r}")
    text = repr(value)
    if (isinstance(value, float) and float(text) != value) or text in ("inf", "-inf", "nan"):
        raise TypeError(f"not a literal for generated code: {value!r}")
    return text
