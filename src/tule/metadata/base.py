"""The metadata-store plug point: the interface every record store implements.

Keys are strings ordered by their UTF-8 bytes (as S3 orders keys); values are JSON-serializable
dicts. Every write is atomic; a write that returns is durable when the store was opened with
fsync on. Concurrent writers are group-committed, so they share the cost of a disk flush.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a prefix listing: `items` in key order, and the key to resume after."""

    items: list[tuple[str, Record]]
    next_after: str | None


@dataclass(frozen=True)
class Put:
    """A write inside `batch`."""

    key: str
    value: Record


@dataclass(frozen=True)
class Delete:
    """A removal inside `batch`."""

    key: str


class MetadataStore(ABC):
    """A durable, ordered map from string keys to JSON records."""

    # Goes up after every commit, before its writers return: two equal readings mean nothing
    # was written in between (what a cache of derived values checks). Counts from 0 per open.
    generation: int = 0

    @abstractmethod
    def get(self, key: str) -> Record | None:
        """The record at `key`, or None."""

    @abstractmethod
    def put(self, key: str, value: Record) -> None:
        """Write `value` at `key`, replacing any record there."""

    @abstractmethod
    def compare_and_set(self, key: str, expected: Record | None, new: Record | None) -> bool:
        """Atomically replace the record at `key` with `new` if it equals `expected`.

        `expected=None` means the key must be absent; `new=None` deletes. Returns whether it
        happened."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove `key`; returns whether it existed."""

    @abstractmethod
    def batch(self, ops: list[Put | Delete]) -> None:
        """Apply several writes as one atomic, durable commit."""

    @abstractmethod
    def list(self, prefix: str, *, start_after: str | None = None, limit: int = 1000) -> Page:
        """Records whose keys start with `prefix`, strictly after `start_after`, at most `limit`."""

    def list_keys(
        self, prefix: str, *, start_after: str | None = None, limit: int = 1000
    ) -> list[str]:
        """The keys `list` would return, without their records (stores that can skip reading
        the values override this: a sweep over large records then stays cheap)."""
        return [key for key, _ in self.list(prefix, start_after=start_after, limit=limit).items]

    def close(self) -> None:  # noqa: B027 - optional for stores without resources
        """Release resources."""
