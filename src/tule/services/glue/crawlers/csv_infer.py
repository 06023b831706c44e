"""CSV classification and schema inference, as Glue's built-in CSV classifier does it.

A sample is CSV when, for one delimiter (`,` then `|`, tab, `;`), every row splits into the same
number of fields, at least two (one if a custom classifier allows single columns), over at least
two rows. Column types come from the values: `boolean`, `bigint`, `double`, else `string`
(empty fields say nothing). The first row is a header when every field of it is a short string
and at least one column below it is not a string column (AWS's rule: a header must be "different
enough" from the data, so a file of strings only gets `col0`, `col1`, ... and keeps row 1 as data).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tule.services.glue.crawlers.hive_types import HiveType, merge
from tule.services.glue.crawlers.schema import FileSchema

DELIMITERS = (",", "|", "\t", ";")
# Rows looked at to pick a delimiter; the whole sample is parsed once one is picked.
_PROBE_ROWS = 200
# AWS: every header field but the last must be shorter than 150 characters.
_HEADER_FIELD_MAX = 150
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_INT64 = 2**63


@dataclass(frozen=True)
class CsvOptions:
    """How to read CSV: detected (the built-in classifier) or declared by a custom one."""

    delimiter: str | None = None  # None: try DELIMITERS in order
    quote: str = '"'
    contains_header: str = "UNKNOWN"  # UNKNOWN (detect) | PRESENT | ABSENT
    header: tuple[str, ...] = ()
    allow_single_column: bool = False
    trim: bool = True
    serde: str | None = None  # OpenCSVSerDe | LazySimpleSerDe | None (detect from quoting)
    classifier: str | None = None


BUILT_IN = CsvOptions()


def value_type(value: str, trim: bool = True) -> str | None:
    """The type one CSV field suggests; None for an empty field."""
    v = value.strip() if trim else value
    if v == "":
        return None
    if v.lower() in ("true", "false"):
        return "boolean"
    if _INT.fullmatch(v):
        return "bigint" if -_INT64 <= int(v) < _INT64 else "string"
    if _FLOAT.fullmatch(v):
        return "double"
    return "string"


def infer_csv(text: str, complete: bool, options: CsvOptions = BUILT_IN) -> FileSchema | None:
    """The schema of a CSV sample, or None when it is not CSV under `options`.

    `complete` says the sample is the whole file; otherwise its last (cut) line is dropped.
    """
    if not complete:
        text = text[: text.rfind("\n") + 1]
    candidates = (options.delimiter,) if options.delimiter else DELIMITERS
    minimum = 1 if options.allow_single_column else 2
    for delimiter in candidates:
        probe = _rows(text, delimiter, options.quote, _PROBE_ROWS)
        if probe is None or len(probe) < 2 or len(probe[0]) < minimum:
            continue
        rows = _rows(text, delimiter, options.quote, None)
        if rows is None:
            continue
        if options.header and len(options.header) != len(rows[0]):
            continue
        return _schema(rows, text, delimiter, options)
    return None


def _rows(text: str, delimiter: str, quote: str, limit: int | None) -> list[list[str]] | None:
    """Rows split by `delimiter`, or None when they do not all have the same width."""
    rows: list[list[str]] = []
    width = -1
    try:
        for row in csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if width == -1:
                width = len(row)
            elif len(row) != width:
                return None
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    except csv.Error:
        return None
    return rows


def _column_types(rows: Sequence[Sequence[str]], width: int, trim: bool) -> list[HiveType | None]:
    types: list[HiveType | None] = [None] * width
    for row in rows:
        for i, value in enumerate(row):
            t = value_type(value, trim)
            if t is not None and types[i] != "string":
                types[i] = t if types[i] is None else merge(types[i], t)
    return types


def looks_like_header(first: Sequence[str], data_types: Sequence[HiveType | None]) -> bool:
    """AWS's header test: all fields strings (and short), and some column below is not."""
    if any(value_type(v) != "string" for v in first):
        return False
    if any(len(v) >= _HEADER_FIELD_MAX for v in first[:-1]):
        return False
    return any(t not in (None, "string") for t in data_types)


def column_names(raw: Sequence[str]) -> list[str]:
    """Header fields as catalog column names: trimmed, lower-case, unique, never empty."""
    names: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(raw):
        name = value.strip().lower() or f"col{i}"
        base, n = name, 1
        while name in seen:
            name = f"{base}_{n}"
            n += 1
        seen.add(name)
        names.append(name)
    return names


def _schema(rows: list[list[str]], text: str, delimiter: str, options: CsvOptions) -> FileSchema:
    width = len(rows[0])
    data_types = _column_types(rows[1:], width, options.trim)
    if options.contains_header == "PRESENT":
        header = True
    elif options.contains_header == "ABSENT":
        header = False
    else:
        header = looks_like_header(rows[0], data_types)
    if header:
        names = column_names(options.header or rows[0])
        types, records = data_types, len(rows) - 1
    else:
        names = (
            column_names(options.header) if options.header else [f"col{i}" for i in range(width)]
        )
        types = _column_types(rows[:1], width, options.trim)
        types = [merge(a, b) for a, b in zip(types, data_types, strict=True)]
        records = len(rows)
    return FileSchema(
        classification="csv",
        columns=tuple(zip(names, [t or "string" for t in types], strict=True)),
        records=records,
        delimiter=delimiter,
        header=header,
        quoted=_quoted(text, delimiter, options.quote),
        quote_char=options.quote,
        serde=options.serde if options.serde in ("OpenCSVSerDe", "LazySimpleSerDe") else None,
        classifier=options.classifier,
    )


def _quoted(text: str, delimiter: str, quote: str) -> bool:
    """Whether any field is quoted (then only OpenCSVSerde reads the data right)."""
    pattern = rf"(?:^|{re.escape(delimiter)})[ \t]*{re.escape(quote)}"
    return re.search(pattern, text, re.MULTILINE) is not None
