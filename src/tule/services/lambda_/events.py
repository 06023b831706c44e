"""Asynchronous (Event) invocations: accepted durably, then run in the background.

Invoke with InvocationType=Event answers 202 once the event is queued. Here it is queued as a
record in the function catalog's store (`event/<time ns>-<uuid>`) before the 202 goes out, and
the record is removed only after the event has run, so an accepted event survives a restart and
runs when the server is back (at least once: an event interrupted by a crash runs again, as
Lambda's own delivery is at least once). Events run on a few background threads, oldest first.

Not done: Lambda retries an event whose function fails twice more (after about 1 and 2
minutes) and can send it to a dead-letter queue or a destination; here a failed event is
logged in the function's log stream like any other run, and dropped.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from tule.metadata import MetadataStore
from tule.services.lambda_.invocation import Interrupted

log = logging.getLogger("tule.lambda")

_PREFIX = "event/"
DEFAULT_THREADS = 2


@dataclass(frozen=True)
class QueuedEvent:
    """An accepted Event invocation."""

    account: str
    region: str
    function_name: str
    qualifier: str | None
    payload: bytes
    request_id: str

    def to_record(self) -> dict:
        return {
            "account": self.account,
            "region": self.region,
            "function_name": self.function_name,
            "qualifier": self.qualifier,
            "payload": base64.b64encode(self.payload).decode(),
            "request_id": self.request_id,
        }

    @classmethod
    def from_record(cls, record: dict) -> QueuedEvent:
        return cls(
            record["account"],
            record["region"],
            record["function_name"],
            record.get("qualifier"),
            base64.b64decode(record["payload"]),
            record["request_id"],
        )


class EventQueue:
    """Runs queued events with `run(event)` on background threads."""

    def __init__(
        self,
        store: MetadataStore,
        run: Callable[[QueuedEvent], None],
        *,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        self._store = store
        self._run = run
        self._queue: queue.Queue[tuple[str, QueuedEvent] | None] = queue.Queue()
        self._closing = threading.Event()
        self._pending = 0
        self._idle = threading.Condition()
        for key in self._store.list_keys(_PREFIX, limit=10**9):
            record = self._store.get(key)
            if record is not None:
                self._enqueue(key, QueuedEvent.from_record(record))
        self._threads = [
            threading.Thread(target=self._work, name=f"lambda-events-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, event: QueuedEvent) -> None:
        """Queue an event durably; returns once it is stored."""
        key = f"{_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex}"
        self._store.put(key, event.to_record())
        self._enqueue(key, event)

    def _enqueue(self, key: str, event: QueuedEvent) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put((key, event))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has run; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._closing.is_set():
                return
            key, event = item
            try:
                self._run(event)
            except Interrupted:
                return  # the server is closing: the record stays, the event runs after restart
            except Exception:
                log.exception("event %s for %s failed", event.request_id, event.function_name)
            self._store.delete(key)
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def stop(self) -> None:
        """Stop taking events; events not yet run stay stored and run after a restart."""
        self._closing.set()
        for _ in self._threads:
            self._queue.put(None)

    def join(self, timeout: float = 10.0) -> None:
        """Wait for the threads to finish what they run (after `stop`)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
