"""Custom classifiers: CsvClassifier and JsonClassifier records, and the rules a crawl applies.

A crawler lists custom classifiers by name; a crawl tries them in that order before the
built-in ones (see `classify`). tule implements the CSV and JSON kinds; a GrokClassifier or an
XMLClassifier is refused with InvalidInputException rather than stored and never applied.

Records are `classifier/<account>/<region>/<name>` in the crawlers' MetadataStore, holding the
AWS shape (times as epoch seconds) and its kind.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from tule.clock import Clock
from tule.metadata import MetadataStore
from tule.services.glue.crawlers.classify import CustomRule, JsonOptions
from tule.services.glue.crawlers.csv_infer import CsvOptions
from tule.services.glue.crawlers.errors import (
    classifier_exists,
    classifier_not_found,
    invalid_input,
)

Shape = dict[str, Any]
KINDS = ("CsvClassifier", "JsonClassifier")
_UNSUPPORTED = ("GrokClassifier", "XMLClassifier")
_CSV_FIELDS = (
    "Delimiter",
    "QuoteSymbol",
    "ContainsHeader",
    "Header",
    "DisableValueTrimming",
    "AllowSingleColumn",
    "CustomDatatypeConfigured",
    "CustomDatatypes",
    "Serde",
)


def _key(account: str, region: str, name: str) -> str:
    return f"classifier/{account}/{region}/{name}"


def _kind_of(request: Shape) -> tuple[str, Shape]:
    """The one classifier a Create/UpdateClassifier request carries."""
    given = [k for k in (*KINDS, *_UNSUPPORTED) if request.get(k)]
    if len(given) != 1:
        raise invalid_input(
            "Exactly one of GrokClassifier, XMLClassifier, JsonClassifier or CsvClassifier "
            "must be specified."
        )
    kind = given[0]
    if kind in _UNSUPPORTED:
        raise invalid_input(
            f"{kind} is not supported by tule: tule supports CsvClassifier and JsonClassifier "
            "custom classifiers only."
        )
    return kind, request[kind]


def _validate(kind: str, body: Shape) -> None:
    if kind == "CsvClassifier":
        delimiter, quote = body.get("Delimiter", ","), body.get("QuoteSymbol", '"')
        if delimiter == quote:
            raise invalid_input("The delimiter and the quote symbol must be different.")
        if body.get("Header") is not None and not body["Header"]:
            raise invalid_input("Header must list at least one column name.")
    elif not str(body.get("JsonPath", "")).startswith("$"):
        raise invalid_input(f"Invalid JsonPath: {body.get('JsonPath')}. A JsonPath starts with $.")


class Classifiers:
    """The custom classifiers of every (account, region)."""

    def __init__(self, store: MetadataStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()

    def create(self, account: str, region: str, request: Shape) -> None:
        kind, body = _kind_of(request)
        _validate(kind, body)
        now = self.clock.time()
        record = {
            "kind": kind,
            "body": dict(body),
            "CreationTime": now,
            "LastUpdated": now,
            "Version": 1,
        }
        if not self.store.compare_and_set(_key(account, region, body["Name"]), None, record):
            raise classifier_exists(body["Name"])

    def update(self, account: str, region: str, request: Shape) -> None:
        kind, body = _kind_of(request)
        with self._lock:
            key = _key(account, region, body["Name"])
            record = self.store.get(key)
            if record is None:
                raise classifier_not_found(body["Name"])
            if record["kind"] != kind:
                raise invalid_input(
                    f"Classifier {body['Name']} is a {record['kind']}, not a {kind}."
                )
            merged = record["body"] | {k: v for k, v in body.items() if v is not None}
            _validate(kind, merged)
            self.store.put(
                key,
                record
                | {
                    "body": merged,
                    "LastUpdated": self.clock.time(),
                    "Version": record["Version"] + 1,
                },
            )

    def delete(self, account: str, region: str, name: str) -> None:
        if not self.store.delete(_key(account, region, name)):
            raise classifier_not_found(name)

    def get(self, account: str, region: str, name: str) -> Shape:
        record = self.store.get(_key(account, region, name))
        if record is None:
            raise classifier_not_found(name)
        return _shape(record)

    def list(self, account: str, region: str) -> list[Shape]:
        prefix = _key(account, region, "")
        out: list[Shape] = []
        after: str | None = None
        while True:
            page = self.store.list(prefix, start_after=after, limit=500)
            out += [_shape(record) for _, record in page.items]
            if page.next_after is None:
                return out
            after = page.next_after

    def rules(
        self, account: str, region: str, names: list[str]
    ) -> tuple[list[CustomRule], list[str]]:
        """The rules for a crawler's classifier names, in order, and the names not found."""
        rules: list[CustomRule] = []
        missing: list[str] = []
        for name in names:
            record = self.store.get(_key(account, region, name))
            if record is None:
                missing.append(name)
            else:
                rules.append(_rule(name, record))
        return rules, missing


def _shape(record: Shape) -> Shape:
    """The Classifier union shape GetClassifier answers."""
    body = dict(record["body"])
    body["CreationTime"] = datetime.fromtimestamp(record["CreationTime"], UTC)
    body["LastUpdated"] = datetime.fromtimestamp(record["LastUpdated"], UTC)
    body["Version"] = record["Version"]
    if record["kind"] == "CsvClassifier":
        body = {
            k: v
            for k, v in body.items()
            if k in ("Name", "CreationTime", "LastUpdated", "Version", *_CSV_FIELDS)
        }
    return {record["kind"]: body}


def _rule(name: str, record: Shape) -> CustomRule:
    body = record["body"]
    if record["kind"] == "JsonClassifier":
        return JsonOptions(json_path=body["JsonPath"], classifier=name)
    serde = body.get("Serde")
    return CsvOptions(
        delimiter=body.get("Delimiter") or ",",
        quote=body.get("QuoteSymbol") or '"',
        contains_header=body.get("ContainsHeader") or "UNKNOWN",
        header=tuple(body.get("Header") or ()),
        allow_single_column=bool(body.get("AllowSingleColumn")),
        # AWS: DisableValueTrimming defaults to true for custom CSV classifiers.
        trim=not body.get("DisableValueTrimming", True),
        serde=serde if serde in ("OpenCSVSerDe", "LazySimpleSerDe") else None,
        classifier=name,
    )
