"""Java `DateTimeFormatter` patterns (as `!{timestamp:...}` uses them), compiled to formatters.

Supported letters: `y`/`u` year (`yy`: two digits), `M`/`L` month (`M`, `MM`, `MMM` Jan,
`MMMM` January), `d` day of month, `D` day of year, `H` hour 0-23, `k` hour 1-24, `h` hour 1-12,
`K` hour 0-11, `m` minute, `s` second, `S` fraction of second, `a` AM/PM, `E` day of week
(`E`-`EEE` Mon, `EEEE` Monday), `e` day of week number (Monday = 1), `w` ISO week. Text in
single quotes is literal (`''` is a quote); other non-letters are literal. Any other letter is
reserved by Java and rejected, as are the optional-section and padding symbols.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

Formatter = Callable[[datetime], str]
_RESERVED = set("[]{}#")


def _year(n: int, t: datetime) -> str:
    return f"{t.year % 100:02d}" if n == 2 else f"{t.year:0{n}d}"


def _month(n: int, t: datetime) -> str:
    if n >= 4:
        return t.strftime("%B")
    if n == 3:
        return t.strftime("%b")
    return f"{t.month:0{n}d}"


def _weekday(n: int, t: datetime) -> str:
    return t.strftime("%A") if n >= 4 else t.strftime("%a")


def _fraction(n: int, t: datetime) -> str:
    return f"{t.microsecond:06d}{'0' * max(0, n - 6)}"[:n]


def _ampm(n: int, t: datetime) -> str:
    return "AM" if t.hour < 12 else "PM"


def _number(get: Callable[[datetime], int]) -> Callable[[int, datetime], str]:
    return lambda n, t: f"{get(t):0{n}d}"


_FIELDS: dict[str, Callable[[int, datetime], str]] = {
    "y": _year,
    "u": _year,
    "M": _month,
    "L": _month,
    "d": _number(lambda t: t.day),
    "D": _number(lambda t: t.timetuple().tm_yday),
    "H": _number(lambda t: t.hour),
    "k": _number(lambda t: t.hour or 24),
    "h": _number(lambda t: (t.hour % 12) or 12),
    "K": _number(lambda t: t.hour % 12),
    "m": _number(lambda t: t.minute),
    "s": _number(lambda t: t.second),
    "S": _fraction,
    "a": _ampm,
    "E": _weekday,
    "e": _number(lambda t: t.isoweekday()),
    "w": _number(lambda t: t.isocalendar()[1]),
}


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Formatter:
    """A function formatting a datetime by `pattern`; ValueError for patterns Java rejects."""
    pieces: list[Callable[[datetime], str]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            end = i + 1
            text: list[str] = []
            while True:
                if end >= n:
                    raise ValueError("unclosed quote")
                if pattern[end] == "'":
                    if end + 1 < n and pattern[end + 1] == "'":
                        text.append("'")
                        end += 2
                        continue
                    break
                text.append(pattern[end])
                end += 1
            literal = "".join(text) if end > i + 1 else "'"
            pieces.append(lambda _t, s=literal: s)
            i = end + 1
        elif c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            field = _FIELDS.get(c)
            if field is None:
                raise ValueError(f"unsupported pattern letter {c!r}")
            pieces.append(functools.partial(field, j - i))
            i = j
        elif c in _RESERVED:
            raise ValueError(f"reserved character {c!r}")
        else:
            pieces.append(lambda _t, s=c: s)
            i += 1
    return lambda t: "".join(piece(t) for piece in pieces)
