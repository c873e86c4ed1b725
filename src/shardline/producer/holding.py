"""Holding acknowledged records until they are known to be replicated (RPO 0).

Why: with asynchronous replication, a record the primary acknowledged is lost for
the standby if the primary fails before the replicator copied it. So a producer
told to (:meth:`Holds.hold_acknowledged_by`) keeps the records such a destination
stores, in its spool, instead of deleting them on acknowledgement. Each held record
then leaves by exactly one of three ways:

1. *Replicated:* :meth:`Holds.release` drops those at or below their shard's
   replication watermark; the producer deletes their spool rows.
2. *Another destination:* after a switch, :meth:`Holds.take_not_from` hands back
   every record a destination other than the new one acknowledged, to be sent again.
3. *Sent before a replication run began:* :meth:`Holds.take_sent_before` hands
   back records whose call was sent before the run's start timestamp; the run only
   copies what arrived after it, so its watermarks would pass them uncopied.

Records sent again may be stored twice (same record id); idempotent sinks absorb
that. This module only keeps the books: the producer deletes spool rows and puts
records back into its buffer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shardline.producer.destination import Destination
from shardline.producer.records import PendingRecord


@dataclass(frozen=True, slots=True)
class Held:
    """A record a region acknowledged that is kept until it is known to be replicated."""

    record: PendingRecord
    destination: Destination
    shard_id: str
    sequence: int
    #: Wall-clock time the acknowledging call was sent: the record arrived after it.
    sent_at: float


class Holds:
    """Which destinations' acknowledgements are held, and the records held, by seq."""

    def __init__(self) -> None:
        self._holding: frozenset[Destination] = frozenset()
        self._held: dict[int, Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def hold_acknowledged_by(self, destinations: Iterable[Destination]) -> None:
        """Hold what these destinations acknowledge from now on (replacing the set).

        The set applies to calls as they *settle*, whenever they were sent. Narrowing
        it releases nothing already held.
        """
        self._holding = frozenset(destinations)

    def hold(
        self,
        records: Iterable[PendingRecord],
        destination: Destination,
        shard_id: str,
        sequence_number: str,
        sent_at: float,
    ) -> bool:
        """Hold records ``destination`` stored at ``sequence_number`` on ``shard_id``.

        Returns False, holding nothing, when that destination's acknowledgements are
        not held (the caller then acknowledges the records).
        """
        if destination not in self._holding:
            return False
        sequence = int(sequence_number)
        for record in records:
            self._held[record.seq] = Held(record, destination, shard_id, sequence, sent_at)
        return True

    def release(self, destination: Destination, watermarks: Mapping[str, str]) -> list[int]:
        """Drop records of ``destination`` at or below their shard's watermark (way 1).

        ``watermarks`` maps shard id to the newest sequence number the replicator
        copied from that shard. Returns the released records' seqs.
        """
        marks = {shard: int(sequence) for shard, sequence in watermarks.items()}
        released = [
            seq
            for seq, held in self._held.items()
            if held.destination == destination and held.sequence <= marks.get(held.shard_id, -1)
        ]
        for seq in released:
            del self._held[seq]
        return released

    def take_not_from(self, destination: Destination) -> list[PendingRecord]:
        """Stop holding, and return, records another destination acknowledged (way 2)."""
        return self._take([h for h in self._held.values() if h.destination != destination])

    def take_sent_before(self, sent_before: float) -> list[PendingRecord]:
        """Stop holding, and return, records whose call was sent before ``sent_before``
        (wall clock; way 3)."""
        return self._take([h for h in self._held.values() if h.sent_at < sent_before])

    def _take(self, taken: list[Held]) -> list[PendingRecord]:
        for held in taken:
            del self._held[held.record.seq]
        return [held.record for held in taken]
