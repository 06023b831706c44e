"""Finding tables: GetTables' name `Expression` and SearchTables' text, filters and sorting.

GetTables' Expression is the Hive metastore's table pattern: alternatives separated by `|`,
each a regular expression in which a bare `*` means "any characters" (`sales*` and `sales.*`
both match `sales_2024`), matched against the whole name, ignoring case.

SearchTables matches `SearchText` (ignoring case) against a table's name, database, description,
owner, column names and comments, and parameter values. `Filters` compare one property each:
string keys match when one of the property's tokens (split at punctuation, as AWS documents for
`Key=Name`) equals the value; time keys (`CreateTime`, `UpdateTime`, ...) use the comparator
against epoch seconds; any other key is a table parameter, compared exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tule.services.glue.errors import invalid_input
from tule.services.glue.shapes import Shape

_STRING_KEYS = {
    "Name": "Name",
    "DatabaseName": "DatabaseName",
    "Description": "Description",
    "Owner": "Owner",
    "TableType": "TableType",
    "CatalogId": "CatalogId",
}
_TIME_KEYS = ("CreateTime", "UpdateTime", "LastAccessTime", "LastAnalyzedTime")
_TOKEN_SPLIT = re.compile(r"[^0-9A-Za-z]+")
_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "EQUALS": lambda a, b: a == b,
    "GREATER_THAN": lambda a, b: a > b,
    "LESS_THAN": lambda a, b: a < b,
    "GREATER_THAN_EQUALS": lambda a, b: a >= b,
    "LESS_THAN_EQUALS": lambda a, b: a <= b,
}


def name_matcher(expression: str | None) -> Callable[[str], bool]:
    """A test of table names for GetTables' Expression (None or empty: every name)."""
    if not expression:
        return lambda name: True
    alternatives = []
    for part in expression.split("|"):
        # A `*` not already following a `.` is Hive's wildcard.
        alternatives.append(re.sub(r"(?<!\.)\*", ".*", part.strip()))
    try:
        pattern = re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)
    except re.error as error:
        raise invalid_input(f"Invalid Expression '{expression}': {error}.") from None
    return lambda name: pattern.fullmatch(name) is not None


@dataclass(frozen=True)
class SearchRequest:
    """SearchTables' criteria, as the request shapes them."""

    search_text: str | None = None
    filters: list[dict[str, Any]] = field(default_factory=list)
    sort_criteria: list[dict[str, Any]] = field(default_factory=list)


def _text_of(table: Shape) -> list[str]:
    texts = [table.get(k) or "" for k in ("Name", "DatabaseName", "Description", "Owner")]
    descriptor = table.get("StorageDescriptor") or {}
    for column in (descriptor.get("Columns") or []) + (table.get("PartitionKeys") or []):
        texts += [column.get("Name") or "", column.get("Comment") or ""]
    texts += list((table.get("Parameters") or {}).values())
    return texts


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _filter(predicate: dict[str, Any]) -> Callable[[Shape], bool]:
    key, value = predicate.get("Key") or "", predicate.get("Value") or ""
    if key in _TIME_KEYS:
        compare = _COMPARATORS[predicate.get("Comparator") or "EQUALS"]
        wanted = _epoch(value)
        if wanted is None:
            raise invalid_input(f"The value of filter key {key} must be a timestamp.")

        def by_time(table: Shape) -> bool:
            have = _epoch(table.get(key))
            return have is not None and compare(have, wanted)

        return by_time
    if key in _STRING_KEYS:
        token = value.lower()

        def by_token(table: Shape) -> bool:
            text = str(table.get(_STRING_KEYS[key]) or "").lower()
            return text == token or token in _TOKEN_SPLIT.split(text)

        return by_token
    return lambda table: (table.get("Parameters") or {}).get(key) == value


def _sort_key(field_name: str) -> Callable[[Shape], Any]:
    def key(table: Shape) -> Any:
        value = table.get(field_name)
        if isinstance(value, datetime):
            return (0, value.timestamp())
        return (0, str(value)) if value is not None else (1, "")

    return key


def search_tables(tables: Iterable[Shape], request: SearchRequest) -> list[Shape]:
    """The tables that match, sorted as asked (by name when no sort is given)."""
    text = (request.search_text or "").lower()
    tests = [_filter(p) for p in request.filters]
    found = [
        t
        for t in tables
        if (not text or any(text in s.lower() for s in _text_of(t)))
        and all(test(t) for test in tests)
    ]
    found.sort(key=lambda t: (t.get("DatabaseName") or "", t.get("Name") or ""))
    for criterion in reversed(request.sort_criteria):
        field_name = criterion.get("FieldName")
        if field_name:
            found.sort(key=_sort_key(field_name), reverse=criterion.get("Sort") == "DESC")
    return found
