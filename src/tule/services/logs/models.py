"""The CloudWatch Logs nouns as plain values: log groups, log streams, their stats, log events.

Every time here is an int of milliseconds since the epoch, the unit the Logs API uses throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tule import ids
from tule.services.logs.errors import invalid_parameter

# The retention periods PutRetentionPolicy accepts (the API's documented enum of days).
RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

DAY_MS = 86_400_000

Position = tuple[int, int]  # (timestamp, seq): where an event sits in the total event order


def group_name_from_identifier(identifier: str) -> str:
    """The group a `logGroupIdentifier` names: a name, or an ARN
    `arn:aws:logs:<region>:<account>:log-group:<name>` (a trailing ":*" is tolerated)."""
    if not identifier.startswith("arn:"):
        return identifier
    _, sep, rest = identifier.partition(":log-group:")
    if not sep or not rest:
        raise invalid_parameter(f"Invalid logGroupIdentifier: {identifier}")
    return rest.removesuffix(":*")


@dataclass(frozen=True)
class LogGroup:
    """A log group. `uid` tells this group apart from an earlier one of the same name."""

    account: str
    region: str
    name: str
    uid: str
    creation_time: int
    retention_in_days: int | None = None
    kms_key_id: str | None = None
    log_group_class: str = "STANDARD"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        # DescribeLogGroups' `arn` carries a trailing ":*"; `logGroupArn` is the bare ARN.
        return f"{self.group_arn}:*"

    @property
    def group_arn(self) -> str:
        return ids.arn("logs", self.region, self.account, f"log-group:{self.name}")

    def retention_floor(self, now_ms: int) -> int | None:
        """The oldest timestamp retention still keeps, or None when events never expire."""
        if self.retention_in_days is None:
            return None
        return now_ms - self.retention_in_days * DAY_MS


@dataclass(frozen=True)
class LogStream:
    """A log stream. Its events are stored under `uid`, never under its name, so a stream
    deleted and created again starts empty, as in AWS."""

    account: str
    region: str
    group: str
    name: str
    uid: str
    group_uid: str
    creation_time: int

    @property
    def arn(self) -> str:
        return ids.arn(
            "logs", self.region, self.account, f"log-group:{self.group}:log-stream:{self.name}"
        )


@dataclass(frozen=True)
class StreamStats:
    """What ingestion has recorded about a stream's events."""

    first_event_timestamp: int | None = None
    last_event_timestamp: int | None = None
    last_ingestion_time: int | None = None
    stored_bytes: int = 0
    upload_sequence_token: str | None = None


@dataclass(frozen=True)
class LogEvent:
    """A stored event. `seq` is the store-wide insertion number: (timestamp, seq) orders events
    totally, across streams too, which is what paging tokens point at."""

    timestamp: int
    seq: int
    ingestion_time: int
    message: str
    stream_uid: str = ""

    @property
    def position(self) -> Position:
        return (self.timestamp, self.seq)

    @property
    def event_id(self) -> str:
        # AWS event ids are 56-digit decimal strings; this one is unique and sorts like the event.
        return f"{self.timestamp:020d}{self.seq:036d}"


@dataclass(frozen=True)
class RejectedInfo:
    """PutLogEvents' `rejectedLogEventsInfo`: index bounds of the events it did not store."""

    too_new_start: int | None = None
    too_old_end: int | None = None
    expired_end: int | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.too_new_start, self.too_old_end, self.expired_end))
