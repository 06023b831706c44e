"""Type names across the three type systems a query meets: Hive/Glue, DuckDB, and Trino.

Glue catalogs columns with Hive type strings (`bigint`, `array<struct<a:int,b:string>>`,
`decimal(10,2)`); DuckDB needs its own SQL types to read and cast data; Athena reports result
columns with Trino's names (`integer`, `varchar`, `row`) and JDBC-style precision. This module
translates Hive -> DuckDB (`duckdb_type`), DuckDB -> Trino (`trino_column`, `trino_type`) and
DuckDB -> Hive (`hive_type_for`), reading DuckDB's type strings with one parser (`parse_type`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCALARS = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "real": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "binary": "BLOB",
    "varbinary": "BLOB",
    "decimal": "DECIMAL(10,0)",  # Hive's default precision and scale
}


class HiveTypeError(ValueError):
    """A Hive type string that cannot be read."""


def normalize_hive_type(text: str) -> str:
    """The canonical Glue spelling: lower case, no blanks (`ARRAY<STRUCT<x: INT>>` ->
    `array<struct<x:int>>`), as crawlers and Athena DDL store it."""
    return re.sub(r"\s+", "", text).lower()


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_type(hive_type: str) -> str:
    """The DuckDB type that holds values of a Hive type."""
    parser = _HiveTypeParser(normalize_hive_type(hive_type))
    out = parser.parse_type()
    if parser.pos != len(parser.text):
        raise HiveTypeError(f"Unknown type: {hive_type}")
    return out


class _HiveTypeParser:
    """A recursive-descent reader of Hive type strings (nested generics, decimal arguments)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _word(self) -> str:
        match = re.compile(r"[a-z_][a-z0-9_]*").match(self.text, self.pos)
        if match is None:
            raise HiveTypeError(f"Unknown type: {self.text}")
        self.pos = match.end()
        return match.group()

    def _expect(self, char: str) -> None:
        if not self.text.startswith(char, self.pos):
            raise HiveTypeError(f"Unknown type: {self.text}")
        self.pos += 1

    def _peek(self, char: str) -> bool:
        return self.text.startswith(char, self.pos)

    def parse_type(self) -> str:
        name = self._word()
        if name == "array":
            self._expect("<")
            inner = self.parse_type()
            self._expect(">")
            return f"{inner}[]"
        if name == "map":
            self._expect("<")
            key = self.parse_type()
            self._expect(",")
            value = self.parse_type()
            self._expect(">")
            return f"MAP({key}, {value})"
        if name == "struct":
            self._expect("<")
            fields = []
            while not self._peek(">"):
                field = self._field_name()
                self._expect(":")
                fields.append(f"{quote_identifier(field)} {self.parse_type()}")
                if self._peek(","):
                    self.pos += 1
            self._expect(">")
            return f"STRUCT({', '.join(fields)})"
        args = self._arguments()
        if name == "decimal" and args:
            precision, scale = [*args, "0"][:2]
            return f"DECIMAL({precision},{scale})"
        if name not in _SCALARS:
            raise HiveTypeError(f"Unknown type: {name}")
        return _SCALARS[name]

    def _field_name(self) -> str:
        match = re.compile(r"[^:<>,]+").match(self.text, self.pos)
        if match is None:
            raise HiveTypeError(f"Unknown type: {self.text}")
        self.pos = match.end()
        return match.group()

    def _arguments(self) -> list[str]:
        if not self._peek("("):
            return []
        end = self.text.index(")", self.pos)
        args = self.text[self.pos + 1 : end].split(",")
        self.pos = end + 1
        return args


@dataclass(frozen=True)
class TrinoColumn:
    """One result column as Athena's ColumnInfo describes it."""

    name: str
    type: str
    precision: int
    scale: int

    @property
    def case_sensitive(self) -> bool:
        return self.type in ("varchar", "char")


# Precision values as Athena reports them (JDBC column sizes of the Trino types).
_TRINO = {
    "VARCHAR": ("varchar", 2147483647),
    "BOOLEAN": ("boolean", 0),
    "TINYINT": ("tinyint", 3),
    "SMALLINT": ("smallint", 5),
    "INTEGER": ("integer", 10),
    "BIGINT": ("bigint", 19),
    "UTINYINT": ("smallint", 5),
    "USMALLINT": ("integer", 10),
    "UINTEGER": ("bigint", 19),
    "UBIGINT": ("decimal", 20),
    "HUGEINT": ("decimal", 38),
    "UHUGEINT": ("decimal", 38),
    "FLOAT": ("real", 7),
    "DOUBLE": ("double", 17),
    "DATE": ("date", 0),
    "TIME": ("time", 3),
    "TIMESTAMP": ("timestamp", 3),
    "TIMESTAMP_NS": ("timestamp", 3),
    "TIMESTAMP_MS": ("timestamp", 3),
    "TIMESTAMP_S": ("timestamp", 3),
    "TIMESTAMP WITH TIME ZONE": ("timestamp with time zone", 3),
    "BLOB": ("varbinary", 1073741824),
    "INTERVAL": ("interval day to second", 0),
    "UUID": ("uuid", 0),
    "JSON": ("json", 0),
    '"NULL"': ("unknown", 0),
    "NULL": ("unknown", 0),
}


def trino_column(name: str, duck_type: str) -> TrinoColumn:
    """How Athena would name the type of a DuckDB result column."""
    text = duck_type.strip()
    if text.endswith("]"):
        return TrinoColumn(name, "array", 0, 0)
    upper = text.upper()
    if upper.startswith("MAP("):
        return TrinoColumn(name, "map", 0, 0)
    if upper.startswith(("STRUCT(", "TUPLE(", "UNION(")):
        return TrinoColumn(name, "row", 0, 0)
    if upper.startswith("DECIMAL"):
        match = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", upper)
        precision, scale = (int(match.group(1)), int(match.group(2))) if match else (18, 3)
        return TrinoColumn(name, "decimal", precision, scale)
    if upper.startswith("VARCHAR"):
        return TrinoColumn(name, "varchar", 2147483647, 0)
    trino, precision = _TRINO.get(upper, (text.lower(), 0))
    return TrinoColumn(name, trino, precision, 0)


def hive_type_for(duck_type: str | DuckType) -> str:
    """The Hive type Glue records for a DuckDB column (tables made by CTAS, views)."""
    t = parse_type(duck_type) if isinstance(duck_type, str) else duck_type
    if t.kind == "LIST":
        return f"array<{hive_type_for(t.fields[0][1])}>"
    if t.kind == "MAP":
        return f"map<{hive_type_for(t.fields[0][1])},{hive_type_for(t.fields[1][1])}>"
    if t.kind == "STRUCT":
        fields = [
            f"{f'field{i}' if name is None else name}:{hive_type_for(field)}"
            for i, (name, field) in enumerate(t.fields)
        ]
        return f"struct<{','.join(fields)}>"
    if t.kind.startswith("DECIMAL"):
        return normalize_hive_type(t.kind)
    hive = {
        "VARCHAR": "string",
        "BOOLEAN": "boolean",
        "TINYINT": "tinyint",
        "SMALLINT": "smallint",
        "INTEGER": "int",
        "BIGINT": "bigint",
        "HUGEINT": "decimal(38,0)",
        "FLOAT": "float",
        "DOUBLE": "double",
        "DATE": "date",
        "BLOB": "binary",
    }
    if t.kind.startswith("TIMESTAMP"):
        return "timestamp"
    return hive.get(t.kind, "string")


def trino_type(duck_type: str | DuckType) -> str:
    """The full Trino name of a DuckDB type (`array(row(a integer, b varchar))`)."""
    t = parse_type(duck_type) if isinstance(duck_type, str) else duck_type
    if t.kind == "LIST":
        return f"array({trino_type(t.fields[0][1])})"
    if t.kind == "MAP":
        return f"map({trino_type(t.fields[0][1])}, {trino_type(t.fields[1][1])})"
    if t.kind == "STRUCT":
        fields = [
            trino_type(field) if name is None else f"{_trino_field(name)} {trino_type(field)}"
            for name, field in t.fields
        ]
        return f"row({', '.join(fields)})"
    column = trino_column("", t.kind)
    if column.type == "decimal":
        return f"decimal({column.precision},{column.scale})"
    return column.type


def _trino_field(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else quote_identifier(name)


@dataclass(frozen=True)
class DuckType:
    """A parsed DuckDB type: `kind` is LIST, STRUCT, MAP or the scalar's upper-case text;
    `fields` the element (LIST), the key and value (MAP) or the named fields (STRUCT; None
    names an unnamed field)."""

    kind: str
    fields: tuple[tuple[str | None, DuckType], ...] = ()


def parse_type(text: str) -> DuckType:
    """A DuckDB type as DESCRIBE writes it (`STRUCT("a b" INTEGER, c VARCHAR[])[]`)."""
    text = text.strip()
    if text.endswith("]"):
        return DuckType("LIST", ((None, parse_type(text[: _open_bracket(text)])),))
    head, paren, rest = text.partition("(")
    kind = head.strip().upper()
    if paren and kind in ("STRUCT", "TUPLE"):
        # DuckDB writes a row with named fields as STRUCT, one without names as TUPLE.
        parts = _split(rest[:-1])
        if kind == "TUPLE":
            return DuckType("STRUCT", tuple((None, parse_type(part)) for part in parts))
        return DuckType("STRUCT", tuple(_field(part) for part in parts))
    if paren and kind == "MAP":
        key, value = _split(rest[:-1])
        return DuckType("MAP", ((None, parse_type(key)), (None, parse_type(value))))
    return DuckType(text.upper())


def _open_bracket(text: str) -> int:
    """Where the trailing `[...]` of a list type opens."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == "]":
            depth += 1
        elif text[i] == "[":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced list type {text!r}")


def _split(text: str) -> list[str]:
    """Split a type's argument list on commas outside parentheses, brackets and quotes."""
    parts, depth, start, quoted = [], 0, 0, False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _field(part: str) -> tuple[str, DuckType]:
    """A STRUCT member: `name TYPE`, or a quoted name (quotes inside doubled) and its TYPE."""
    if not part.startswith('"'):
        name, _, rest = part.partition(" ")
        return name, parse_type(rest)
    end = 1
    while True:
        end = part.index('"', end)
        if part[end + 1 : end + 2] != '"':
            break
        end += 2
    return part[1:end].replace('""', '"'), parse_type(part[end + 1 :])
