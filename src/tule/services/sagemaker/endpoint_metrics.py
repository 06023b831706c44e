"""Per-variant invocation metrics of endpoints, by minute, as CloudWatch's AWS/SageMaker
namespace keeps them: Invocations, Invocation4XXErrors, Invocation5XXErrors, ModelLatency and
OverheadLatency (microseconds; sum, minimum, maximum per minute, so averages can be drawn).

They are kept in memory for the life of the server (the last `KEEP_MINUTES` minutes).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

KEEP_MINUTES = 24 * 60


@dataclass
class _Minute:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_sum: float = 0.0
    model_min: float = float("inf")
    model_max: float = 0.0
    overhead_sum: float = 0.0

    def add(self, status: int, model_us: float, overhead_us: float) -> None:
        self.invocations += 1
        if 400 <= status < 500:
            self.errors_4xx += 1
        elif status >= 500:
            self.errors_5xx += 1
        self.model_sum += model_us
        self.model_min = min(self.model_min, model_us)
        self.model_max = max(self.model_max, model_us)
        self.overhead_sum += overhead_us


class EndpointMetrics:
    """Invocation counts and latencies per (account, region, endpoint, variant, minute)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str, str], dict[int, _Minute]] = defaultdict(dict)
        self._lock = threading.Lock()

    def record(
        self,
        where: tuple[str, str, str, str],
        at: float,
        status: int,
        model_us: float,
        overhead_us: float,
    ) -> None:
        minute = int(at // 60)
        with self._lock:
            series = self._series[where]
            bucket = series.get(minute)
            if bucket is None:
                bucket = series[minute] = _Minute()
                for old in [m for m in series if m < minute - KEEP_MINUTES]:
                    del series[old]
            bucket.add(status, model_us, overhead_us)

    def series(self, account: str, region: str, endpoint: str) -> dict[str, list[dict[str, Any]]]:
        """Variant -> one point per minute with traffic, oldest first."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self._lock:
            for (a, r, e, variant), minutes in self._series.items():
                if (a, r, e) != (account, region, endpoint):
                    continue
                out[variant] = [
                    {
                        "Timestamp": minute * 60,
                        "Invocations": b.invocations,
                        "Invocation4XXErrors": b.errors_4xx,
                        "Invocation5XXErrors": b.errors_5xx,
                        "ModelLatency": {
                            "Sum": b.model_sum,
                            "Minimum": b.model_min,
                            "Maximum": b.model_max,
                        },
                        "OverheadLatency": {"Sum": b.overhead_sum},
                    }
                    for minute, b in sorted(minutes.items())
                ]
        return out

    def forget(self, account: str, region: str, endpoint: str) -> None:
        with self._lock:
            for key in [k for k in self._series if k[:3] == (account, region, endpoint)]:
                del self._series[key]
