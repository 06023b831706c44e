"""What every service package provides, and what it is given when the server starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tule.clock import Clock
from tule.config import Settings


@dataclass(frozen=True)
class ServiceEnv:
    """What a service's domain object is built from: settings, the clock, and its own folder."""

    settings: Settings
    clock: Clock
    data_dir: Path

    @property
    def fsync(self) -> bool:
        return self.settings.fsync
