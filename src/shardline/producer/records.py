"""What goes into a producer and what comes back for each record."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shardline.framing.aggregation import hash_key_of
from shardline.producer.attempt import Attempt
from shardline.producer.destination import Destination
from shardline.producer.exceptions import ProducerError

if TYPE_CHECKING:
    from shardline.producer.spool import SpooledRecord


@dataclass(frozen=True, slots=True)
class Record:
    """One user record to put (see :meth:`shardline.producer.Producer.put_many`)."""

    data: bytes
    partition_key: str
    explicit_hash_key: str | None = None


@dataclass(frozen=True, slots=True)
class PutOutcome:
    """The final word on one record: stored (with its position) or given up.

    ``sub_sequence_number`` is the record's index inside the KPL aggregate it
    travelled in (None when it was sent on its own).
    """

    record_id: str
    succeeded: bool
    attempts: tuple[Attempt, ...]
    shard_id: str | None = None
    sequence_number: str | None = None
    sub_sequence_number: int | None = None
    destination: Destination | None = None
    error: ProducerError | None = None


@dataclass(slots=True, eq=False)
class PendingRecord:
    """A record the producer owns until its outcome is known (internal).

    ``seq`` orders records by put (the spool row id when spooling), so retried records
    go back in front of younger ones of the same shard.
    """

    seq: int
    record_id: str
    data: bytes
    partition_key: str
    explicit_hash_key: str | None
    hash_key: int
    #: Bytes Kinesis counts against its limits: data + UTF-8 partition key.
    size: int
    future: asyncio.Future[PutOutcome]
    #: Monotonic time after which the record is given up (None: never).
    deadline: float | None
    #: Monotonic time the record (re)entered the buffer; max_buffered_time runs from it.
    buffered_at: float
    spooled: bool
    attempts: list[Attempt] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        seq: int,
        record_id: str,
        data: bytes,
        partition_key: str,
        explicit_hash_key: str | None,
        future: asyncio.Future[PutOutcome],
        deadline: float | None,
        now: float,
        spooled: bool,
    ) -> PendingRecord:
        """A pending record, its routing hash key and counted size derived once here."""
        return cls(
            seq,
            record_id,
            data,
            partition_key,
            explicit_hash_key,
            hash_key_of(partition_key, explicit_hash_key),
            len(data) + len(partition_key.encode()),
            future,
            deadline,
            now,
            spooled,
        )

    @classmethod
    def from_spooled(cls, row: SpooledRecord, now: float) -> PendingRecord:
        """A record a previous producer left in the spool, to be sent again.

        It keeps its row id as seq and its record id; it has no deadline (a spooled
        record is never given up for its age), and its outcome is a fresh future.
        """
        return cls.create(
            row.row_id,
            row.record_id,
            row.data,
            row.partition_key,
            row.explicit_hash_key,
            asyncio.get_running_loop().create_future(),
            None,
            now,
            True,
        )

    def resent(self, now: float) -> PendingRecord:
        """This record, to be sent again after it was held (see
        :mod:`shardline.producer.holding`): same seq, id and contents, a fresh
        future, no deadline, no attempts yet, buffered from ``now``."""
        return dataclasses.replace(
            self,
            future=asyncio.get_running_loop().create_future(),
            deadline=None,
            buffered_at=now,
            attempts=[],
        )
