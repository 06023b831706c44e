"""The registry of SubscribeToShard subscriptions: one running subscription per consumer and
shard, AWS's 5-second rule between subscribing again, and the wake-ups puts send.

Each running subscription watches its shard's log; `notify(logs)` (called by the domain once a
put's records are visible) wakes the subscriptions watching those logs, so an event leaves as
soon as a record is readable rather than at the next poll. With no subscription running it
costs a put one truth test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from tule.clock import Clock
from tule.services.kinesis.errors import in_use
from tule.services.kinesis.subscription import POLL_S, RESUBSCRIBE_S, Subscription
from tule.storage.shard_log import ShardLog


class Subscriptions:
    """The running subscriptions and when each consumer last subscribed to each shard."""

    def __init__(self, clock: Clock, *, poll_s: float = POLL_S) -> None:
        self.clock = clock
        # Real seconds between a subscription's looks at its log when no put wakes it.
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], Subscription] = {}
        self._last_start: dict[tuple[str, str], float] = {}
        self._watching: dict[ShardLog, list[Subscription]] = {}
        self._closed = False

    def _too_soon(self, key: tuple[str, str], now: float) -> None:
        """ResourceInUseException if this consumer subscribed to this shard in the last 5 s
        (caller holds the lock)."""
        last = self._last_start.get(key)
        if last is not None and now - last < RESUBSCRIBE_S:
            raise in_use(
                f"Another active subscription exists for consumer {key[0]} on shard {key[1]}. "
                f"Subscribe again at least {int(RESUBSCRIBE_S)} seconds after the last "
                "successful SubscribeToShard."
            )

    def admit(self, consumer_arn: str, shard_id: str) -> None:
        """Raise what `begin` would refuse now (for DryRun)."""
        with self._lock:
            self._too_soon((consumer_arn, shard_id), self.clock.time())

    def begin(self, sub: Subscription) -> None:
        """Run `sub`, ending the one it replaces (one subscription per consumer and shard)."""
        with self._lock:
            self._too_soon(sub.key, sub.started)
            old = self._running.get(sub.key)
            self._running[sub.key] = sub
            stale = [k for k, t in self._last_start.items() if sub.started - t >= RESUBSCRIBE_S]
            for key in stale:
                del self._last_start[key]
            self._last_start[sub.key] = sub.started
            if self._closed:
                sub.end()
        if old is not None:
            old.end()

    def watch(self, sub: Subscription) -> None:
        """Wake `sub` when records are put to its shard (until `finish`)."""
        with self._lock:
            self._watching.setdefault(sub.log, []).append(sub)

    def notify(self, logs: Iterable[ShardLog]) -> None:
        """Records were made visible in `logs` (from any thread): wake their subscriptions."""
        if not self._watching:  # nobody subscribed: a put pays only this test
            return
        with self._lock:
            woken = [sub for log in logs for sub in self._watching.get(log, ())]
        for sub in woken:
            sub.wake()

    def finish(self, sub: Subscription) -> None:
        with self._lock:
            if self._running.get(sub.key) is sub:
                del self._running[sub.key]
            watchers = self._watching.get(sub.log)
            if watchers is not None and sub in watchers:
                watchers.remove(sub)
                if not watchers:
                    del self._watching[sub.log]

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            subs = list(self._running.values())
        for sub in subs:
            sub.end()
