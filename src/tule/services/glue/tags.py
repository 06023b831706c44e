"""Tags of Glue resources, kept by ARN: TagResource, UntagResource, GetTags.

The store does not know which resources exist: `Glue` checks the ARN first (a database, a
table, or a kind another part of Glue registers, such as crawlers) and then reads or writes
here. Deleting a database or table deletes its tags with it.
"""

from __future__ import annotations

import threading

from tule.metadata import MetadataStore
from tule.services.glue import records


class TagStore:
    """Tags by resource ARN, durable in the catalog's MetadataStore."""

    def __init__(self, store: MetadataStore, lock: threading.Lock) -> None:
        self.store = store
        # The catalog's write lock: a read-modify-write of tags is one step against other
        # taggers and against the deletion of the resource.
        self._lock = lock

    def get(self, arn: str) -> dict[str, str]:
        return dict(self.store.get(records.tags_key(arn)) or {})

    def add(self, arn: str, tags: dict[str, str]) -> None:
        with self._lock:
            self.store.put(records.tags_key(arn), self.get(arn) | tags)

    def remove(self, arn: str, keys: list[str]) -> None:
        with self._lock:
            kept = {k: v for k, v in self.get(arn).items() if k not in set(keys)}
            if kept:
                self.store.put(records.tags_key(arn), kept)
            else:
                self.store.delete(records.tags_key(arn))

    def drop(self, arn: str) -> None:
        self.store.delete(records.tags_key(arn))
