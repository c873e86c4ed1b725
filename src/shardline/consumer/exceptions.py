"""Errors of the consumer, all under :class:`shardline.errors.ShardlineError`::

ShardlineError
└── ConsumerError
    ├── InvalidCheckpointError   checkpoint outside [last checkpoint, largest delivered]
    ├── LeaseLostError           the worker no longer holds the shard's lease
    └── ShardEndNotCheckpointed  shard_ended() returned without checkpointing SHARD_END
"""

from __future__ import annotations

from shardline.errors import ShardlineError


class ConsumerError(ShardlineError):
    """Root of the consumer's errors."""


class InvalidCheckpointError(ConsumerError):
    """A checkpoint before the last one or beyond the records delivered so far."""


class LeaseLostError(ConsumerError):
    """The lease moved to another worker (or expired); stop processing this shard.

    A record processor that sees this from ``checkpoint()`` should return: its
    ``lease_lost`` method is called next and another worker continues the shard
    from the last successful checkpoint.
    """


class ShardEndNotCheckpointed(ConsumerError):
    """At shard end the processor must call ``checkpointer.checkpoint()``, or the
    shard's children never start (KCL semantics). The consumer retries shard_ended."""
