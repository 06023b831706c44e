"""How Athena writes values into result files, as DuckDB SQL over a result column.

Athena's engine hands values to its result writer as Java objects, so their text is Java's:
a DOUBLE as `Double.toString` (`1.7040672E9`), a timestamp with milliseconds, varbinary as
hex, and nested values as Java collections print them: an array `[1, 2]`, a map `{k=1}`, a
row `{a=1, b=x}` (an unnamed row's fields are `field0`, `field1`, ...), strings inside
unquoted, and a NULL inside a nested value `null`. A NULL column value stays SQL NULL (the
result file's empty unquoted field).

`rendered(expr, duck_type)` is that text as SQL; DuckDB's own casts differ on every nested
case (`['a', NULL]`, `{'a': 1}`, `(1, x)`), and a nested TIMESTAMP or DOUBLE must be
rendered element by element.
"""

from __future__ import annotations

from tule.engines.duckdb_sources import sql_string
from tule.engines.duckdb_types import DuckType, parse_type


def rendered(expr: str, duck_type: str | DuckType, *, nested: bool = False) -> str:
    """SQL giving the value of `expr` as Athena writes it (NULL for NULL). A top-level value
    whose text DuckDB already writes as Athena does is left as it is (the CSV writer casts
    it); a `nested` one is cast, to be joined with its neighbours."""
    t = parse_type(duck_type) if isinstance(duck_type, str) else duck_type
    if t.kind == "LIST":
        item = _nested("x", t.fields[0][1])
        return (
            f"CASE WHEN {expr} IS NULL THEN NULL ELSE '[' || array_to_string("
            f"list_transform({expr}, lambda x: {item}), ', ') || ']' END"
        )
    if t.kind == "MAP":
        key, value = _nested("e.key", t.fields[0][1]), _nested("e.value", t.fields[1][1])
        return (
            f"CASE WHEN {expr} IS NULL THEN NULL ELSE '{{' || array_to_string("
            f"list_transform(map_entries({expr}), lambda e: {key} || '=' || {value}), ', ')"
            " || '}' END"
        )
    if t.kind == "STRUCT":
        parts = []
        for i, (name, field) in enumerate(t.fields):
            label = f"field{i}" if name is None else name
            member = f"struct_extract({expr}, {i + 1 if name is None else sql_string(name)})"
            parts.append(f"{sql_string(label + '=')} || {_nested(member, field)}")
        body = " || ', ' || ".join(parts) if parts else "''"
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE '{{' || {body} || '}}' END"
    return _scalar(expr, t.kind, nested)


def _nested(expr: str, t: DuckType) -> str:
    """A value inside an array, map or row: NULL prints as `null`."""
    return f"coalesce({rendered(expr, t, nested=True)}, 'null')"


def _scalar(col: str, upper: str, nested: bool) -> str:
    if upper.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"strftime({col} AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%g UTC')"
    if upper.startswith("TIMESTAMP"):
        return f"strftime({col}, '%Y-%m-%d %H:%M:%S.%g')"
    if upper == "BLOB":
        return f"lower(hex({col}))"
    if upper == "DOUBLE":
        return _java_double(col)
    return f"CAST({col} AS VARCHAR)" if nested else col


def _java_double(col: str) -> str:
    """A DOUBLE as Trino prints it (Java's Double.toString): plain decimals in [1e-3, 1e7),
    else scientific with an `E` exponent (`1.7040672E9`), `NaN`, `Infinity`."""
    text = f"CAST({col} AS VARCHAR)"
    digits = f"rtrim(ltrim(replace(regexp_extract({text}, '^-?([0-9.]+)', 1), '.', ''), '0'), '0')"
    exponent = f"CAST(CAST(floor(log10(abs({col}))) AS BIGINT) AS VARCHAR)"
    scientific = (
        f"(CASE WHEN {col} < 0 THEN '-' ELSE '' END) || substr({digits}, 1, 1) || '.' || "
        f"coalesce(nullif(substr({digits}, 2), ''), '0') || 'E' || {exponent}"
    )
    return (
        f"CASE WHEN isnan({col}) THEN 'NaN' "
        f"WHEN isinf({col}) THEN (CASE WHEN {col} > 0 THEN 'Infinity' ELSE '-Infinity' END) "
        f"WHEN {col} = 0 OR (abs({col}) >= 0.001 AND abs({col}) < 10000000) THEN {text} "
        f"ELSE {scientific} END"
    )


__all__ = ["rendered"]
