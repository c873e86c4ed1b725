"""Positions in a shard: sequence numbers extended with sub-sequence numbers.

KCL order: ``AT_TIMESTAMP < TRIM_HORIZON < LATEST < every sequence number <
SHARD_END``; between two sequence numbers the numeric value decides, then the
sub-sequence number (the index of a user record inside a KPL aggregate).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, total_ordering

from shardline.stores.leases import AT_TIMESTAMP, LATEST, SHARD_END, TRIM_HORIZON

_SENTINEL_RANK = {AT_TIMESTAMP: 0, TRIM_HORIZON: 1, LATEST: 2, SHARD_END: 4}


@total_ordering
@dataclass(frozen=True)
class Position:
    """A checkpoint value: a sentinel or ``(sequence number, sub-sequence number)``."""

    sequence: str
    sub: int = 0

    @property
    def is_sentinel(self) -> bool:
        return self.sequence in _SENTINEL_RANK

    @cached_property
    def _key(self) -> tuple[int, int, int]:
        # Cached: a consumer compares every record's position with the last one it
        # delivered, and parsing a 56-digit sequence number each time was a large
        # share of its per-record cost.
        rank = _SENTINEL_RANK.get(self.sequence)
        if rank is not None:
            return (rank, 0, 0)
        return (3, int(self.sequence), self.sub)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Position):
            return NotImplemented
        return self._key < other._key

    def __str__(self) -> str:
        return self.sequence if self.is_sentinel or not self.sub else f"{self.sequence}.{self.sub}"


TRIM_HORIZON_POSITION = Position(TRIM_HORIZON)
LATEST_POSITION = Position(LATEST)
SHARD_END_POSITION = Position(SHARD_END)
