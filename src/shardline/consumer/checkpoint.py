"""The checkpointer a record processor uses to record how far it got.

Rules, as the KCL has them:

- ``checkpoint()`` without arguments records the last record delivered; at shard
  end (inside ``shard_ended``) it records ``SHARD_END``, which lets the shard's
  children start.
- ``checkpoint(x)`` must satisfy *last checkpoint ≤ x ≤ largest delivered*;
  anything else is an :class:`InvalidCheckpointError` and changes nothing.
- A checkpoint is written to the lease table with the lease's fencing counter, and
  only under the acquisition that delivered the records (a concurrency token): a
  worker that lost the lease gets :class:`LeaseLostError` and writes nothing.
- ``prepare_checkpoint(x, state)`` is phase one of a two-phase checkpoint: it stores
  ``x`` and optional application state as *pending*; the returned
  ``PreparedCheckpointer.checkpoint()`` is phase two. A processor initialised after
  a crash between the phases sees the pending checkpoint and its state.
"""

from __future__ import annotations

from typing import Protocol

from shardline.consumer.exceptions import InvalidCheckpointError
from shardline.consumer.positions import SHARD_END_POSITION, Position
from shardline.consumer.records import ConsumerRecord


class CheckpointWriter(Protocol):
    """Where checkpoints go (the worker's lease coordinator)."""

    async def write_checkpoint(self, shard_id: str, token: str, position: Position) -> None: ...

    async def write_pending(
        self, shard_id: str, token: str, position: Position, state: bytes | None
    ) -> None: ...


class Checkpointer:
    """Checkpoints for one shard under one lease acquisition."""

    def __init__(self, shard_id: str, token: str, writer: CheckpointWriter, last: Position) -> None:
        self.shard_id = shard_id
        self._token = token
        self._writer = writer
        self._last = last
        self._largest = last
        self._at_shard_end = False

    @property
    def last_checkpoint(self) -> Position:
        return self._last

    @property
    def largest_delivered(self) -> Position:
        return self._largest

    def delivered(self, position: Position) -> None:
        """Called by the shard consumer before handing records at ``position`` over."""
        self._largest = max(self._largest, position)

    def reached_shard_end(self) -> None:
        self._at_shard_end = True

    def _target(self, sequence: str | ConsumerRecord | None, sub: int) -> Position:
        if isinstance(sequence, ConsumerRecord):
            return sequence.position
        if sequence is None:
            return SHARD_END_POSITION if self._at_shard_end else self._largest
        return Position(sequence, sub)

    def _check(self, target: Position) -> None:
        if target == SHARD_END_POSITION:
            if not self._at_shard_end:
                raise InvalidCheckpointError(
                    f"SHARD_END may only be checkpointed at the end of {self.shard_id}."
                )
            return
        if target.is_sentinel:
            raise InvalidCheckpointError(f"Cannot checkpoint at {target.sequence}.")
        if not self._last <= target <= self._largest:
            raise InvalidCheckpointError(
                f"Checkpoint {target} on {self.shard_id} is outside [{self._last}, "
                f"{self._largest}]: it must not go backwards or past the records delivered."
            )

    async def checkpoint(
        self, sequence_number: str | ConsumerRecord | None = None, sub_sequence_number: int = 0
    ) -> None:
        """Record progress durably; see the module docstring for the rules.

        Error handling: InvalidCheckpointError for an out-of-bounds position,
        LeaseLostError when this worker no longer holds the shard.
        """
        target = self._target(sequence_number, sub_sequence_number)
        self._check(target)
        await self._writer.write_checkpoint(self.shard_id, self._token, target)
        self._last = target

    async def prepare_checkpoint(
        self,
        sequence_number: str | ConsumerRecord | None = None,
        sub_sequence_number: int = 0,
        state: bytes | None = None,
    ) -> PreparedCheckpointer:
        """Phase one: store a pending checkpoint (and ``state``); commit it later."""
        target = self._target(sequence_number, sub_sequence_number)
        self._check(target)
        await self._writer.write_pending(self.shard_id, self._token, target, state)
        return PreparedCheckpointer(self, target)


class PreparedCheckpointer:
    """Phase two of a two-phase checkpoint."""

    def __init__(self, parent: Checkpointer, position: Position) -> None:
        self._parent = parent
        self.pending = position

    async def checkpoint(self) -> None:
        await self._parent.checkpoint(self.pending.sequence, self.pending.sub)
