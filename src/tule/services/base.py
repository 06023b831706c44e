"""What every service package provides, and what it is given when the server starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tule.clock import Clock
from tule.config import Settings


def _no_peers(name: str) -> Any:
    raise LookupError(f"service {name!r} is not available here")


@dataclass(frozen=True)
class ServiceEnv:
    """What a service's domain object is built from: settings, the clock, its own folder, and
    `peer(name)`, which hands out another service's domain object (Firehose writes to S3,
    SageMaker reads channels from S3 and writes job logs to CloudWatch Logs: in process,
    through that service's public API, never over HTTP). Peers are built in the order of the
    service table, so a service may only ask for those listed before it."""

    settings: Settings
    clock: Clock
    data_dir: Path
    peer: Callable[[str], Any] = field(default=_no_peers, compare=False)

    @property
    def fsync(self) -> bool:
        return self.settings.fsync
