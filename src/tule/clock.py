"""The injectable clock: every module asks it for the time, so tests can move time forward."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time (UTC)."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; starts at the wall-clock time unless given one."""

    def __init__(self, start: float | None = None) -> None:
        self._t = time.time() if start is None else start
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float = 0.0, *, days: float = 0.0) -> None:
        with self._lock:
            self._t += seconds + timedelta(days=days).total_seconds()
