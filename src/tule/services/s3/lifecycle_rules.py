"""Lifecycle configurations: validation as S3 does it (spec §9.6), storage, and the parsed
`Rule` the engine evaluates.

A configuration is stored as the request's Rules (dates as epoch seconds) so that
GetBucketLifecycleConfiguration returns what was put.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from tule.services.s3 import errors

MAX_RULES = 1000
MAX_ID_CHARS = 255
IA_CLASSES = ("STANDARD_IA", "ONEZONE_IA")
IA_MIN_DAYS = 30
DEFAULT_MIN_SIZE = "all_storage_classes_128K"
MIN_SIZE_MODES = (DEFAULT_MIN_SIZE, "varies_by_storage_class")
_ACTIONS = (
    "Expiration",
    "Transitions",
    "NoncurrentVersionTransitions",
    "NoncurrentVersionExpiration",
    "AbortIncompleteMultipartUpload",
)
_FILTER_PREDICATES = ("Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan", "And")


@dataclass(frozen=True)
class Transition:
    storage_class: str
    days: int | None = None
    date: float | None = None


@dataclass(frozen=True)
class NoncurrentTransition:
    storage_class: str
    days: int
    newer_versions: int = 0


@dataclass
class Rule:
    """One rule, ready to evaluate."""

    id: str
    enabled: bool
    prefix: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    size_greater_than: int | None = None
    size_less_than: int | None = None
    transitions: list[Transition] = field(default_factory=list)
    expiration_days: int | None = None
    expiration_date: float | None = None
    expired_object_delete_marker: bool = False
    noncurrent_transitions: list[NoncurrentTransition] = field(default_factory=list)
    noncurrent_expiration_days: int | None = None
    noncurrent_newer_versions: int = 0
    abort_after_days: int | None = None

    @property
    def has_size_filter(self) -> bool:
        return self.size_greater_than is not None or self.size_less_than is not None


def validate(rules: list[dict[str, Any]], min_size: str | None) -> list[dict[str, Any]]:
    """Check a PutBucketLifecycleConfiguration's rules; returns them ready to store."""
    if not rules or len(rules) > MAX_RULES:
        raise errors.malformed_xml()
    if min_size is not None and min_size not in MIN_SIZE_MODES:
        raise errors.invalid_request(
            "Invalid value for x-amz-transition-default-minimum-object-size header"
        )
    stored, seen = [], set()
    for raw in rules:
        rule = dict(raw)
        rule.setdefault("ID", secrets.token_urlsafe(36)[:48])
        if len(rule["ID"]) > MAX_ID_CHARS:
            raise errors.invalid_argument("ID length should not exceed allowed limit of 255")
        if rule["ID"] in seen:
            raise errors.invalid_argument(
                "Rule ID must be unique. Found same ID for more than one rule"
            )
        seen.add(rule["ID"])
        _check_rule(rule)
        stored.append(_dates(rule, _to_epoch))
    return stored


def to_output(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored rules as the GetBucketLifecycleConfiguration shape (dates as datetimes)."""
    return [_dates(dict(rule), _to_datetime) for rule in stored]


def parse(stored: dict[str, Any]) -> Rule:
    """A stored rule as a `Rule`."""
    rule = Rule(id=stored["ID"], enabled=stored.get("Status") == "Enabled")
    flt = stored.get("Filter")
    if flt is None:
        rule.prefix = stored.get("Prefix") or ""
    else:
        conj = flt.get("And") or flt
        rule.prefix = conj.get("Prefix") or ""
        tags = conj.get("Tags") or ([flt["Tag"]] if "Tag" in flt else [])
        rule.tags = {t["Key"]: t["Value"] for t in tags}
        rule.size_greater_than = conj.get("ObjectSizeGreaterThan")
        rule.size_less_than = conj.get("ObjectSizeLessThan")
    for t in stored.get("Transitions") or []:
        rule.transitions.append(Transition(t["StorageClass"], t.get("Days"), t.get("Date")))
    expiration = stored.get("Expiration") or {}
    rule.expiration_days = expiration.get("Days")
    rule.expiration_date = expiration.get("Date")
    rule.expired_object_delete_marker = bool(expiration.get("ExpiredObjectDeleteMarker"))
    for t in stored.get("NoncurrentVersionTransitions") or []:
        rule.noncurrent_transitions.append(
            NoncurrentTransition(
                t["StorageClass"],
                t.get("NoncurrentDays") or 0,
                t.get("NewerNoncurrentVersions") or 0,
            )
        )
    nve = stored.get("NoncurrentVersionExpiration") or {}
    rule.noncurrent_expiration_days = nve.get("NoncurrentDays")
    rule.noncurrent_newer_versions = nve.get("NewerNoncurrentVersions") or 0
    abort = stored.get("AbortIncompleteMultipartUpload") or {}
    rule.abort_after_days = abort.get("DaysAfterInitiation")
    return rule


def _check_rule(rule: dict[str, Any]) -> None:
    if rule.get("Status") not in ("Enabled", "Disabled"):
        raise errors.malformed_xml()
    flt = rule.get("Filter")
    if (flt is None) == ("Prefix" not in rule):
        raise errors.malformed_xml()  # exactly one of Filter and (deprecated) Prefix
    has_tags = False
    if flt is not None:
        if sum(1 for p in _FILTER_PREDICATES if p in flt) > 1:
            raise errors.malformed_xml()
        has_tags = "Tag" in flt or bool((flt.get("And") or {}).get("Tags"))
    if not any(rule.get(action) for action in _ACTIONS):
        raise errors.invalid_request("At least one action needs to be specified in a rule")
    expiration = rule.get("Expiration")
    if expiration:
        if sum(1 for k in ("Days", "Date", "ExpiredObjectDeleteMarker") if k in expiration) != 1:
            raise errors.malformed_xml()
        if "Days" in expiration and expiration["Days"] < 1:
            raise errors.invalid_argument("'Days' for Expiration action must be a positive integer")
        if "Date" in expiration:
            _check_midnight(expiration["Date"])
        if "ExpiredObjectDeleteMarker" in expiration and has_tags:
            raise errors.invalid_request("ExpiredObjectDeleteMarker cannot be specified with tags.")
    _check_transitions(rule.get("Transitions") or [], expiration or {})
    for t in rule.get("NoncurrentVersionTransitions") or []:
        days = t.get("NoncurrentDays")
        if days is None or days < 0:
            raise errors.malformed_xml()
        if t.get("StorageClass") in IA_CLASSES and days < IA_MIN_DAYS:
            raise errors.invalid_argument(
                "'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or "
                f"equal to 30 for storageClass '{t['StorageClass']}'"
            )
    nve = rule.get("NoncurrentVersionExpiration")
    if nve is not None and (nve.get("NoncurrentDays") or 0) < 1:
        raise errors.invalid_argument(
            "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"
        )
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort is not None:
        if (abort.get("DaysAfterInitiation") or 0) < 1:
            raise errors.invalid_argument(
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a "
                "positive integer"
            )
        if has_tags:
            raise errors.invalid_request(
                "AbortIncompleteMultipartUpload cannot be specified with Tags."
            )


def _check_transitions(transitions: list[dict[str, Any]], expiration: dict[str, Any]) -> None:
    classes = [t.get("StorageClass") for t in transitions]
    if len(set(classes)) != len(classes):
        raise errors.invalid_argument(
            "'StorageClass' must be different for 'Transition' actions in same 'Rule'"
        )
    by_days = []
    for t in transitions:
        if ("Days" in t) == ("Date" in t) or not t.get("StorageClass"):
            raise errors.malformed_xml()
        if "Date" in t:
            _check_midnight(t["Date"])
            continue
        if t["Days"] < 0:
            raise errors.invalid_argument("'Days' in Transition action must be nonnegative")
        if t["StorageClass"] in IA_CLASSES and t["Days"] < IA_MIN_DAYS:
            raise errors.invalid_argument(
                "'Days' in Transition action must be greater than or equal to 30 for "
                f"storageClass '{t['StorageClass']}'"
            )
        by_days.append((t["Days"], t["StorageClass"]))
    by_days.sort()
    # An object must stay 30 days in an IA class before moving on (S3 user guide,
    # "Transitioning objects using Amazon S3 Lifecycle": constraints).
    for (days, cls), (next_days, next_cls) in pairwise(by_days):
        if cls in IA_CLASSES and next_days - days < IA_MIN_DAYS:
            raise errors.invalid_argument(
                f"'Days' in the Transition action for StorageClass '{next_cls}' must be 30 days "
                f"more than 'Days' in the Transition action for StorageClass '{cls}'"
            )
    if by_days and "Days" in expiration and expiration["Days"] <= by_days[-1][0]:
        raise errors.invalid_argument(
            "'Days' in the Expiration action must be greater than 'Days' in the Transition action"
        )


def _check_midnight(when: datetime) -> None:
    utc = when.astimezone(UTC)
    if (utc.hour, utc.minute, utc.second, utc.microsecond) != (0, 0, 0, 0):
        raise errors.invalid_argument("'Date' must be at midnight GMT")


def _to_epoch(value: Any) -> Any:
    return value.timestamp() if isinstance(value, datetime) else value


def _to_datetime(value: Any) -> Any:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else value


def _dates(rule: dict[str, Any], convert: Any) -> dict[str, Any]:
    """The rule with its `Date` members converted (they are the only timestamps in it)."""
    if rule.get("Expiration") and "Date" in rule["Expiration"]:
        rule["Expiration"] = {**rule["Expiration"], "Date": convert(rule["Expiration"]["Date"])}
    if rule.get("Transitions"):
        rule["Transitions"] = [
            {**t, "Date": convert(t["Date"])} if "Date" in t else dict(t)
            for t in rule["Transitions"]
        ]
    return rule
