"""Training metrics: MetricDefinitions' regexes run over a job's log lines (specs §2.4).

Each line is matched as CloudWatch shows it (a TAB rendered `#011`, which the built-in
algorithms' regexes expect); the first capture group's leading number is the value, because
the images' `(\\S+)` captures run on past a `#011` separator (`0.5#011validation-rmse:...`).
Every value is kept in a time series; FinalMetricDataList is the last value of each metric.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_LEADING_NUMBER = re.compile(
    r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)", re.IGNORECASE
)

# DescribeTrainingJob returns at most 40 entries in FinalMetricDataList (API model).
MAX_FINAL_METRICS = 40


def render(line: str) -> str:
    """A log line as CloudWatch Logs shows it."""
    return line.replace("\t", "#011")


def leading_number(text: str) -> float | None:
    m = _LEADING_NUMBER.match(text.strip())
    if not m:
        return None
    try:
        return float(m.group(0))
    except ValueError:
        return None


@dataclass
class MetricSeries:
    """Every metric value seen in one job, in order: (name, value, timestamp)."""

    definitions: list[tuple[str, re.Pattern[str]]]
    points: list[tuple[str, float, float]] = field(default_factory=list)

    @classmethod
    def compile(cls, definitions: list[dict[str, str]]) -> MetricSeries:
        """From `[{Name, Regex}]`; a regex that does not compile is skipped (AWS validates
        them at create time, so only ours could be bad)."""
        compiled = []
        for d in definitions:
            try:
                compiled.append((d["Name"], re.compile(d["Regex"])))
            except (re.error, KeyError):
                continue
        return cls(compiled)

    def feed(self, line: str, timestamp: float) -> None:
        rendered = render(line)
        for name, pattern in self.definitions:
            m = pattern.search(rendered)
            if not m:
                continue
            raw = m.group(1) if m.groups() else m.group(0)
            value = leading_number(raw or "")
            if value is not None and not math.isnan(value):
                self.points.append((name, value, timestamp))

    def final(self) -> list[dict[str, float | str]]:
        """The last value of each metric, in order of first appearance."""
        last: dict[str, tuple[float, float]] = {}
        for name, value, ts in self.points:
            last[name] = (value, ts)
        return [
            {"MetricName": name, "Value": value, "Timestamp": ts}
            for name, (value, ts) in list(last.items())[:MAX_FINAL_METRICS]
        ]
