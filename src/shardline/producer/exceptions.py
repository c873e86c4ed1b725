"""Errors of the producer, all under :class:`shardline.errors.ShardlineError`::

ShardlineError
└── ProducerError
    ├── InvalidRecordError      put() refused a record (size, key); also a ValueError
    ├── RecordFailedError       a record was given up; carries its attempts
    │   └── RecordExpiredError  not acknowledged within record_ttl_s (no spool)
    ├── ProducerClosedError     put() after close()
    └── SpoolError              the spool cannot be used
        └── SpoolLockedError    another producer holds the spool
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shardline.errors import ShardlineError

if TYPE_CHECKING:
    from shardline.producer.records import Attempt


class ProducerError(ShardlineError):
    """Root of the producer's errors."""


class InvalidRecordError(ProducerError, ValueError):
    """The record can never be accepted by Kinesis (too large, bad key); fix the caller."""


class RecordFailedError(ProducerError):
    """The producer gave a record up; ``attempts`` says what each try met.

    Raised for errors Kinesis marks non-retriable (e.g. the stream does not exist or
    access is denied). The record is removed from the spool: re-put it once the cause
    is fixed.
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
