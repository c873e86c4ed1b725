"""What a record processor receives."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shardline.consumer.positions import Position


@dataclass(frozen=True)
class ConsumerRecord:
    """One user record (de-aggregated if it came inside a KPL aggregate)."""

    sequence_number: str
    sub_sequence_number: int
    partition_key: str
    data: bytes
    approximate_arrival_timestamp: dt.datetime
    explicit_hash_key: str | None = None
    aggregated: bool = False
    #: The region the record was first written to, when a replicator copied it here
    #: (see :mod:`shardline.framing.origin`); None for records written here.
    origin_region: str | None = None

    @property
    def position(self) -> Position:
        return Position(self.sequence_number, self.sub_sequence_number)
