"""Glue (Hive) column type strings as Arrow types: `int`, `decimal(10,2)`, `array<string>`,
`map<string,int>`, `struct<a:int,b:array<double>>`, ..."""

from __future__ import annotations

import pyarrow as pa

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("ms"),
    "date": pa.date32(),
    "binary": pa.binary(),
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text.replace(" ", "")
        self.pos = 0

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def expect(self, token: str) -> None:
        if not self.peek(token):
            raise ValueError(f"expected {token!r} at {self.pos} in {self.text!r}")
        self.pos += len(token)

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in "<>(),:":
            self.pos += 1
        if start == self.pos:
            raise ValueError(f"expected a name at {start} in {self.text!r}")
        return self.text[start : self.pos]

    def type(self) -> pa.DataType:
        word = self.name().lower()
        if word == "array":
            self.expect("<")
            item = self.type()
            self.expect(">")
            return pa.list_(item)
        if word == "map":
            self.expect("<")
            key = self.type()
            self.expect(",")
            value = self.type()
            self.expect(">")
            return pa.map_(key, value)
        if word == "struct":
            self.expect("<")
            fields = []
            while not self.peek(">"):
                field_name = self.name()
                self.expect(":")
                fields.append(pa.field(field_name.lower(), self.type()))
                if self.peek(","):
                    self.expect(",")
            self.expect(">")
            return pa.struct(fields)
        if word == "decimal":
            precision, scale = 10, 0
            if self.peek("("):
                self.expect("(")
                precision = int(self.name())
                if self.peek(","):
                    self.expect(",")
                    scale = int(self.name())
                self.expect(")")
            return pa.decimal128(precision, scale)
        if word in ("varchar", "char") and self.peek("("):
            self.expect("(")
            self.name()
            self.expect(")")
        if word not in _PRIMITIVES:
            raise ValueError(f"unsupported Glue type {word!r}")
        return _PRIMITIVES[word]


def arrow_type(glue_type: str) -> pa.DataType:
    """The Arrow type for a Glue column type; ValueError if it is not one."""
    parser = _Parser(glue_type)
    result = parser.type()
    if parser.pos != len(parser.text):
        raise ValueError(f"unexpected text after the type in {glue_type!r}")
    return result


def arrow_schema(columns: list[dict[str, str]]) -> pa.Schema:
    """The schema of a Glue table's `StorageDescriptor.Columns` (names lower-cased, as Hive)."""
    return pa.schema([pa.field(c["Name"].lower(), arrow_type(c["Type"])) for c in columns])
