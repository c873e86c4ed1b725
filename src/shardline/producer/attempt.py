"""One try at storing a record, as its outcome and its errors report it.

A module of its own, below both :mod:`~shardline.producer.records` (outcomes carry
attempts) and :mod:`~shardline.producer.exceptions` (a record given up carries
them), so that neither imports the other around a loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from shardline.producer.destination import Destination


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at storing a record: one PutRecords call it travelled in.

    ``ambiguous`` marks a try whose outcome is unknown (the call timed out or the
    connection broke after the request was sent): the record may be stored by that
    try *and* by a later one, so it can appear twice downstream.
    """

    destination: Destination
    #: Wall-clock start (seconds since the epoch), for people reading the history.
    started: float
    duration_s: float
    shard_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    ambiguous: bool = False

    @property
    def succeeded(self) -> bool:
        return self.error_code is None
