"""Type names across the three type systems a query meets: Hive/Glue, DuckDB, and Trino.

Glue catalogs columns with Hive type strings (`bigint`, `array<struct<a:int,b:string>>`,
`decimal(10,2)`); DuckDB needs its own SQL types to read and cast data; Athena reports result
columns with Trino's names (`integer`, `varchar`, `row`) and JDBC-style precision. This module
translates Hive -> DuckDB (`duckdb_type`) and DuckDB -> Trino (`trino_column`).
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


def hive_type_for(duck_type: str) -> str:
    """The Hive type Glue records for a DuckDB column (tables made by CTAS)."""
    text = duck_type.strip()
    if text.endswith("[]"):
        return f"array<{hive_type_for(text[:-2])}>"
    upper = text.upper()
    if upper.startswith("MAP("):
        key, value = _split_top(text[4:-1])
        return f"map<{hive_type_for(key)},{hive_type_for(value)}>"
    if upper.startswith("STRUCT("):
        fields = []
        for part in _split_top(text[7:-1]):
            field, _, inner = part.strip().partition(" ")
            name = field.strip('"')
            fields.append(f"{name}:{hive_type_for(inner)}")
        return f"struct<{','.join(fields)}>"
    if upper.startswith("DECIMAL"):
        return normalize_hive_type(text)
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
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    return hive.get(upper, "string")


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts
