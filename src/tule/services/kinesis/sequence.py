"""Sequence numbers: increasing, unique decimal strings that encode their shard (spec §6.2).

The layout follows kinesalite's reverse-engineering of AWS's: the hex digits

    2 | shard created (9, epoch s) | shard index (1, low nibble) | counter (16) | 00 |
    arrival (9, epoch s) | shard index (8) | 2

printed as a decimal integer of about 56 digits, like AWS's. The counter is more significant
than the arrival time, so within a shard the numbers grow with the counter alone; the shard index
makes them unique across a stream and lets a number used on the wrong shard be refused.

The counter of the record at log position p is p + 1; counter 0 is the shard's
`StartingSequenceNumber` (before its first record) and the largest counter its
`EndingSequenceNumber` once closed (after its last).
"""

from __future__ import annotations

from dataclasses import dataclass

from tule.services.kinesis.errors import invalid_argument

MAX_COUNTER = (1 << 64) - 1
_TAG = 2
_MASK36 = (1 << 36) - 1
_MASK32 = (1 << 32) - 1


def base(shard_created: float, shard_index: int, arrival: float) -> int:
    """Every bit of a sequence number but the counter's."""
    return (
        (_TAG << 184)
        | ((int(shard_created) & _MASK36) << 148)
        | ((shard_index & 0xF) << 144)
        | ((int(arrival) & _MASK36) << 36)
        | ((shard_index & _MASK32) << 4)
        | _TAG
    )


def of(base_value: int, position: int) -> str:
    """The sequence number of the record at log `position`, given the `base` it arrived with."""
    return str(base_value | ((position + 1) << 80))


def starting(shard_created: float, shard_index: int) -> str:
    return str(base(shard_created, shard_index, shard_created))


def ending(shard_created: float, shard_index: int, closed: float) -> str:
    return str(base(shard_created, shard_index, closed) | (MAX_COUNTER << 80))


@dataclass(frozen=True)
class Decoded:
    shard_index: int
    shard_created: int
    counter: int

    @property
    def position(self) -> int:
        """The log position this number names (the counter's record); -1 for a start."""
        return self.counter - 1


def decode(text: str, *, what: str = "StartingSequenceNumber") -> Decoded:
    """The parts of a sequence number; InvalidArgumentException if it is not one of ours."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0 or value >> 184 != _TAG or value & 0xF != _TAG:
        raise invalid_argument(f"Invalid {what}. Sequence number {text} is malformed.")
    return Decoded(
        shard_index=(value >> 4) & _MASK32,
        shard_created=(value >> 148) & _MASK36,
        counter=(value >> 80) & MAX_COUNTER,
    )
