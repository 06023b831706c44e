"""Filter patterns for FilterLogEvents: the term syntax for unstructured events, and `%regex%`.

Supported, following AWS's "Filter pattern syntax" guide (matching is case-sensitive):

- `""` (or only spaces) matches every event.
- `ERROR Exception`: every plain term must appear.
- `"INTERNAL SERVER ERROR"`: a quoted phrase is one term, spaces and symbols included;
  `\\"` escapes a quote inside it.
- `?ERROR ?WARN`: at least one `?` term must appear.
- `ERROR -ARGUMENTS`: no `-` term may appear.
- `%[Ee]rror%`: a regular expression that must match somewhere in the message.

AWS only documents `?` terms on their own; mixed with plain terms here they add an "any of
these" condition to the plain terms' "all of these". A term matches as a substring of the
message. JSON (`{ $.field = ... }`) and space-delimited (`[ip, user, ...]`) patterns answer
InvalidParameterException saying they are not supported yet, rather than matching wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tule.services.logs.errors import invalid_parameter

Matcher = Callable[[str], bool]


@dataclass(frozen=True)
class TermPattern:
    """A parsed term pattern: all `required`, none `excluded`, and one of `optional` if any."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def __call__(self, message: str) -> bool:
        if not all(term in message for term in self.required):
            return False
        if any(term in message for term in self.excluded):
            return False
        return not self.optional or any(term in message for term in self.optional)


def _match_all(message: str) -> bool:
    return True


def compile_pattern(pattern: str | None) -> Matcher:
    """A predicate on event messages, or InvalidParameterException for a bad pattern."""
    text = (pattern or "").strip()
    if not text:
        return _match_all
    if text.startswith("{"):
        raise invalid_parameter(
            "JSON filter patterns ({ $.field = value }) are not supported by tule yet; "
            "use terms, quoted phrases, ?alternatives, -exclusions or %regex%."
        )
    if text.startswith("["):
        raise invalid_parameter(
            "Space-delimited filter patterns ([field, ...]) are not supported by tule yet; "
            "use terms, quoted phrases, ?alternatives, -exclusions or %regex%."
        )
    if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
        return _regex(text[1:-1])
    return _terms(text)


def _regex(body: str) -> Matcher:
    if not body:
        raise invalid_parameter("Invalid regex in filter pattern: the expression is empty.")
    try:
        rx = re.compile(body)
    except re.error as err:
        raise invalid_parameter(f"Invalid regex in filter pattern: {err}.") from None
    return lambda message: rx.search(message) is not None


def _terms(text: str) -> TermPattern:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        target = required
        if text[i] in "?-":
            target = optional if text[i] == "?" else excluded
            i += 1
            if i >= n or text[i].isspace():
                raise invalid_parameter(f"Invalid filter pattern: {text!r} has an empty term.")
        if text[i] == '"':
            term, i = _quoted(text, i)
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            term = text[start:i]
        if term:
            target.append(term)
    return TermPattern(tuple(required), tuple(optional), tuple(excluded))


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The phrase of the quote opening at `i`, and the index after its closing quote."""
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise invalid_parameter(f"Invalid filter pattern: {text!r} has an unterminated quote.")
