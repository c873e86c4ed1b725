"""Stateful record processors on the consumer: state checkpointed with its positions.

A :class:`StatefulProcessor` handles one record at a time against its shard's
:class:`ShardState`; :class:`StatefulJob` turns it into the consumer's record
processors and checkpoints every shard's state together with the position it
reflects. Example::

    class Counter(StatefulProcessor):
        def process(self, record, state):
            state.keyed[record.partition_key] = state.keyed.get(record.partition_key, 0) + 1

    async with StatefulJob(StateConfig("app", checkpoint_interval_s=10), Counter) as job:
        await job.scheduler(ConsumerConfig("app", "orders")).run()

Exactly-once state over at-least-once delivery, as numbered steps:

1. ``initialize``: restore the shard's latest verified checkpoint (state and
   position); a child shard without one inherits its parents' final state
   (:mod:`lineage`). The lease table's checkpoint is never ahead of it (step 4).
2. ``process_records``: under the shard's lock, each record after the restored
   position is applied and the position advanced in the same step (Flink's
   checkpoint lock); records at or before it are skipped, so a record is never
   applied twice and the next one is never skipped.
3. every ``checkpoint_interval_s``: under the lock, serialize state and position
   (a consistent cut); then, with processing running again, seal and write it,
   manifest last.
4. advance the lease table's checkpoint to the position of the *oldest retained*
   checkpoint, so that any retained checkpoint (the fallback when the newest is
   corrupt) can be restored without the lease table having moved past it; then
   prune older checkpoints.

Failure handling: when ``process`` raises, checkpointing of that processor stops
at once (its state may hold part of a record) and the consumer's retry policy
starts a fresh processor, which restores the latest checkpoint. At shard end a
final checkpoint is written before SHARD_END; on graceful shutdown one is written
before the lease is released; a lost lease writes nothing.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from shardline.consumer.checkpoint import Checkpointer
from shardline.consumer.config import ConsumerConfig
from shardline.consumer.exceptions import LeaseLostError
from shardline.consumer.metrics import ConsumerMetrics
from shardline.consumer.positions import Position
from shardline.consumer.processor import (
    InitializationInput,
    ProcessRecordsInput,
    RecordProcessor,
)
from shardline.consumer.records import ConsumerRecord
from shardline.consumer.scheduler import DEFAULT_LEASE_FILE, Scheduler
from shardline.state.checkpoints import CheckpointSeries, Restored
from shardline.state.config import StateConfig
from shardline.state.exceptions import StateError, StateRestoreError
from shardline.state.keyed import ShardState
from shardline.state.lineage import first_value, inherit
from shardline.state.manifest import Manifest
from shardline.state.metrics import StateMetrics
from shardline.state.snapshots import SnapshotInfo, Snapshots
from shardline.state.stores import ObjectStore
from shardline.stores.leases import Lease, LeaseStore
from shardline.stores.sqlite_leases import SQLiteLeaseStore

log = logging.getLogger(__name__)


class StatefulProcessor(abc.ABC):
    """Subclass this; the job makes one instance per shard.

    ``process`` is synchronous on purpose: it runs under the shard's checkpoint
    lock, so it must be quick (no I/O) — state changes and the position move
    together.
    """

    def open(self, state: ShardState) -> None:  # noqa: B027
        """Called once the shard's state is restored; default: nothing."""

    @abc.abstractmethod
    def process(self, record: ConsumerRecord, state: ShardState) -> None:
        """Apply one record to ``state``."""

    def combine_values(self, values: list[Any]) -> Any:
        """The whole-processor value of a child shard from its parents' (see lineage)."""
        return first_value(values)


class _ShardRuntime(RecordProcessor):
    """The record processor the consumer runs: restore, apply, checkpoint (see above)."""

    def __init__(self, job: StatefulJob, user: StatefulProcessor) -> None:
        self.job = job
        self.user = user
        self.state = ShardState("")
        self._lock = asyncio.Lock()
        self._writing = asyncio.Lock()
        self._retained: list[tuple[int, Position]] = []
        self._committed: tuple[Position, bool] | None = None
        self._next_id = 1
        self._checkpointer: Checkpointer | None = None
        self._stop = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._series: CheckpointSeries | None = None
        self._replica: CheckpointSeries | None = None
        self._lineage: tuple[tuple[str, ...], tuple[int, int] | None] = ((), None)

    # -- 1. restore ----------------------------------------------------------------------

    async def _inherited(self, lease: Lease | None) -> tuple[Any, Any] | None:
        if lease is None or not lease.parents:
            return None
        parents: list[Restored] = []
        for parent in sorted(lease.parents):
            restored = await self.job.series(parent).latest()
            if restored is not None:
                parents.append(restored)
        if not parents:
            return None
        return inherit(parents, self._lineage[1], self.user.combine_values)

    async def initialize(self, init: InitializationInput) -> None:
        shard_id = init.shard_id
        lease = await self.job.lease_store.get(shard_id)
        hash_range = (
            (int(lease.starting_hash_key), int(lease.ending_hash_key))
            if lease is not None and lease.starting_hash_key and lease.ending_hash_key
            else None
        )
        self._lineage = (tuple(sorted(lease.parents)) if lease else (), hash_range)
        self._series = series = self.job.series(shard_id)
        self._replica = self.job.replica_series(shard_id)
        restored = await series.latest()
        _, every = await series.listing()
        self._next_id = max(every, default=0) + 1
        state = ShardState(shard_id, position=init.checkpoint)
        if restored is not None:
            manifest = restored.manifest
            if not init.checkpoint.is_sentinel and init.checkpoint > manifest.position:
                raise StateRestoreError(
                    f"the lease table has {shard_id} at {init.checkpoint}, past its newest "
                    f"state checkpoint ({manifest.position}): {StateRestoreError.__doc__}"
                )
            state.keyed, state.value = restored.keyed, restored.value
            state.position, state.last_arrival = manifest.position, manifest.last_arrival
            state.finished = manifest.finished
            self._retained = [(manifest.checkpoint_id, manifest.position)]
            self._committed = (manifest.position, manifest.finished)
            log.info(
                "%s restored checkpoint %d at %s",
                shard_id,
                manifest.checkpoint_id,
                manifest.position,
            )
        else:
            inherited = await self._inherited(lease)
            if inherited is not None:
                state.keyed, state.value = inherited
                log.info(
                    "%s inherited %d keys from %s",
                    shard_id,
                    len(state.keyed),
                    lease and sorted(lease.parents),
                )
        self.state = state
        self.user.open(state)
        self.job.live[shard_id] = self
        self.job.metrics.unchanged(shard_id)
        if restored is None:
            # Every shard the job has seen gets a checkpoint at once: a snapshot then
            # holds its starting position, and inherited state no longer needs the
            # parents' checkpoints.
            await self.checkpoint()
        self._start_timer()

    # -- 2. apply ------------------------------------------------------------------------

    async def process_records(self, batch: ProcessRecordsInput) -> None:
        self._checkpointer = batch.checkpointer
        if self._timer is None:  # the "skip" policy goes on after a failed batch
            self.job.live[self.state.shard_id] = self
            self._start_timer()
        state = self.state
        try:
            async with self._lock:
                for record in batch.records:
                    if record.position <= state.position:
                        continue
                    self.user.process(record, state)
                    state.applied(record)
        except BaseException:
            # The state may hold part of a record now: never checkpoint it.
            await self._stop_timer(wait=False)
            self._gone()
            raise

    # -- 3./4. checkpoint ----------------------------------------------------------------

    def _start_timer(self) -> None:
        self._stop.clear()
        self._timer = asyncio.create_task(
            self._every_interval(), name=f"state-{self.state.shard_id}"
        )

    async def _stop_timer(self, wait: bool = True) -> None:
        self._stop.set()
        timer, self._timer = self._timer, None
        if timer is None:
            return
        if not wait:
            timer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await timer

    async def _every_interval(self) -> None:
        interval = self.job.config.checkpoint_interval_s
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
            if self._stop.is_set():
                return
            try:
                await self.checkpoint()
            except LeaseLostError:
                return
            except Exception:
                log.exception(
                    "checkpoint of %s failed; the previous one stays", self.state.shard_id
                )
                self.job.metrics.failed(self.state.shard_id)

    async def checkpoint(self) -> Manifest | None:
        """Checkpoint now if the state changed since the last one; the manifest or None."""
        assert self._series is not None
        shard_id = self.state.shard_id
        async with self._writing:
            async with self._lock:
                state = self.state
                if self._committed == (state.position, state.finished):
                    self.job.metrics.unchanged(shard_id)
                    return None
                started = time.monotonic()
                payload = state.serialize()
                draft = Manifest(
                    application=self.job.config.application_name,
                    shard_id=shard_id,
                    checkpoint_id=self._next_id,
                    created=dt.datetime.now(dt.UTC),
                    position=state.position,
                    last_arrival=state.last_arrival,
                    finished=state.finished,
                    parents=self._lineage[0],
                    hash_range=self._lineage[1],
                    keys=len(state.keyed),
                    state_size=0,
                )
            self._next_id += 1
            manifest, sealed = await self._series.write(draft, payload)
            self._committed = (manifest.position, manifest.finished)
            if self._replica is not None:
                try:
                    await self._replica.put_sealed(manifest, sealed)
                except StateError as exc:
                    log.error("replica checkpoint of %s failed: %s", shard_id, exc)
                    self.job.metrics.failed(shard_id)
            self._retained = [*self._retained, (manifest.checkpoint_id, manifest.position)]
            self._retained = self._retained[-self.job.config.retained_checkpoints :]
            await self._advance_lease()
            keep = [checkpoint_id for checkpoint_id, _ in self._retained]
            await self._series.prune(keep)
            if self._replica is not None:
                with contextlib.suppress(StateError):
                    await self._replica.prune(keep)
            self.job.metrics.completed(shard_id, time.monotonic() - started, len(sealed))
            return manifest

    async def _advance_lease(self) -> None:
        """Step 4: the lease table may move up to the oldest retained checkpoint."""
        checkpointer = self._checkpointer
        if checkpointer is None or not self._retained:
            return
        target = self._retained[0][1]
        if target.is_sentinel or not target > checkpointer.last_checkpoint:
            return
        await checkpointer.checkpoint(target.sequence, target.sub)

    # -- the end of a processor ----------------------------------------------------------

    def _gone(self) -> None:
        shard_id = self.state.shard_id
        if self.job.live.get(shard_id) is self:
            del self.job.live[shard_id]
            self.job.metrics.forget(shard_id)

    async def shard_ended(self, checkpointer: Checkpointer) -> None:
        """Final checkpoint (marked finished, for the children), then SHARD_END."""
        self._checkpointer = checkpointer
        await self._stop_timer()
        async with self._lock:
            self.state.finished = True
        await self.checkpoint()
        await checkpointer.checkpoint()
        self._gone()

    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        self._checkpointer = checkpointer
        await self._stop_timer()
        try:
            await self.checkpoint()
        finally:
            self._gone()

    async def lease_lost(self) -> None:
        await self._stop_timer()
        self._gone()


class StatefulJob:
    """Runs a :class:`StatefulProcessor` on the consumer with checkpointed state.

    Resource handling: use it as an async context manager; leaving it closes the
    stores. Shards live while the scheduler runs: stop the scheduler first (its
    graceful shutdown writes every shard's final checkpoint).
    """

    def __init__(
        self,
        config: StateConfig,
        processor_factory: Callable[[], StatefulProcessor],
        metrics: StateMetrics | None = None,
    ) -> None:
        self.config = config
        self.factory = processor_factory
        self.store: ObjectStore = config.open_store()
        self.replica: ObjectStore | None = config.open_replica()
        self._own_metrics = metrics is None
        self.metrics = metrics or StateMetrics(config.application_name, "worker")
        self.live: dict[str, _ShardRuntime] = {}
        self._lease_store: LeaseStore | None = None

    @property
    def lease_store(self) -> LeaseStore:
        if self._lease_store is None:
            raise RuntimeError("build the scheduler with StatefulJob.scheduler() first")
        return self._lease_store

    @property
    def snapshots(self) -> Snapshots:
        return Snapshots(self.store, self.config.application_name, self.config.keys)

    def series(self, shard_id: str) -> CheckpointSeries:
        return CheckpointSeries(
            self.store, self.config.application_name, shard_id, self.config.keys
        )

    def replica_series(self, shard_id: str) -> CheckpointSeries | None:
        if self.replica is None:
            return None
        return CheckpointSeries(
            self.replica, self.config.application_name, shard_id, self.config.keys
        )

    def record_processor(self) -> RecordProcessor:
        """A consumer record processor wrapping a new StatefulProcessor."""
        return _ShardRuntime(self, self.factory())

    def scheduler(
        self,
        consumer_config: ConsumerConfig,
        lease_store: LeaseStore | None = None,
        consumer_metrics: ConsumerMetrics | None = None,
    ) -> Scheduler:
        """A consumer worker whose record processors are this job's."""
        store = lease_store or SQLiteLeaseStore(
            DEFAULT_LEASE_FILE, consumer_config.application_name
        )
        self._lease_store = store
        if self._own_metrics:
            self.metrics = StateMetrics(self.config.application_name, consumer_config.worker_id)
        return Scheduler(consumer_config, self.record_processor, store, consumer_metrics)

    async def checkpoint_now(self) -> list[Manifest]:
        """Checkpoint every shard this worker holds whose state changed."""
        written = []
        for runtime in list(self.live.values()):
            manifest = await runtime.checkpoint()
            if manifest is not None:
                written.append(manifest)
        return written

    async def create_snapshot(self, name: str) -> SnapshotInfo:
        """Checkpoint this worker's shards now, then snapshot every shard's latest."""
        await self.checkpoint_now()
        return await self.snapshots.create(name)

    async def close(self) -> None:
        await self.store.close()
        if self.replica is not None:
            await self.replica.close()

    async def __aenter__(self) -> StatefulJob:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
