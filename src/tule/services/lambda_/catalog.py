"""The durable records of functions and their published versions, scoped by (account, region).

In the MetadataStore `lambda.db`: `fn/<account>/<region>/<name>` holds a function (its
`$LATEST` configuration, its tags and the number of its last published version) and
`ver/<account>/<region>/<name>/<version, zero-padded>` each published version's configuration,
so a listing returns versions in numeric order. Writers hold the domain's lock; readers don't.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from tule.metadata import MetadataStore
from tule.metadata.base import Delete, Put
from tule.services.lambda_.models import FunctionConfig

_PAGE = 1000


@dataclass(frozen=True)
class FunctionEntry:
    """A function: `$LATEST`, tags, and its last published version number (0: none yet)."""

    latest: FunctionConfig
    tags: dict[str, str] = field(default_factory=dict)
    last_version: int = 0

    def to_record(self) -> dict[str, Any]:
        return {
            "latest": self.latest.to_record(),
            "tags": dict(self.tags),
            "last_version": self.last_version,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FunctionEntry:
        return cls(
            FunctionConfig.from_record(record["latest"]),
            dict(record.get("tags", {})),
            int(record.get("last_version", 0)),
        )


def _fn_key(account: str, region: str, name: str) -> str:
    return f"fn/{account}/{region}/{name}"


def _version_prefix(account: str, region: str, name: str) -> str:
    return f"ver/{account}/{region}/{name}/"


def _version_key(account: str, region: str, name: str, version: str) -> str:
    return f"{_version_prefix(account, region, name)}{int(version):010d}"


class Catalog:
    """Functions and versions in a MetadataStore."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def get(self, account: str, region: str, name: str) -> FunctionEntry | None:
        record = self.store.get(_fn_key(account, region, name))
        return None if record is None else FunctionEntry.from_record(record)

    def create(self, entry: FunctionEntry) -> bool:
        """Store a new function; False if one of that name exists."""
        key = _fn_key(entry.latest.account, entry.latest.region, entry.latest.name)
        return self.store.compare_and_set(key, None, entry.to_record())

    def put(self, entry: FunctionEntry) -> None:
        key = _fn_key(entry.latest.account, entry.latest.region, entry.latest.name)
        self.store.put(key, entry.to_record())

    def publish(self, entry: FunctionEntry, version: FunctionConfig) -> FunctionEntry:
        """Store a new published version and the function's new last version, atomically."""
        updated = replace(entry, last_version=int(version.version))
        latest = entry.latest
        self.store.batch(
            [
                Put(_fn_key(latest.account, latest.region, latest.name), updated.to_record()),
                Put(
                    _version_key(latest.account, latest.region, latest.name, version.version),
                    version.to_record(),
                ),
            ]
        )
        return updated

    def delete(self, account: str, region: str, name: str) -> None:
        """Remove a function and every version of it, atomically."""
        ops: list[Put | Delete] = [Delete(_fn_key(account, region, name))]
        ops += [
            Delete(key)
            for key in self.store.list_keys(_version_prefix(account, region, name), limit=10**9)
        ]
        self.store.batch(ops)

    def get_version(
        self, account: str, region: str, name: str, version: str
    ) -> FunctionConfig | None:
        if not version.isdigit():
            return None
        record = self.store.get(_version_key(account, region, name, version))
        return None if record is None else FunctionConfig.from_record(record)

    def delete_version(self, account: str, region: str, name: str, version: str) -> bool:
        return self.store.delete(_version_key(account, region, name, version))

    def versions(self, account: str, region: str, name: str) -> Iterator[FunctionConfig]:
        """Published versions, oldest first."""
        prefix = _version_prefix(account, region, name)
        after: str | None = None
        while True:
            page = self.store.list(prefix, start_after=after, limit=_PAGE)
            for _, record in page.items:
                yield FunctionConfig.from_record(record)
            if page.next_after is None:
                return
            after = page.next_after

    def functions(
        self, account: str, region: str, *, after_name: str | None = None
    ) -> Iterator[FunctionEntry]:
        """Functions in name order, after `after_name` if given."""
        prefix = f"fn/{account}/{region}/"
        after = None if after_name is None else prefix + after_name
        while True:
            page = self.store.list(prefix, start_after=after, limit=_PAGE)
            for _, record in page.items:
                yield FunctionEntry.from_record(record)
            if page.next_after is None:
                return
            after = page.next_after

    def all_code(self) -> set[str]:
        """The hex digest of every package a function or version refers to."""
        found: set[str] = set()
        for prefix, latest in (("fn/", True), ("ver/", False)):
            after: str | None = None
            while True:
                page = self.store.list(prefix, start_after=after, limit=_PAGE)
                for _, record in page.items:
                    config = FunctionConfig.from_record(record["latest"] if latest else record)
                    found.add(config.code_hex)
                if page.next_after is None:
                    break
                after = page.next_after
        return found
