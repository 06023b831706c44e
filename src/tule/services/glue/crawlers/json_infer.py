"""JSON classification and schema inference, as Glue's built-in JSON classifier does it.

A sample is JSON when every non-blank line is a JSON object (JSON Lines), or when the whole file
is one JSON document. Records' top-level keys become columns in order of first appearance,
lower-cased; values give types: objects `struct<...>` (field names kept as written), arrays
`array<...>`, integers `int` (or `bigint` beyond 32 bits), other numbers `double`, strings
`string`, booleans `boolean`. A column only ever null is `string`. A whole-file array without a
custom classifier is one record with a single column named `array`, as crawlers write it.

A custom JSON classifier's `JsonPath` picks the records out of each document: `$` (the
document), `$.a.b` (a member), `$[*]` and `$.a[*]` (the elements of an array).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from tule.services.glue.crawlers.hive_types import Array, HiveType, Struct, merge
from tule.services.glue.crawlers.schema import FileSchema

_INT32 = 2**31
_PATH_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\['([^']*)'\]|\[(\*|\d+)\]")


def value_type(value: Any) -> HiveType | None:
    """The Hive type of one JSON value; None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int" if -_INT32 <= value < _INT32 else "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return record_type(value)
    if isinstance(value, list):
        element: HiveType | None = None
        for item in value:
            element = merge(element, value_type(item))
        return Array(element)
    return "string"


def record_type(record: dict[str, Any]) -> Struct:
    return Struct(tuple((key, value_type(v)) for key, v in record.items()))


def infer_json(text: str, complete: bool, json_path: str | None = None) -> FileSchema | None:
    """The schema of a JSON sample, or None when it is not JSON (under `json_path`)."""
    if not complete:
        text = text[: text.rfind("\n") + 1]
    documents = _json_lines(text)
    if documents is None and complete:
        try:
            documents = [json.loads(text)]
        except ValueError:
            return None
    if not documents:
        return None
    if json_path is None:
        if all(isinstance(d, dict) for d in documents):
            records = documents
        elif len(documents) == 1 and isinstance(documents[0], list):
            records = [{"array": documents[0]}]
        else:
            return None
    else:
        records = [r for d in documents for r in select(d, json_path)]
        if not records or not all(isinstance(r, dict) for r in records):
            return None
    return _schema(records)


def _json_lines(text: str) -> list[Any] | None:
    """Each non-blank line as a JSON object, or None if any line is not one."""
    documents: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("{"):
            return None
        try:
            documents.append(json.loads(line))
        except ValueError:
            return None
    return documents


def select(document: Any, json_path: str) -> Iterable[Any]:
    """The values `json_path` picks out of `document` (the subset custom classifiers use)."""
    if not json_path.startswith("$"):
        return []
    current = [document]
    rest = json_path[1:]
    while rest:
        step = _PATH_STEP.match(rest)
        if step is None:
            return []
        rest = rest[step.end() :]
        member = step.group(1) or step.group(2)
        index = step.group(3)
        following: list[Any] = []
        for node in current:
            if member is not None and isinstance(node, dict) and member in node:
                following.append(node[member])
            elif index == "*" and isinstance(node, list):
                following.extend(node)
            elif index not in (None, "*") and isinstance(node, list) and int(index) < len(node):
                following.append(node[int(index)])
        current = following
    return current


def _schema(records: list[dict[str, Any]]) -> FileSchema:
    columns: dict[str, HiveType | None] = {}
    keys: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            name = key.lower()
            keys.setdefault(key)
            columns[name] = merge(columns.get(name), value_type(value))
    return FileSchema(
        classification="json",
        columns=tuple(columns.items()),
        records=len(records),
        json_keys=tuple(keys),
    )
