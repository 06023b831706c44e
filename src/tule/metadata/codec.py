"""The record codec: a record to the JSON text the stores keep, and that text back to a record.

The text is what `json.dumps(record, separators=(",", ":"))` writes (ASCII only, NaN as `NaN`,
integers of any size), as in every data directory written so far. orjson does the same work
several times faster (encoding a 4 KiB S3 body inlined as base64: 14 us against 2 us), but it
differs from json's defaults here and there, so it is used only where its answer is provably
json's own, and json does the rest.

Encoding through orjson would differ on: non-ASCII characters and DEL (json escapes them);
NaN and infinities (orjson writes null); floats under 1e-4 or from 1e16 up (other notations:
"0.00001", "1e-7" where json writes "1e-05", "1e-07"); enums, UUIDs, dataclasses, datetimes
and str/int/dict subclasses (json refuses or handles them its own way); non-str keys and
integers beyond 64 bits (orjson refuses them). So a record goes to orjson only when it is made
of exact dicts with str keys, lists, tuples, str, int, bool, None and floats that are 0 or in
[1e-4, 1e16) (both then write the shortest round-trip digits, positionally), and its output is
kept only when it is ASCII without DEL. Anything else is encoded by json, errors included.

Decoding through orjson would differ on integers beyond 64 bits, which it reads as floats; it
refuses NaN, infinities, lone surrogate escapes and overflowing numbers, which json reads. So a
refusal, or a float of magnitude 2**63 or more in its result (what a big integer becomes),
sends the text to json.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# What json.dumps(value, separators=(",", ":")) writes, without building an encoder per call.
_json_encode = json.JSONEncoder(separators=(",", ":")).encode

# Deeper structures take json: it keeps the walks below far from Python's recursion limit.
_MAX_DEPTH = 64
# orjson reads an integer outside [-2**63, 2**64) as a float at least this large.
_HUGE = float(2**63)


def encode(value: Any) -> str:
    """The JSON text of `value`, exactly as json.dumps with compact separators writes it."""
    if _plain(value, 0):
        try:
            data = orjson.dumps(value)
        except orjson.JSONEncodeError:  # an int beyond 64 bits
            pass
        else:
            if data.isascii() and b"\x7f" not in data:
                return data.decode("ascii")
    return _json_encode(value)


def decode(text: str) -> Any:
    """The value of JSON `text`, exactly as json.loads reads it."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    if _has_huge_float(value, 0):
        return json.loads(text)
    return value


def _plain(value: Any, depth: int) -> bool:
    """Whether orjson writes `value` as json does, but for characters `encode` checks after."""
    kind = type(value)
    if kind is dict:
        for key in value:
            if type(key) is not str:
                return False
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    elif kind is float:
        # NaN fails both tests; so do the infinities.
        return value == 0.0 or 1e-4 <= abs(value) < 1e16
    else:
        return kind is str or kind is int or value is None or kind is bool
    if depth >= _MAX_DEPTH:
        return False
    for item in items:
        item_kind = type(item)
        # The common scalars inline: a call per value would cost what orjson saves.
        if item_kind is str or item_kind is int or item is None or item_kind is bool:
            continue
        if not _plain(item, depth + 1):
            return False
    return True


def _has_huge_float(value: Any, depth: int) -> bool:
    """Whether decoded `value` holds a float of magnitude 2**63 or more (or is too deep to
    tell cheaply)."""
    kind = type(value)
    if kind is dict:
        items = value.values()
    elif kind is list:
        items = value
    else:
        return kind is float and abs(value) >= _HUGE
    if depth >= _MAX_DEPTH:
        return True
    for item in items:
        item_kind = type(item)
        if item_kind is str or item_kind is int or item is None or item_kind is bool:
            continue
        if item_kind is float:
            if abs(item) >= _HUGE:
                return True
        elif _has_huge_float(item, depth + 1):
            return True
    return False
