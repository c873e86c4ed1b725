"""Errors of the idempotent sinks, all under :class:`shardline.errors.ShardlineError`::

    ShardlineError
    └── SinkError                    retriable = False
        ├── InvalidSinkRecordError   a record the sink can never store; also a ValueError
        │   └── MissingRecordIdError  a consumer record without a producer-assigned id
        ├── SinkClosedError          the sink is not open (never opened, or closed)
        └── SinkUnavailableError     the backend cannot be reached or keeps refusing;
                                     retriable = True

Why ``retriable`` on the class: a record processor decides from it whether to raise
(and be restarted from its last checkpoint, re-sending the batch, which idempotence
makes harmless) or to stop and call an operator.
"""

from __future__ import annotations

from typing import ClassVar

from shardline.errors import ShardlineError


class SinkError(ShardlineError):
    """Root of the sinks' errors."""

    retriable: ClassVar[bool] = False


class InvalidSinkRecordError(SinkError, ValueError):
    """The record cannot be stored by any backend (empty key, reserved attribute name,
    an attribute that is not plain JSON, ...); fix the code that builds it."""


class MissingRecordIdError(InvalidSinkRecordError):
    """A consumed record carries no producer-assigned id, so re-sends cannot be told apart.

    Create the producer with ``ProducerConfig(record_ids=True)`` so every record carries
    an id that survives retries, replication and failover.
    """


class SinkClosedError(SinkError):
    """The sink was used before :meth:`open` or after :meth:`close`."""


class SinkUnavailableError(SinkError):
    """The backend cannot be reached, or kept refusing after retries.

    Part of the batch may have been written. Writing the whole batch again is safe:
    records already stored come back as DUPLICATE and change nothing.
    """

    retriable = True
