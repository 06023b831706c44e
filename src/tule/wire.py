"""Values a handler hands back already in their wire form, for the protocol layer to write as
they are.

The JSON protocols convert a handler's output member by member against its shape (dropping
unknown keys and None values, formatting timestamps and blobs). For a large list whose items
are already exactly what the wire holds (Athena's result rows: a thousand structures of
strings a page) that walk is pure cost: a `Verbatim` list skips it. Whoever builds one
promises every item is in its final JSON form for the member's shape.
"""

from __future__ import annotations


class Verbatim(list):  # type: ignore[type-arg]
    """A list whose items are already in their JSON wire form for the member's shape."""


__all__ = ["Verbatim"]
