"""A kind of SageMaker resource kept as records: get, create once, update, delete, list.

Models, endpoint configurations, endpoints, transform and processing jobs are each a record in
the domain's metadata store, shaped as their Describe call answers (epoch seconds for times),
keyed `<kind>/<account>/<region>/<name>`, with an ARN index `<kind>-arn/<arn>` so tag calls can
find them by ARN.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tule.metadata.base import MetadataStore
from tule.services.sagemaker.arns import resource_arn

Record = dict[str, Any]


class Records:
    """The records of one resource kind (`model`, `endpoint-config`, `endpoint`, ...)."""

    def __init__(
        self, store: MetadataStore, kind: str, not_found: Callable[[str, str, str], Exception]
    ) -> None:
        self.store = store
        self.kind = kind
        self._not_found = not_found
        self._lock = threading.Lock()

    def key(self, account: str, region: str, name: str) -> str:
        return f"{self.kind}/{account}/{region}/{name}"

    def arn(self, account: str, region: str, name: str) -> str:
        return resource_arn(region, account, self.kind, name)

    def find(self, account: str, region: str, name: str) -> Record | None:
        return self.store.get(self.key(account, region, name))

    def get(self, account: str, region: str, name: str) -> Record:
        record = self.find(account, region, name)
        if record is None:
            raise self._not_found(account, region, name)
        return record

    def create(self, account: str, region: str, name: str, record: Record) -> bool:
        """Store a new record; False when one with this name exists."""
        if not self.store.compare_and_set(self.key(account, region, name), None, record):
            return False
        self.store.put(f"{self.kind}-arn/{self.arn(account, region, name)}", {"Name": name})
        return True

    def update(
        self, account: str, region: str, name: str, change: Callable[[Record], None]
    ) -> Record:
        """Apply `change` to the stored record (one writer at a time) and store it."""
        key = self.key(account, region, name)
        with self._lock:
            record = self.store.get(key)
            if record is None:
                raise self._not_found(account, region, name)
            change(record)
            self.store.put(key, record)
            return record

    def delete(self, account: str, region: str, name: str) -> None:
        self.store.delete(self.key(account, region, name))
        self.store.delete(f"{self.kind}-arn/{self.arn(account, region, name)}")

    def exists_arn(self, arn: str) -> bool:
        return self.store.get(f"{self.kind}-arn/{arn}") is not None

    def all(self, account: str, region: str) -> list[Record]:
        return [record for _, record in self.items(f"{self.kind}/{account}/{region}/")]

    def every(self) -> list[tuple[str, Record]]:
        """(key, record) of every account and region (start-up recovery)."""
        return self.items(f"{self.kind}/")

    def items(self, prefix: str) -> list[tuple[str, Record]]:
        out: list[tuple[str, Record]] = []
        after = None
        while True:
            page = self.store.list(prefix, start_after=after)
            out.extend(page.items)
            if page.next_after is None:
                return out
            after = page.next_after
