"""Errors of the producer, all under :class:`shardline.errors.ShardlineError`::

ShardlineError
└── ProducerError
    ├── InvalidRecordError      put() refused a record (size, key); also a ValueError
    ├── RecordFailedError       a record was given up; carries its attempts
    │   └── RecordExpiredError  not acknowledged within record_ttl_s (no spool)
    ├── ProducerClosedError     put() after close()
    └── SpoolError              the spool cannot be used
        ├── SpoolLockedError    another producer holds the spool
        └── SpoolBoundError     the spool holds records for another destination
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shardline.errors import ShardlineError

if TYPE_CHECKING:
    from shardline.producer.attempt import Attempt
    from shardline.producer.destination import SpoolBinding


class ProducerError(ShardlineError):
    """Root of the producer's errors."""


class InvalidRecordError(ProducerError, ValueError):
    """The record can never be accepted by Kinesis (too large, bad key); fix the caller."""


class RecordFailedError(ProducerError):
    """The producer gave a record up; ``attempts`` says what each try met.

    Raised for errors Kinesis marks non-retriable (e.g. the stream does not exist or
    access is denied). A spooled record stays in the spool as a dead letter:
    ``shardline spool`` lists it and ``shardline spool resend`` sends it again once
    the cause is fixed.
    """

    def __init__(self, message: str, attempts: Sequence[Attempt] = ()) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


class RecordExpiredError(RecordFailedError):
    """The record was not acknowledged within ``record_ttl_s`` (producers without a spool)."""


class ProducerClosedError(ProducerError):
    """The producer is closed; records it had not sent stay in its spool, if it has one."""


class SpoolError(ProducerError):
    """The spool file cannot be opened or written."""


class SpoolLockedError(SpoolError):
    """Another producer process holds this spool.

    Two producers on one spool would send its records twice. Give each producer its
    own ``spool_path``, or stop the other process first.
    """


class SpoolBoundError(SpoolError):
    """The spool holds records not yet stored that belong to another destination.

    A producer never sends them to its own destination instead. ``leftovers`` lists
    each other binding with its record count; the message says how to send them
    where they belong (``shardline spool resend``) or drop them.
    """

    def __init__(
        self, path: Path, binding: SpoolBinding, leftovers: list[tuple[SpoolBinding, int]]
    ) -> None:
        waiting = "; ".join(
            f"{count} record{'s' if count != 1 else ''} for {where}" for where, count in leftovers
        )
        super().__init__(
            f"spool {path} holds {waiting}, not yet stored; they are never sent to {binding}. "
            f"Send them where they belong with `shardline spool resend --spool {path}`, "
            f"drop them with `shardline spool discard --spool {path}`, "
            "or give this producer another spool"
        )
        self.path = path
        self.binding = binding
        self.leftovers = leftovers
