"""The record processor interface (one instance per shard) and a function adapter.

Lifecycle of a processor, as the worker drives it:

1. ``initialize`` once, with the shard and the checkpoint it resumes from.
2. ``process_records`` for every batch, in order, never concurrently.
3. Exactly one of: ``shard_ended`` (the shard was split or merged and fully read:
   checkpoint to let the children start), ``lease_lost`` (another worker has the
   shard now: do not checkpoint), or ``shutdown_requested`` (the worker is stopping
   gracefully: checkpoint what you finished; the lease is then released).

Error handling: if ``process_records`` raises, the batch is not skipped by default:
the worker starts a fresh processor on the same shard from the last checkpoint
(see ``ConsumerConfig.on_processor_error``).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from shardline.consumer.checkpoint import Checkpointer
from shardline.consumer.positions import Position
from shardline.consumer.records import ConsumerRecord


@dataclass(frozen=True)
class InitializationInput:
    shard_id: str
    checkpoint: Position
    pending_checkpoint: Position | None = None
    pending_checkpoint_state: bytes | None = None


@dataclass(frozen=True)
class ProcessRecordsInput:
    shard_id: str
    records: list[ConsumerRecord]
    checkpointer: Checkpointer
    millis_behind_latest: int | None


class RecordProcessor(abc.ABC):
    """Subclass this and give the worker a factory that makes one per shard."""

    async def initialize(self, init: InitializationInput) -> None:  # noqa: B027
        """Prepare for the shard (open files, restore state); default: nothing."""

    @abc.abstractmethod
    async def process_records(self, batch: ProcessRecordsInput) -> None:
        """Handle a batch; checkpoint through ``batch.checkpointer`` when it is safe."""

    async def lease_lost(self) -> None:  # noqa: B027
        """Another worker has the shard; release resources, do not checkpoint."""

    async def shard_ended(self, checkpointer: Checkpointer) -> None:
        """The shard is finished. Default: checkpoint SHARD_END so children start."""
        await checkpointer.checkpoint()

    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        """The worker is stopping. Default: checkpoint everything delivered."""
        if checkpointer.largest_delivered > checkpointer.last_checkpoint:
            await checkpointer.checkpoint()


class FunctionProcessor(RecordProcessor):
    """Adapts a plain (synchronous) function ``fn(records)`` to a record processor.

    The function runs in a worker thread so it may block; after it returns, the
    batch is checkpointed. Example::

        Scheduler(config, lambda: FunctionProcessor(print_records))
    """

    def __init__(self, fn: Callable[[list[ConsumerRecord]], object]) -> None:
        self._fn = fn

    async def process_records(self, batch: ProcessRecordsInput) -> None:
        if batch.records:
            await asyncio.to_thread(self._fn, batch.records)
            await batch.checkpointer.checkpoint()
