"""S3 object names: prefix expressions (`!{namespace:value}`), their rules and evaluation.

An object's key is `<evaluated prefix><suffix>` with the suffix
`<stream name>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid><extension>`; every time in it is
the arrival time of the oldest record in the object, in UTC or the stream's CustomTimeZone.

A Prefix without expressions keeps Firehose's original meaning: it is put in front of the
default time folders `YYYY/MM/dd/HH/` (an empty Prefix gives just those). A Prefix with
expressions replaces them. Failed records go under the ErrorOutputPrefix when it has
expressions; otherwise under `<ErrorOutputPrefix or Prefix><error-output-type>/YYYY/MM/dd/HH/`.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tule.services.firehose.errors import invalid_argument
from tule.services.firehose.timeformat import compile_pattern

_EXPRESSION = re.compile(r"!\{([^{}]*)\}")
_ALPHANUMERIC = string.ascii_letters + string.digits

ERROR_OUTPUT_TYPES = (
    "processing-failed",
    "format-conversion-failed",
    "partitioning-failed",
    "AmazonOpenSearchService-failed",
    "splunk-failed",
    "http-endpoint-failed",
)
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/"


@dataclass(frozen=True)
class Expression:
    """One `!{namespace:value}`."""

    namespace: str
    value: str


Part = str | Expression


def parse(prefix: str, member: str) -> list[Part]:
    """Split `prefix` into literal text and expressions, rejecting ones Firehose would."""
    parts: list[Part] = []
    pos = 0
    for match in _EXPRESSION.finditer(prefix):
        if match.start() > pos:
            parts.append(prefix[pos : match.start()])
        namespace, sep, value = match.group(1).partition(":")
        if not sep:
            raise invalid_argument(
                f"{member} expression {match.group(0)} is not of the form !{{namespace:value}}."
            )
        parts.append(_checked(Expression(namespace, value), member))
        pos = match.end()
    rest = prefix[pos:]
    if "!{" in rest:
        raise invalid_argument(f"{member} has an expression that is not closed: {rest!r}.")
    if rest:
        parts.append(rest)
    return parts


def _checked(expr: Expression, member: str) -> Expression:
    ns, value = expr.namespace, expr.value
    if ns == "timestamp":
        try:
            compile_pattern(value)
        except ValueError as err:
            raise invalid_argument(
                f"{member} has an invalid timestamp pattern {value!r}: {err}"
            ) from None
    elif ns == "firehose":
        if value not in ("random-string", "error-output-type"):
            raise invalid_argument(
                f"{member} uses !{{firehose:{value}}}; the firehose namespace has only "
                "random-string and error-output-type."
            )
    elif ns in ("partitionKeyFromQuery", "partitionKeyFromLambda"):
        if not value:
            raise invalid_argument(f"{member} has a partition key expression with no key name.")
    else:
        raise invalid_argument(
            f"{member} uses the unknown namespace {ns!r} (known: timestamp, firehose, "
            "partitionKeyFromQuery, partitionKeyFromLambda)."
        )
    return expr


def _expressions(parts: list[Part]) -> list[Expression]:
    return [p for p in parts if isinstance(p, Expression)]


def _partition_keys(parts: list[Part]) -> list[Expression]:
    return [p for p in _expressions(parts) if p.namespace.startswith("partitionKeyFrom")]


def validate(prefix: str, error_prefix: str, *, dynamic_partitioning: bool) -> None:
    """Firehose's rules for a destination's Prefix and ErrorOutputPrefix."""
    data = parse(prefix, "Prefix")
    errors = parse(error_prefix, "ErrorOutputPrefix")
    if any(e.value == "error-output-type" for e in _expressions(data) if e.namespace == "firehose"):
        raise invalid_argument(
            "The !{firehose:error-output-type} expression is only allowed in ErrorOutputPrefix."
        )
    if _expressions(data) and not error_prefix:
        raise invalid_argument(
            "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions."
        )
    error_exprs = _expressions(errors)
    if error_exprs and not any(
        e.namespace == "firehose" and e.value == "error-output-type" for e in error_exprs
    ):
        raise invalid_argument(
            "ErrorOutputPrefix must contain !{firehose:error-output-type} when it contains "
            "expressions."
        )
    if _partition_keys(errors):
        raise invalid_argument("ErrorOutputPrefix cannot contain partition key expressions.")
    keys = _partition_keys(data)
    if dynamic_partitioning:
        if not keys:
            raise invalid_argument(
                "When dynamic partitioning is enabled, Prefix must contain at least one "
                "partitionKeyFromQuery or partitionKeyFromLambda expression."
            )
        if not error_prefix:
            raise invalid_argument(
                "ErrorOutputPrefix is required when dynamic partitioning is enabled."
            )
    elif keys:
        raise invalid_argument(
            "Partition key expressions in Prefix require dynamic partitioning to be enabled."
        )


def query_keys(prefix: str) -> set[str]:
    """The `partitionKeyFromQuery` names a prefix uses."""
    return {
        e.value for e in _partition_keys(parse(prefix, "Prefix")) if e.namespace.endswith("Query")
    }


def random_string() -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(11))


def _evaluate(
    parts: list[Part],
    instant: datetime,
    partition: Mapping[str, Mapping[str, str]],
    error_type: str | None,
) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif part.namespace == "timestamp":
            out.append(compile_pattern(part.value)(instant))
        elif part.namespace == "firehose":
            out.append(random_string() if part.value == "random-string" else error_type or "")
        else:
            source = "query" if part.namespace.endswith("Query") else "lambda"
            out.append(partition.get(source, {}).get(part.value, ""))
    return "".join(out)


def data_prefix(
    prefix: str, instant: datetime, partition: Mapping[str, Mapping[str, str]] | None = None
) -> str:
    """The evaluated Prefix for records delivered successfully."""
    parts = parse(prefix, "Prefix")
    if not _expressions(parts):
        parts = [*parts, *parse(DEFAULT_TIME_PREFIX, "Prefix")]
    return _evaluate(parts, instant, partition or {}, None)


def error_prefix(prefix: str, error_output_prefix: str, instant: datetime, error_type: str) -> str:
    """The evaluated prefix for failed records of `error_type`."""
    parts = parse(error_output_prefix, "ErrorOutputPrefix")
    if not _expressions(parts):
        base = error_output_prefix or ("" if _expressions(parse(prefix, "Prefix")) else prefix)
        parts = [base, f"{error_type}/", *parse(DEFAULT_TIME_PREFIX, "Prefix")]
    return _evaluate(parts, instant, {}, error_type)


def object_suffix(stream: str, version: int, instant: datetime, uuid: str, extension: str) -> str:
    return f"{stream}-{version}-{instant.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid}{extension}"
