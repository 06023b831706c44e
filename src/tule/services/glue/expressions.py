"""GetPartitions' `Expression`: the SQL-like predicate on partition keys, parsed and evaluated.

Glue accepts a WHERE-clause subset over the table's partition keys: comparisons (`=`, `<>`,
`!=`, `<`, `<=`, `>`, `>=`), `[NOT] IN (...)`, `[NOT] BETWEEN a AND b`, `[NOT] LIKE 'pattern'`,
`IS [NOT] NULL`, combined with `AND`, `OR`, `NOT` and parentheses. Literals are strings in single
quotes (`''` is a quote) or numbers. Values are compared as numbers when the key's type is
numeric (`int`, `bigint`, `decimal(10,2)`, ...) and as strings otherwise, as Glue does: on a
string key `'10' < '9'`. A key names a partition column case-insensitively, bare or quoted
with backticks or double quotes.

    predicate = compile_expression("year = '2024' AND month > 6", keys)
    predicate(["2024", "07"])  # True when month is an int key
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from tule.services.glue.errors import invalid_input

Predicate = Callable[[Sequence[str]], bool]

_NUMERIC_TYPES = ("tinyint", "smallint", "int", "integer", "bigint", "float", "double", "real")
_KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "IS", "NULL"}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<quoted>`[^`]+`|"[^"]+")
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)
    """,
    re.VERBOSE,
)


def is_numeric_type(column_type: str | None) -> bool:
    """Whether Glue compares a partition key of this Hive type as a number."""
    base = (column_type or "string").strip().lower().split("(", 1)[0].strip()
    return base in _NUMERIC_TYPES or base in ("decimal", "numeric")


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "number", "name", "keyword", "op", "end"
    text: str
    at: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(text, f"unexpected character {text[pos]!r} at position {pos}")
        kind, value = match.lastgroup or "", match.group()
        if kind == "string":
            tokens.append(_Token("string", value[1:-1].replace("''", "'"), pos))
        elif kind == "quoted":
            tokens.append(_Token("name", value[1:-1], pos))
        elif kind == "word":
            upper = value.upper()
            if upper in _KEYWORDS:
                tokens.append(_Token("keyword", upper, pos))
            else:
                tokens.append(_Token("name", value, pos))
        elif kind != "space":
            tokens.append(_Token(kind, value, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _error(text: str, reason: str) -> Exception:
    return invalid_input(f"Unsupported expression '{text}': {reason}.")


@dataclass(frozen=True)
class _Column:
    index: int
    numeric: bool


@dataclass(frozen=True)
class _Literal:
    text: str
    is_number: bool


_Operand = _Column | _Literal


class _Parser:
    """Recursive descent over the tokens, building closures over the partition's values."""

    def __init__(self, text: str, keys: Sequence[tuple[str, str | None]]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.columns = {
            name.lower(): _Column(i, is_numeric_type(kind)) for i, (name, kind) in enumerate(keys)
        }

    # Token helpers

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, kind: str, text: str | None = None) -> bool:
        token = self.peek()
        if token.kind == kind and (text is None or token.text == text):
            self.pos += 1
            return True
        return False

    def expect(self, kind: str, text: str) -> None:
        if not self.accept(kind, text):
            self.fail(f"expected {text!r}")

    def fail(self, reason: str) -> NoReturn:
        token = self.peek()
        where = "at the end" if token.kind == "end" else f"near {token.text!r} ({token.at})"
        raise _error(self.text, f"{reason} {where}")

    # Grammar

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek().kind != "end":
            self.fail("unexpected input")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.accept("keyword", "OR"):
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda values: any(p(values) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.accept("keyword", "AND"):
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        return lambda values: all(p(values) for p in parts)

    def negation(self) -> Predicate:
        if self.accept("keyword", "NOT"):
            inner = self.negation()
            return lambda values: not inner(values)
        return self.primary()

    def primary(self) -> Predicate:
        if self.accept("op", "("):
            inner = self.disjunction()
            self.expect("op", ")")
            return inner
        left = self.operand()
        negated = self.accept("keyword", "NOT")
        if self.accept("keyword", "IN"):
            test = self.membership(left)
        elif self.accept("keyword", "BETWEEN"):
            test = self.between(left)
        elif self.accept("keyword", "LIKE"):
            test = self.like(left)
        elif not negated and self.accept("keyword", "IS"):
            is_not = self.accept("keyword", "NOT")
            self.expect("keyword", "NULL")
            # Partition values are never NULL in the catalog.
            return lambda values: is_not
        elif not negated and self.peek().kind == "op" and self.peek().text in _COMPARISONS:
            compare = _COMPARISONS[self.take().text]
            right = self.operand()
            test = _comparison(left, right, compare, self)
        else:
            self.fail("expected a comparison")
        if negated:
            return lambda values: not test(values)
        return test

    def operand(self) -> _Operand:
        token = self.take()
        if token.kind == "name":
            column = self.columns.get(token.text.lower())
            if column is None:
                self.pos -= 1
                self.fail(f"{token.text!r} is not a partition key of the table")
            return column
        if token.kind == "string":
            return _Literal(token.text, is_number=False)
        if token.kind == "number":
            return _Literal(token.text, is_number=True)
        self.pos -= 1
        self.fail("expected a partition key or a literal")

    def literal(self) -> _Literal:
        operand = self.operand()
        if not isinstance(operand, _Literal):
            self.pos -= 1
            self.fail("expected a literal")
        return operand

    def membership(self, left: _Operand) -> Predicate:
        column = self.column_of(left)
        self.expect("op", "(")
        options = [self.literal()]
        while self.accept("op", ","):
            options.append(self.literal())
        self.expect("op", ")")
        wanted = [self.value_for(column, o) for o in options]
        return lambda values: _key(column, values) in wanted

    def between(self, left: _Operand) -> Predicate:
        column = self.column_of(left)
        low = self.value_for(column, self.literal())
        self.expect("keyword", "AND")
        high = self.value_for(column, self.literal())

        def test(values: Sequence[str]) -> bool:
            value = _key(column, values)
            return value is not None and low <= value <= high

        return test

    def like(self, left: _Operand) -> Predicate:
        column = self.column_of(left)
        pattern = self.literal().text
        regex = re.compile(
            "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern),
            re.DOTALL,
        )
        return lambda values: regex.fullmatch(values[column.index]) is not None

    def column_of(self, operand: _Operand) -> _Column:
        if not isinstance(operand, _Column):
            self.fail("expected a partition key before IN, BETWEEN or LIKE")
        return operand

    def value_for(self, column: _Column, literal: _Literal) -> Any:
        if not column.numeric:
            return literal.text
        number = _number(literal.text)
        if number is None:
            self.fail(f"{literal.text!r} is not a number")
        return number


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _key(column: _Column, values: Sequence[str]) -> Any:
    """A partition's value for `column`, as the type it compares as (None: not a number)."""
    value = values[column.index]
    return _number(value) if column.numeric else value


def _comparison(
    left: _Operand, right: _Operand, compare: Callable[[Any, Any], bool], parser: _Parser
) -> Predicate:
    if isinstance(left, _Literal) and isinstance(right, _Literal):
        parser.fail("a comparison needs a partition key")
    if isinstance(left, _Column) and isinstance(right, _Column):
        a, b = left, right
        both_numeric = a.numeric and b.numeric

        def columns(values: Sequence[str]) -> bool:
            x = _number(values[a.index]) if both_numeric else values[a.index]
            y = _number(values[b.index]) if both_numeric else values[b.index]
            return x is not None and y is not None and compare(x, y)

        return columns
    if isinstance(left, _Literal):
        # `'2024' = year` reads as `year = '2024'`: swap the sides and mirror the operator.
        mirrored = {operator.lt: operator.gt, operator.le: operator.ge}
        mirrored |= {v: k for k, v in mirrored.items()}
        return _comparison(right, left, mirrored.get(compare, compare), parser)
    column = left
    assert isinstance(right, _Literal)
    constant = parser.value_for(column, right)

    def test(values: Sequence[str]) -> bool:
        value = _key(column, values)
        # A value that is not a number on a numeric key matches no comparison.
        return value is not None and compare(value, constant)

    return test


def compile_expression(text: str, keys: Sequence[tuple[str, str | None]]) -> Predicate:
    """A predicate over a partition's `Values`, for `keys` as (name, type) in PartitionKeys order.

    Raises InvalidInputException when the expression is not one Glue accepts."""
    if not text.strip():
        return lambda values: True
    return _Parser(text, keys).parse()
