"""Scalar conversions shared by the protocols: timestamps, booleans, numbers, blobs."""

from __future__ import annotations

import base64
import binascii
import calendar
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from botocore.model import Shape

from tule.errors import AwsError

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S"


class WireError(AwsError):
    """A request that cannot be decoded at all (bad JSON, bad XML, bad base64)."""


def to_datetime(value: Any) -> datetime:
    """Accept what handlers return for timestamps: datetimes or epoch seconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def format_timestamp(value: Any, fmt: str) -> Any:
    """A timestamp in one of botocore's formats: iso8601, rfc822, unixTimestamp."""
    dt = to_datetime(value)
    if fmt == "unixTimestamp":
        return round(dt.timestamp(), 3)
    if fmt == "rfc822":
        return format_datetime(dt.astimezone(UTC), usegmt=True)
    return dt.astimezone(UTC).strftime(ISO_FORMAT) + f".{dt.microsecond // 1000:03d}Z"


def parse_timestamp(text: Any, member: str) -> datetime:
    """Parse any timestamp form botocore may send (epoch number, ISO-8601, RFC 822)."""
    dt = timestamp_or_none(text)
    if dt is None:
        raise invalid_value(member, str(text).strip(), "a timestamp")
    return dt


def timestamp_or_none(text: Any) -> datetime | None:
    """`parse_timestamp` without the error: None for anything that is no timestamp."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return _from_epoch(text)
    s = str(text).strip()
    try:
        seconds = float(s)
    except ValueError:
        pass
    else:
        return _from_epoch(seconds)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            return None
    # RFC 5322's "-0000" zone parses as naive, and means UTC; so does an ISO time without one.
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # an offset that moves year 1 or year 9999 out of range
        return None


def _from_epoch(seconds: float) -> datetime | None:
    # NaN, infinities and epochs beyond year 9999 (or the platform's time_t) are no timestamp.
    try:
        return datetime.fromtimestamp(float(seconds), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def timestamp_format(shape: Shape, default: str) -> str:
    return shape.serialization.get("timestampFormat") or shape.metadata.get(
        "timestampFormat", default
    )


def invalid_value(member: str, value: Any, expected: str) -> AwsError:
    shown = str(value)[:100]
    return AwsError(
        "ValidationException",
        f"1 validation error detected: Value '{shown}' at '{member}' failed to satisfy "
        f"constraint: Member must be {expected}",
    )


# Smithy's integer is 32 bits and its long 64; AWS refuses numbers that do not fit, and a handler
# must never get an int that SQLite or a datetime cannot hold.
INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def check_int_range(shape: Shape, value: int, member: str) -> int:
    bounds = INT_RANGES.get(shape.type_name)
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise invalid_value(member, value, f"an integer from {bounds[0]} to {bounds[1]}")
    return value


def scalar_from_text(shape: Shape, text: str, member: str, ts_default: str = "iso8601") -> Any:
    """A header, query-string or XML text value converted to the shape's Python type."""
    t = shape.type_name
    if t == "string":
        return text
    if t in ("integer", "long"):
        try:
            return check_int_range(shape, int(text.strip()), member)
        except ValueError:
            raise invalid_value(member, text, "an integer") from None
    if t in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            raise invalid_value(member, text, "a number") from None
    if t == "boolean":
        low = text.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        raise invalid_value(member, text, "a boolean")
    if t == "timestamp":
        return parse_timestamp(text, member)
    if t == "blob":
        return decode_base64(text, member)
    return text


def scalar_to_text(shape: Shape, value: Any, ts_default: str = "iso8601") -> str:
    """A Python value as header, query-string or XML text."""
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "timestamp":
        return str(format_timestamp(value, timestamp_format(shape, ts_default)))
    if t == "blob":
        raw = value if isinstance(value, bytes) else str(value).encode()
        return base64.b64encode(raw).decode()
    if t in ("float", "double") and isinstance(value, float) and value.is_integer():
        return str(value)
    return str(value)


def decode_base64(text: str | bytes, member: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_value(member, text, "base64-encoded binary data") from None


def epoch(dt: datetime) -> float:
    return calendar.timegm(dt.utctimetuple()) + dt.microsecond / 1e6
