"""A MetadataStore held in process memory, with the same semantics as the SQLite store.

Records are kept as their JSON text: that rejects what SQLite would reject, and decoding on
every read hands each caller a fresh copy it may mutate freely.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort

from tule.metadata.base import Delete, MetadataStore, Page, Put, Record
from tule.metadata.codec import decode, encode


def _check_key(key: str) -> str:
    # A key must have a UTF-8 form to have a place in the order (lone surrogates do not).
    key.encode("utf-8")
    return key


class MemoryStore(MetadataStore):
    """Records in a dict, with a sorted key list for listings; one lock guards both."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        # Python orders str by code point, which is the UTF-8 byte order the interface promises.
        self._keys: list[str] = []
        self._lock = threading.Lock()

    def get(self, key: str) -> Record | None:
        with self._lock:
            text = self._values.get(key)
        return None if text is None else decode(text)

    def put(self, key: str, value: Record) -> None:
        text = encode(value)
        with self._lock:
            self._store(_check_key(key), text)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._remove(key)

    def compare_and_set(self, key: str, expected: Record | None, new: Record | None) -> bool:
        # Round-trip `expected` so it compares the way a stored record decodes (tuples as lists).
        want = None if expected is None else decode(encode(expected))
        new_text = None if new is None else encode(new)
        _check_key(key)
        with self._lock:
            text = self._values.get(key)
            if (None if text is None else decode(text)) != want:
                return False
            if new_text is None:
                self._remove(key)
            else:
                self._store(key, new_text)
            return True

    def batch(self, ops: list[Put | Delete]) -> None:
        # Validate and encode everything first, so the batch fails before it changes anything.
        steps = [
            (_check_key(op.key), encode(op.value) if isinstance(op, Put) else None) for op in ops
        ]
        with self._lock:
            for key, text in steps:
                if text is None:
                    self._remove(key)
                else:
                    self._store(key, text)

    def list(self, prefix: str, *, start_after: str | None = None, limit: int = 1000) -> Page:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        with self._lock:
            keys = self._keys
            index = bisect_left(keys, prefix)
            if start_after is not None:
                index = max(index, bisect_right(keys, start_after))
            items: list[tuple[str, str]] = []
            while index < len(keys) and len(items) < limit and keys[index].startswith(prefix):
                items.append((keys[index], self._values[keys[index]]))
                index += 1
            more = bool(items) and index < len(keys) and keys[index].startswith(prefix)
        return Page(
            items=[(key, decode(text)) for key, text in items],
            next_after=items[-1][0] if more else None,
        )

    # Helpers; the caller holds the lock.

    def _store(self, key: str, text: str) -> None:
        if key not in self._values:
            insort(self._keys, key)
        self._values[key] = text
        self.generation += 1

    def _remove(self, key: str) -> bool:
        if self._values.pop(key, None) is None:
            return False
        del self._keys[bisect_left(self._keys, key)]
        self.generation += 1
        return True
