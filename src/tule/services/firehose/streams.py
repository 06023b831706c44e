"""The delivery streams of every (account, region): their records, kept durable and in memory.

Records live in a MetadataStore (`firehose.db`) under `stream/<account>/<region>/<name>`; a
copy of each is held in memory, since the put path and the flusher look streams up all the
time. Every change writes the store first (compare-and-set) and then the copy, under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tule.metadata import MetadataStore
from tule.services.firehose.errors import limit_exceeded, stream_in_use, stream_not_found
from tule.services.firehose.models import DeliveryStream

# AWS's default quota of delivery streams per account and region.
MAX_STREAMS = 5000
MAX_TAGS = 50


def _key(account: str, region: str, name: str) -> str:
    return f"stream/{account}/{region}/{name}"


class StreamRegistry:
    """Create, read, change and remove delivery stream records."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self._lock = threading.RLock()
        self._streams: dict[tuple[str, str, str], DeliveryStream] = {}
        after: str | None = None
        while True:
            page = store.list("stream/", start_after=after)
            for _, record in page.items:
                stream = DeliveryStream.from_record(record)
                self._streams[(stream.account, stream.region, stream.name)] = stream
            if page.next_after is None:
                break
            after = page.next_after

    def find(self, account: str, region: str, name: str) -> DeliveryStream | None:
        with self._lock:
            return self._streams.get((account, region, name))

    def get(self, account: str, region: str, name: str) -> DeliveryStream:
        found = self.find(account, region, name)
        if found is None:
            raise stream_not_found(name, account)
        return found

    def all(self) -> list[DeliveryStream]:
        with self._lock:
            return list(self._streams.values())

    def by_uid(self, uid: str) -> DeliveryStream | None:
        with self._lock:
            for stream in self._streams.values():
                if stream.uid == uid:
                    return stream
        return None

    def names(self, account: str, region: str) -> list[DeliveryStream]:
        with self._lock:
            return sorted(
                (s for (a, r, _), s in self._streams.items() if a == account and r == region),
                key=lambda s: s.name,
            )

    def add(self, stream: DeliveryStream) -> None:
        with self._lock:
            if len(self.names(stream.account, stream.region)) >= MAX_STREAMS:
                raise limit_exceeded(
                    f"You have already reached the limit of {MAX_STREAMS} Firehose streams in "
                    f"{stream.region}."
                )
            key = _key(stream.account, stream.region, stream.name)
            if not self.store.compare_and_set(key, None, stream.to_record()):
                raise stream_in_use(stream.name, stream.account)
            self._streams[(stream.account, stream.region, stream.name)] = stream

    def change(
        self, account: str, region: str, name: str, fn: Callable[[DeliveryStream], DeliveryStream]
    ) -> DeliveryStream:
        """Apply `fn` to the stream's record (which may raise to refuse) and store the result."""
        with self._lock:
            current = self.get(account, region, name)
            new = fn(current)
            if len(new.tags) > MAX_TAGS:
                raise limit_exceeded(f"A Firehose stream can have at most {MAX_TAGS} tags.")
            key = _key(account, region, name)
            if not self.store.compare_and_set(key, current.to_record(), new.to_record()):
                raise stream_not_found(name, account)
            self._streams[(account, region, name)] = new
            return new

    def remove(self, stream: DeliveryStream) -> None:
        with self._lock:
            self.store.delete(_key(stream.account, stream.region, stream.name))
            self._streams.pop((stream.account, stream.region, stream.name), None)
