"""One shard, one record processor: the shard consumer's state machine.

States (each transition logged)::

    WAITING_ON_PARENTS → INITIALIZING → PROCESSING → SHUTTING_DOWN → SHUTDOWN_COMPLETE
                              ↑______________|  (processor failed: start again from
                                                 the last checkpoint, after back-off)

1. WAITING_ON_PARENTS: every parent lease (both, after a merge) must be finished
   (checkpointed at SHARD_END) or gone, so that per-key order holds across reshards.
2. INITIALIZING: a fresh processor from the factory gets ``initialize``.
3. PROCESSING: batches are fetched, de-aggregated, cut to what lies after the last
   position delivered, and handed to ``process_records`` one at a time.
4. SHUTTING_DOWN, for one of three reasons:
   - shard end: child leases are created first, then ``shard_ended`` must checkpoint
     SHARD_END (retried until it does); the lease is then released;
   - lease lost: ``lease_lost``, no checkpoint;
   - requested (graceful stop): ``shutdown_requested`` checkpoints, then the lease is
     released so another worker takes the shard at once.

The processor is never cancelled mid-call: a stop takes effect between batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from shardline.backoff import Backoff
from shardline.consumer.checkpoint import Checkpointer
from shardline.consumer.config import ConsumerConfig
from shardline.consumer.coordinator import LeaseCoordinator
from shardline.consumer.exceptions import LeaseLostError, ShardEndNotCheckpointed
from shardline.consumer.metrics import ConsumerMetrics
from shardline.consumer.positions import SHARD_END_POSITION, Position
from shardline.consumer.processor import (
    InitializationInput,
    ProcessRecordsInput,
    RecordProcessor,
)
from shardline.consumer.records import ConsumerRecord
from shardline.consumer.retrieval import Fetched
from shardline.consumer.shard_sync import lease_for
from shardline.framing import aggregation, origin
from shardline.kinesis import ShardInfo
from shardline.stores.leases import TRIM_HORIZON, Lease, LeaseStore

log = logging.getLogger(__name__)

RetrieverFactory = Callable[[str], Any]


class State(enum.Enum):
    WAITING_ON_PARENTS = "WAITING_ON_PARENTS"
    INITIALIZING = "INITIALIZING"
    PROCESSING = "PROCESSING"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    SHUTDOWN_COMPLETE = "SHUTDOWN_COMPLETE"


class Reason(enum.Enum):
    SHARD_END = "SHARD_END"
    LEASE_LOST = "LEASE_LOST"
    REQUESTED = "REQUESTED"


class _Restart(Exception):
    """The processor failed under the "retry" policy: start over from the checkpoint."""


def to_user_records(
    raw: dict[str, Any], hash_range: tuple[int, int] | None
) -> list[ConsumerRecord]:
    """A Kinesis record as user records: itself, or the contents of a KPL aggregate.

    As the KCL does, an aggregate holding any user record whose hash key lies outside
    the shard's range is dropped whole (it was written to the wrong shard); a corrupt
    aggregate is delivered as the plain record it is.
    """
    sequence = raw["SequenceNumber"]
    arrival = raw["ApproximateArrivalTimestamp"]
    origin_region, data = origin.unwrap(raw["Data"])
    partition_key = raw["PartitionKey"]
    if not aggregation.is_aggregated(data):
        return [
            ConsumerRecord(sequence, 0, partition_key, data, arrival, origin_region=origin_region)
        ]
    try:
        users = aggregation.deaggregate(data, partition_key, hash_range=hash_range)
    except aggregation.MalformedAggregateError as exc:
        log.warning("record %s is a malformed aggregate (%s); delivering it as is", sequence, exc)
        return [
            ConsumerRecord(sequence, 0, partition_key, data, arrival, origin_region=origin_region)
        ]
    if not users:
        log.warning("dropping aggregate %s: a user record lies outside the shard", sequence)
    return [
        ConsumerRecord(
            sequence,
            user.sub_sequence_number,
            user.partition_key,
            user.data,
            arrival,
            user.explicit_hash_key,
            aggregated=True,
            origin_region=origin_region,
        )
        for user in users
    ]


def undelivered(records: list[ConsumerRecord], delivered: Position) -> list[ConsumerRecord]:
    """The records past ``delivered``, the last position handed to the processor.

    A batch is in position order (GetRecords and fan-out events return a shard's
    records in sequence order, an aggregate's user records in sub-sequence order), so
    only its head can repeat what was delivered (an aggregate read again after a
    resumed read): comparing until the first new record is enough, instead of parsing
    every record's 56-digit sequence number.
    """
    for index, record in enumerate(records):
        if record.position > delivered:
            return records[index:] if index else records
    return []


class ShardConsumer:
    """Runs one record processor over one leased shard until a shutdown reason."""

    def __init__(
        self,
        lease: Lease,
        token: str,
        config: ConsumerConfig,
        factory: Callable[[], RecordProcessor],
        coordinator: LeaseCoordinator,
        store: LeaseStore,
        retriever: RetrieverFactory,
        metrics: ConsumerMetrics,
    ) -> None:
        self.lease = lease
        self.shard_id = lease.key
        self.token = token
        self.config = config
        self.factory = factory
        self.coordinator = coordinator
        self.store = store
        self.retriever = retriever
        self.metrics = metrics
        self.state = State.WAITING_ON_PARENTS
        self.reason: Reason | None = None
        self._stop = asyncio.Event()
        self.processor: RecordProcessor | None = None
        self.checkpointer: Checkpointer | None = None
        self._release_cooldown = 0.0
        #: Pause before a failed processor is started again; doubles per failure in
        #: a row (KCL taskBackoffTimeMillis).
        self._backoff = Backoff(config.task_backoff_s, config.max_backoff_s)
        self._hash_range = (
            (int(lease.starting_hash_key), int(lease.ending_hash_key))
            if lease.starting_hash_key is not None and lease.ending_hash_key is not None
            else None
        )

    def _enter(self, state: State) -> None:
        log.debug("%s %s → %s", self.shard_id, self.state.value, state.value)
        self.state = state

    def stop(self, reason: Reason) -> None:
        """Ask the consumer to shut down after the current batch."""
        if self.reason is None:
            self.reason = reason
        self._stop.set()

    async def _wait_or_stop(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; True if a stop was requested meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)
        return self._stop.is_set()

    # -- 1. parents --------------------------------------------------------------------

    async def _parents_done(self) -> bool:
        if not self.lease.parents:
            return True
        leases = {lease.key: lease for lease in await self.store.list_leases()}
        return all(parent not in leases or leases[parent].finished for parent in self.lease.parents)

    # -- the whole life ----------------------------------------------------------------

    async def run(self) -> None:
        try:
            while not await self._parents_done():
                if await self._wait_or_stop(self.config.parent_shard_poll_interval_s):
                    break
            while not self._stop.is_set():
                try:
                    await self._process_once()
                    break
                except _Restart:
                    delay = self._backoff.next_delay()
                    log.warning(
                        "%s: restarting the processor from the last checkpoint in %.2f s",
                        self.shard_id,
                        delay,
                    )
                    if await self._wait_or_stop(delay):
                        break
        except LeaseLostError:
            self.stop(Reason.LEASE_LOST)
        except Exception:
            log.exception("shard consumer %s failed; releasing the lease", self.shard_id)
            self.stop(Reason.REQUESTED)
        finally:
            await self._shut_down()

    def _current_checkpoint(self) -> Position:
        held = self.coordinator.held.get(self.shard_id)
        lease = held.lease if held is not None else self.lease
        return Position(lease.checkpoint, lease.checkpoint_sub)

    async def _process_once(self) -> None:
        """INITIALIZING then PROCESSING, from the last durable checkpoint."""
        self._enter(State.INITIALIZING)
        start = self._current_checkpoint()
        held = self.coordinator.held.get(self.shard_id)
        lease = held.lease if held is not None else self.lease
        checkpointer = Checkpointer(self.shard_id, self.token, self.coordinator, start)
        processor = self.processor = self.factory()
        self.checkpointer = checkpointer
        pending = (
            Position(lease.pending_checkpoint, lease.pending_checkpoint_sub or 0)
            if lease.pending_checkpoint
            else None
        )
        try:
            await processor.initialize(
                InitializationInput(self.shard_id, start, pending, lease.pending_checkpoint_state)
            )
        except LeaseLostError:
            raise
        except Exception as exc:
            await self._processor_failed("initialize", exc, checkpointer)
        if start == SHARD_END_POSITION:
            self.stop(Reason.SHARD_END)
            return
        self._enter(State.PROCESSING)
        batches = self.retriever(self.shard_id).batches(start)
        async for fetched in self._until_stopped(batches):
            if fetched.millis_behind_latest is not None:
                self.metrics.behind(self.shard_id, fetched.millis_behind_latest)
            records = self._undelivered(fetched, checkpointer)
            if records or self.config.call_process_records_even_for_empty_list:
                if records:
                    checkpointer.delivered(records[-1].position)
                try:
                    await processor.process_records(
                        ProcessRecordsInput(
                            self.shard_id, records, checkpointer, fetched.millis_behind_latest
                        )
                    )
                except LeaseLostError:
                    raise
                except Exception as exc:
                    await self._processor_failed("process_records", exc, checkpointer)
                else:
                    self._backoff.reset()  # failures in a row ended: next one waits the least
                self.metrics.processed(len(records))
            if fetched.millis_behind_latest is not None:
                self.metrics.processed_through(
                    self.shard_id, fetched.as_of - fetched.millis_behind_latest / 1000
                )
            if fetched.shard_end:
                await self._finish_shard(processor, fetched, checkpointer)
                return

    def _undelivered(self, fetched: Fetched, checkpointer: Checkpointer) -> list[ConsumerRecord]:
        """The user records of ``fetched`` (aggregates unpacked) not yet delivered."""
        records = [
            record for raw in fetched.records for record in to_user_records(raw, self._hash_range)
        ]
        return undelivered(records, checkpointer.largest_delivered)

    async def _until_stopped(self, batches: AsyncIterator[Fetched]) -> AsyncIterator[Fetched]:
        """Batches until a stop is requested; a pending fetch is abandoned on stop."""
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                fetch = asyncio.ensure_future(anext(batches))
                done, _ = await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
                if fetch not in done:
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await fetch
                    return
                try:
                    yield fetch.result()
                except GeneratorExit:
                    raise
                if self._stop.is_set():
                    return
        except StopAsyncIteration:
            return
        finally:
            stop.cancel()
            with contextlib.suppress(Exception):
                await batches.aclose()  # type: ignore[attr-defined]

    async def _processor_failed(
        self, method: str, exc: Exception, checkpointer: Checkpointer
    ) -> None:
        self.metrics.processor_failed()
        policy = self.config.on_processor_error
        log.error(
            "%s of %s raised %r (policy %s)", method, self.shard_id, exc, policy, exc_info=exc
        )
        if policy == "skip" and method == "process_records":
            return
        # The failed processor is dropped: its checkpointer has seen records it did not
        # finish, so no shutdown hook may checkpoint through it.
        self.processor = None
        if policy == "release":
            self._release_cooldown = self.config.failover_time_s
            self.stop(Reason.REQUESTED)
        raise _Restart from exc

    # -- 4. shutting down ------------------------------------------------------------

    async def _finish_shard(
        self, processor: RecordProcessor, fetched: Fetched, checkpointer: Checkpointer
    ) -> None:
        listed = [ShardInfo.from_wire(child) for child in fetched.children]
        children = frozenset(child.shard_id for child in listed)
        for child in listed:
            await self.store.create_if_absent(lease_for(child, TRIM_HORIZON))
        if children:
            await self.coordinator.record_children(self.shard_id, self.token, children)
        checkpointer.reached_shard_end()
        backoff = Backoff(self.config.task_backoff_s, self.config.max_backoff_s)
        while checkpointer.last_checkpoint != SHARD_END_POSITION:
            try:
                await processor.shard_ended(checkpointer)
                if checkpointer.last_checkpoint != SHARD_END_POSITION:
                    raise ShardEndNotCheckpointed(
                        f"shard_ended() of {self.shard_id} did not checkpoint SHARD_END"
                    )
            except LeaseLostError:
                raise
            except Exception as exc:
                log.error("shard_ended on %s: %r; retrying", self.shard_id, exc)
                if await self._wait_or_stop(backoff.next_delay()):
                    return
        self.stop(Reason.SHARD_END)

    async def _shut_down(self) -> None:
        self._enter(State.SHUTTING_DOWN)
        reason = self.reason or Reason.REQUESTED
        processor, checkpointer = self.processor, self.checkpointer
        try:
            if reason is Reason.LEASE_LOST:
                if processor is not None:
                    await processor.lease_lost()
            elif reason is Reason.REQUESTED and processor is not None and checkpointer:
                with contextlib.suppress(LeaseLostError):
                    await processor.shutdown_requested(checkpointer)
        except Exception:
            log.exception("shutdown hook of %s raised", self.shard_id)
        if reason is not Reason.LEASE_LOST:
            await self.coordinator.release(self.shard_id, cooldown_s=self._release_cooldown)
        self._enter(State.SHUTDOWN_COMPLETE)
