"""Settings, read once at start-up from arguments and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Settings:
    """How this tule instance runs.

    `fsync` makes every acknowledged write survive power loss (group-committed); turning it off
    trades that for speed in throwaway setups. `keys` maps access key ids to secret keys when
    SigV4 authentication is on.
    """

    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = field(default_factory=lambda: Path(".tule"))
    auth: bool = False
    keys: dict[str, str] = field(default_factory=dict)
    fsync: bool = True
    account_id: str = DEFAULT_ACCOUNT_ID
    default_region: str = DEFAULT_REGION
    lifecycle_interval_s: float = 60.0
    # Kinesis per-shard throughput limits (1 MiB/s and 1,000 records/s in, 2 MiB/s and 5 calls/s
    # out); off for bulk loads.
    kinesis_throughput_limits: bool = True
    # How often background engines (Firehose buffer intervals, ...) look at the clock.
    tick_interval_s: float = 1.0

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


def data_dir_from_env(default: str = ".tule") -> Path:
    """`TULE_DATA_DIR` if set, else the default."""
    return Path(os.environ.get("TULE_DATA_DIR", default))


def load_keys(keys_file: Path | None) -> dict[str, str]:
    """Access keys for `--auth`: lines `ACCESS_KEY_ID SECRET` (or `id:secret`) in a file, plus
    `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` and `TULE_ACCESS_KEYS` (`id:secret,id:secret`)."""
    keys: dict[str, str] = {}
    if keys_file is not None:
        for raw in keys_file.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.replace(":", " ", 1).split()
            if len(parts) == 2:
                keys[parts[0]] = parts[1]
    env_id, env_secret = (
        os.environ.get("AWS_ACCESS_KEY_ID"),
        os.environ.get("AWS_SECRET_ACCESS_KEY"),
    )
    if env_id and env_secret:
        keys.setdefault(env_id, env_secret)
    for pair in filter(None, os.environ.get("TULE_ACCESS_KEYS", "").split(",")):
        key_id, _, secret = pair.partition(":")
        if key_id and secret:
            keys[key_id.strip()] = secret.strip()
    return keys
