"""The asynchronous producer: put records, get per-record outcomes.

Why aiobotocore: the producer's work is I/O (up to ``max_connections`` concurrent
PutRecords calls) and disk (the spool, in its own thread). aiobotocore runs those
calls on the event loop with one pooled aiohttp connector, without a thread per
call, and speaks to AWS and to Shardline alike; the consumer uses it too. Its own
retries are off (``max_attempts=1``): retries here are per record, not per call,
and its parameter validation is off because put() validates each record once.

Life of a record:

1. ``put()`` validates it, waits for room (backpressure), assigns a record id,
   writes it to the spool (if any) and returns a future for its outcome.
2. It waits in its predicted shard's queue (:mod:`shardline.producer.batching`)
   until its batch is due, then travels in one PutRecords call, alone or inside a
   KPL aggregate.
3. Stored: the future resolves with the shard id and sequence number, and the spool
   row is deleted (or, if the destination is one whose acknowledgements are *held*,
   kept until the replicator's watermark passes it; see
   :meth:`Producer.hold_acknowledged_by`).
   Throttled or failed: the record goes back to the front of its shard's queue
   and the shard backs off. Given up (non-retriable error, or TTL without spool):
   the future resolves with ``succeeded=False`` and the error, and a spooled
   record stays in the spool as a dead letter (``shardline spool`` lists it).

Futures always resolve with a :class:`PutOutcome` (they never raise), so producers
that do not wait for every outcome see no "exception never retrieved" noise.

Resource handling: use ``async with Producer(...)`` or call :meth:`Producer.start`
and :meth:`Producer.close`. Close flushes first; records it cannot deliver in time
stay in the spool for the next producer on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry

from shardline.backoff import Backoff
from shardline.framing import envelope
from shardline.framing.aggregation import MAX_HASH_KEY
from shardline.kinesis import connect, quick_config
from shardline.producer.attempt import Attempt
from shardline.producer.batching import Batch, Batcher, Entry, ShardKey
from shardline.producer.config import ProducerConfig
from shardline.producer.destination import Destination, SpoolBinding
from shardline.producer.exceptions import (
    InvalidRecordError,
    ProducerClosedError,
    ProducerError,
    RecordExpiredError,
    RecordFailedError,
)
from shardline.producer.giving_up import GiveUps
from shardline.producer.holding import Holds
from shardline.producer.metrics import ProducerMetrics
from shardline.producer.outstanding import Outstanding
from shardline.producer.predictor import ShardMap, ShardPredictor
from shardline.producer.ratelimit import ShardRateLimiter
from shardline.producer.records import PendingRecord, PutOutcome, Record
from shardline.producer.retry import Failure, call_failure, entry_failure
from shardline.producer.spool import Spool

if TYPE_CHECKING:
    from types_aiobotocore_kinesis import KinesisClient
    from types_aiobotocore_kinesis.type_defs import (
        PutRecordsRequestEntryTypeDef,
        PutRecordsResultEntryTypeDef,
    )

log = logging.getLogger(__name__)

#: Records read from the spool per step while recovering.
_RECOVERY_PAGE = 1000
_EXPIRY_SWEEP_S = 1.0


def _validate(record: Record, max_size: int) -> Record:
    data = record.data
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidRecordError(f"data must be bytes, not {type(data).__name__}")
    key = record.partition_key
    if not isinstance(key, str) or not 1 <= len(key) <= 256:
        raise InvalidRecordError("partition_key must be a string of 1 to 256 characters")
    explicit = record.explicit_hash_key
    if explicit is not None and not (
        isinstance(explicit, str) and explicit.isdigit() and int(explicit) <= MAX_HASH_KEY
    ):
        raise InvalidRecordError("explicit_hash_key must be a decimal in 0 .. 2**128 - 1")
    size = len(data) + len(key.encode())
    if size > max_size:
        raise InvalidRecordError(
            f"record of {size} bytes (data + partition key) exceeds max_record_size {max_size}"
        )
    return Record(bytes(data), key, explicit)


@dataclass(slots=True)
class _Stored:
    """What one call stored, counted for the metrics once per call (not per record:
    three labelled Prometheus updates per record were a sixth of the producer's CPU)."""

    entries: int = 0
    users: int = 0
    data_bytes: int = 0

    def add(self, entry: Entry) -> None:
        self.entries += 1
        self.users += len(entry.records)
        self.data_bytes += sum(len(r.data) for r in entry.records)


class Producer:
    """Puts records into a Kinesis stream with batching, retries and a durable spool.

    Example::

        async with Producer(Destination("orders", endpoint_url=url)) as producer:
            outcome = await (await producer.put(b"hello", "customer-7"))
            print(outcome.shard_id, outcome.sequence_number)

    Error handling: put() raises :class:`InvalidRecordError` for a record Kinesis
    would refuse, :class:`ProducerClosedError` after close, and
    :class:`~shardline.producer.SpoolError` if the spool cannot commit (the record
    was not accepted). Everything that happens after acceptance is reported in the
    record's :class:`PutOutcome`.
    """

    def __init__(
        self,
        destination: Destination,
        config: ProducerConfig | None = None,
        *,
        registry: CollectorRegistry = DEFAULT_REGISTRY,
        spool_destinations: Iterable[Destination] = (),
    ) -> None:
        self.config = config = config or ProducerConfig()
        self._destination = destination
        #: Where the spool's records may go: this destination, and the others named
        #: (a FailoverProducer names its stream in every region). See spool_file.
        self._binding = SpoolBinding.of(destination, *spool_destinations)
        self._give_ups = GiveUps()
        self.metrics = ProducerMetrics(config.name, registry)
        limiter = ShardRateLimiter(config.rate_limit_percent) if config.rate_limit_percent else None
        self._batcher = Batcher(config, limiter)
        self._predictor = ShardPredictor()
        self._applied_map: ShardMap = self._predictor.map
        #: Equal jitter: the shards' retries spread out instead of arriving together.
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s, jitter=0.5)
        self._spool: Spool | None = None
        self._client: KinesisClient | None = None
        self._client_stack: contextlib.AsyncExitStack | None = None
        self._outstanding = Outstanding(
            config.max_outstanding_records, config.max_outstanding_bytes
        )
        self._next_seq = 1
        self._id_prefix = os.urandom(8).hex()
        self._id_counter = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._recovered = asyncio.Event()
        self._switching = False
        self._switch_lock = asyncio.Lock()
        self._closing = False
        self._started = False
        self._calls: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._next_sweep = 0.0
        self._holds = Holds()

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> Producer:
        """Open the spool, connect, learn the shard map and re-send spooled records.

        A spool held by another process raises
        :class:`~shardline.producer.SpoolLockedError`. An unreachable destination
        does not fail start(): records wait (in the spool) until it answers.
        """
        if self._started:
            return self
        config = self.config
        if config.spool_path is not None:
            self._spool = await asyncio.to_thread(
                Spool, config.spool_path, self._binding, config.spool_durability
            )
        spool = self._spool
        self.metrics.track(
            lambda: len(self._outstanding), lambda: spool.depth if spool is not None else 0
        )
        client = await self._connect(self._destination)
        self._applied_map = await self._predictor.refresh(client, self._destination.stream_name)
        self._started = True
        self._dispatcher = asyncio.create_task(self._dispatch(), name="producer-dispatch")
        self._dispatcher.add_done_callback(_report_crash)
        if spool is not None and spool.depth:
            self._recovery = asyncio.create_task(self._recover(spool), name="producer-recovery")
        else:
            self._recovered.set()
        return self

    async def __aenter__(self) -> Producer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float | None = 30.0) -> None:
        """Flush for up to ``timeout`` seconds (None: until done), then stop.

        The default matches the KPL's record TTL, so closing during an outage ends.
        Records still unacknowledged then resolve with :class:`ProducerClosedError`;
        with a spool they stay in it and the next producer on the spool sends them.
        """
        if self._closing or not self._started:
            return
        self._closing = True
        try:
            await self.flush(timeout)
        except TimeoutError:
            log.warning("close: %d records not acknowledged in time", len(self._outstanding))
        for task in (self._recovery, self._dispatcher, *self._calls):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._recovery, self._dispatcher, *self._calls) if t is not None),
            return_exceptions=True,
        )
        where = f"; it stays in spool {self._spool.path}" if self._spool else ""
        for record in self._outstanding.records():
            self._finish(record, error=ProducerClosedError(f"producer closed{where}"))
        if self._client_stack is not None:
            await self._client_stack.aclose()
        if self._spool is not None:
            await self._spool.close()
        self.metrics.track(lambda: 0, lambda: 0)

    # -- the public API -------------------------------------------------------------

    @property
    def destination(self) -> Destination:
        return self._destination

    @property
    def shard_map(self) -> ShardMap:
        """The open shards records are predicted onto; refreshed after a reshard or a
        destination switch (read-only: for monitoring, and tests that it followed)."""
        return self._predictor.map

    @property
    def pending(self) -> int:
        """Records accepted whose outcome is not known yet."""
        return len(self._outstanding)

    async def put(
        self, data: bytes, partition_key: str, explicit_hash_key: str | None = None
    ) -> asyncio.Future[PutOutcome]:
        """Accept one record; the returned future resolves with its outcome.

        Returns once the record is accepted: validated, within the outstanding bound,
        and on disk if there is a spool. Cancelling put() while the spool commits
        does not withdraw the record.
        """
        (future,) = await self.put_many([Record(data, partition_key, explicit_hash_key)])
        return future

    async def put_many(self, records: Iterable[Record]) -> list[asyncio.Future[PutOutcome]]:
        """Accept several records at once (one spool commit); all or none are accepted."""
        if self._closing or not self._started:
            raise ProducerClosedError("producer is not running (start() it, or it was closed)")
        checked = [_validate(r, self.config.max_record_size) for r in records]
        if not checked:
            return []
        await self._recovered.wait()
        ids = [self._new_id() for _ in checked]
        if self.config.record_ids:
            checked = [
                Record(envelope.encode(i, r.data), r.partition_key, r.explicit_hash_key)
                for i, r in zip(ids, checked, strict=True)
            ]
        size = sum(len(r.data) + len(r.partition_key.encode()) for r in checked)
        await self._outstanding.wait_room(len(checked), size)
        if self._closing:
            raise ProducerClosedError("producer was closed while put() waited for room")
        spool = self._spool
        seqs = spool.allocate(len(checked)) if spool else self._allocate(len(checked))
        loop = asyncio.get_running_loop()
        ttl = self.config.record_ttl_s
        now = time.monotonic()
        deadline = now + ttl if ttl is not None and spool is None else None
        pending = [
            PendingRecord.create(
                seq,
                record_id,
                r.data,
                r.partition_key,
                r.explicit_hash_key,
                loop.create_future(),
                deadline,
                now,
                spool is not None,
            )
            for seq, record_id, r in zip(seqs, ids, checked, strict=True)
        ]
        self._outstanding.reserve(pending)
        if spool is None:
            self._admit(pending)
        else:
            rows = [
                (p.seq, p.record_id, p.partition_key, p.explicit_hash_key, p.data) for p in pending
            ]
            committed = spool.append(rows)

            def admitted(done: asyncio.Future[None]) -> None:
                if done.exception() is None:
                    self._admit(pending)
                else:
                    self._outstanding.unreserve(pending)

            committed.add_done_callback(admitted)
            await asyncio.shield(committed)
        self.metrics.received(len(pending))
        return [p.future for p in pending]

    async def flush(self, timeout: float | None = None) -> None:
        """Send everything now and wait until every accepted record has its outcome.

        Raises ``TimeoutError`` when ``timeout`` passes first (nothing is lost:
        the records keep going).
        """
        async with asyncio.timeout(timeout):
            await self._recovered.wait()
            await self._outstanding.drained(self._wake.set)

    async def switch_destination(self, destination: Destination) -> None:
        """Send every record not yet acknowledged to ``destination`` from now on.

        Protocol:

        1. Stop starting calls; records keep being accepted and buffered.
        2. Wait for every call in flight to the old destination to end. Records it
           stored are acknowledged (and never sent again); records it failed go back
           to the buffer.
        3. Connect to the new destination and learn its shard map.
        4. Re-bucket the buffer by the new map and resume sending.
        5. Held records (:meth:`hold_acknowledged_by`) that another destination
           acknowledged are sent again to the new one.

        So a record with a known outcome goes to exactly one destination. The one
        exception is a call that ended *ambiguously* (timeout, broken connection,
        5xx): its records may be stored in the old region and are stored again in the
        new one. Their attempt history says so (``Attempt.ambiguous``), and with
        ``record_ids`` the duplicates carry the same id for idempotent sinks.
        """
        async with self._switch_lock:
            if destination == self._destination:
                return
            self._switching = True
            self._wake.set()
            try:
                await self._idle.wait()
                old = self._client_stack
                client = await self._connect(destination)
                if old is not None:
                    await old.aclose()
                self._destination = destination
                await self._rebind_spool(destination)
                self._predictor.reset()
                await self._predictor.refresh(client, destination.stream_name)
                self._rebucket()
                self._resend(self._holds.take_not_from(destination))
                log.info("producer %s now sends to %s", self.config.name, destination)
            finally:
                self._switching = False
                self._wake.set()

    # -- holding until replicated --------------------------------------------------------

    @property
    def held(self) -> int:
        """Records acknowledged but kept because they may not be replicated yet."""
        return len(self._holds)

    def hold_acknowledged_by(self, destinations: Iterable[Destination]) -> None:
        """Keep records these destinations acknowledge (in the spool) until released.

        Why: with asynchronous replication, a record the primary acknowledged is lost
        for the standby if the primary fails before the replicator copied it. Held
        records are released by :meth:`release_replicated`, or sent again by
        :meth:`switch_destination` (to a new destination) and :meth:`resend_held`,
        which is how a failover reaches RPO 0 (duplicates, with the same record id,
        are expected and absorbed by idempotent sinks).

        The set applies to calls as they *settle*, whenever they were sent: a call in
        flight to a destination that is added is held when it returns. Narrowing the
        set releases nothing already held, and is safe only for a destination with no
        call in flight (one not sent to since the last switch).
        """
        self._holds.hold_acknowledged_by(destinations)

    def release_replicated(self, destination: Destination, watermarks: dict[str, str]) -> int:
        """Drop held records of ``destination`` at or below their shard's watermark.

        ``watermarks`` maps shard id to the newest sequence number the replicator
        copied from that shard. Returns how many records were released.
        """
        released = self._holds.release(destination, watermarks)
        self._forget(released)
        return len(released)

    def resend_held(self, sent_before: float) -> int:
        """Send held records again whose call was sent before ``sent_before`` (wall clock).

        For a replication run that begins at a timestamp: it copies only what arrived
        after it, so its watermarks would pass older held records without their ever
        having been copied. Sent again now, they arrive after the run's start. Returns
        how many records were sent again.
        """
        older = self._holds.take_sent_before(sent_before)
        self._resend(older)
        return len(older)

    def _forget(self, seqs: list[int]) -> None:
        if self._spool is not None and seqs:
            self._spool.remove(seqs)

    def _resend(self, held: list[PendingRecord]) -> None:
        """Put records no longer held back into the buffer, for the current destination."""
        if not held:
            return
        now = time.monotonic()
        again = [record.resent(now) for record in held]
        self._outstanding.reserve(again)
        self._admit(again)
        self.metrics.retried(len(again))
        log.info(
            "producer %s: re-sending %d records not known to be replicated to %s",
            self.config.name,
            len(again),
            self._destination,
        )

    # -- accepting ------------------------------------------------------------------

    def _new_id(self) -> str:
        self._id_counter += 1
        return f"{self._id_prefix}{self._id_counter:016x}"

    def _allocate(self, count: int) -> range:
        first = self._next_seq
        self._next_seq += count
        return range(first, first + count)

    def _admit(self, records: list[PendingRecord]) -> None:
        shard_for = self._applied_map.shard_for
        wake = False
        for record in records:
            wake = self._batcher.add(record, shard_for(record.hash_key)) or wake
        if wake:
            self._wake.set()

    async def _recover(self, spool: Spool) -> None:
        """Re-send what a previous producer left in the spool, before any new record."""
        log.warning(
            "producer %s: re-sending %d records left in spool %s to %s",
            self.config.name,
            spool.depth,
            spool.path,
            self._destination,
        )
        after = 0
        while rows := await spool.pending(after, _RECOVERY_PAGE):
            now = time.monotonic()
            batch = [PendingRecord.from_spooled(row, now) for row in rows]
            await self._outstanding.wait_room(len(batch), sum(r.size for r in batch))
            self._outstanding.reserve(batch)
            self._admit(batch)
            after = rows[-1].row_id
        self._recovered.set()

    async def _rebind_spool(self, destination: Destination) -> None:
        """Waiting records follow an explicit switch to a destination outside the binding."""
        if self._binding.admits(destination):
            return
        self._binding = SpoolBinding.of(destination)
        if self._spool is not None:
            await self._spool.rebind(self._binding)

    # -- sending --------------------------------------------------------------------

    async def _connect(self, destination: Destination) -> KinesisClient:
        """Connect to ``destination``; the caller closes the previous client's stack."""
        config = self.config
        stack = contextlib.AsyncExitStack()
        client_config = quick_config(
            config.connect_timeout_s,
            config.request_timeout_s,
            max_connections=config.max_connections,
            validate=False,
        )
        client: KinesisClient = await stack.enter_async_context(
            connect(destination.endpoint(config.client_options), config=client_config)
        )
        self._client, self._client_stack = client, stack
        return client

    def _rebucket(self) -> None:
        """Predict every buffered record's shard with the latest map (nothing in flight)."""
        self._applied_map = shard_map = self._predictor.map
        for record in self._batcher.drain():
            self._batcher.add(record, shard_map.shard_for(record.hash_key))

    async def _dispatch(self) -> None:
        batcher = self._batcher
        config = self.config
        while True:
            self._wake.clear()
            now = time.monotonic()
            if now >= self._next_sweep:
                self._next_sweep = now + _EXPIRY_SWEEP_S
                for record in batcher.expire(now):
                    self._expire(record)
            waiting = self._switching or self._predictor.map is not self._applied_map
            if waiting and batcher.in_flight == 0 and not self._switching:
                self._rebucket()
                waiting = False
            if not waiting and batcher.in_flight < config.max_connections:
                batch = batcher.take(now, force=self._outstanding.flushing)
                if batch is not None:
                    self._launch(batch)
                    continue
            # Blocked on calls in flight (a map or destination change, or every
            # connection busy): a call's completion wakes the loop.
            busy = waiting or batcher.in_flight >= config.max_connections
            wakeup = None if busy else batcher.next_wakeup(now)
            if self._spool is None and config.record_ttl_s is not None and self._outstanding:
                sweep = self._next_sweep
                wakeup = sweep if wakeup is None else min(wakeup, sweep)
            timeout = None if wakeup is None else max(wakeup - time.monotonic(), 0.0005)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _launch(self, batch: Batch) -> None:
        assert self._client is not None, "start() connects before the dispatcher runs"
        self._idle.clear()
        task = asyncio.create_task(self._call(batch, self._destination, self._client))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _call(self, batch: Batch, destination: Destination, client: KinesisClient) -> None:
        """One PutRecords call and everything its result means for its records."""
        started, begin = time.time(), time.monotonic()
        results: list[PutRecordsResultEntryTypeDef] | None = None
        raised: Failure | None = None
        try:
            response = await client.put_records(
                StreamName=destination.stream_name,
                Records=[_wire(entry) for entry in batch.entries],
            )
            results = response["Records"]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raised = call_failure(exc)
            if raised.code not in _QUIET_CODES:
                log.warning("PutRecords to %s failed: %s: %s", destination, raised.code, exc)
        try:
            await self._settle(batch, destination, client, results, raised, started, begin)
        finally:
            self._batcher.finished()
            if self._batcher.in_flight == 0:
                self._idle.set()
            self._wake.set()

    async def _settle(
        self,
        batch: Batch,
        destination: Destination,
        client: KinesisClient,
        results: list[PutRecordsResultEntryTypeDef] | None,
        raised: Failure | None,
        started: float,
        begin: float,
    ) -> None:
        """Settle one call: classify each entry's outcome, then apply it.

        Classifying is pure: the wire answer (or the exception the whole call raised)
        becomes an :class:`_Outcome` per entry, and an aggregate stored on a shard
        whose range does not hold all its records is reclassified as a retriable
        ``WrongShard`` failure. Applying then acknowledges or holds what was stored,
        and gives up, expires or requeues what failed, before each shard in the batch
        is settled with its back-off.
        """
        duration = time.monotonic() - begin
        name = str(destination)
        outcomes = _read_outcomes(batch, results, raised)
        self.metrics.call(
            name,
            len(batch.entries),
            [o.failure.code for o in outcomes if o.failure is not None] if raised is None else [],
            raised.code if raised else None,
        )
        shard_map = await self._shard_map_after(outcomes, client, destination)
        failed_shards: set[ShardKey] = set()
        acknowledged: list[int] = []
        stored = _Stored()
        for outcome in (_classify(o, shard_map) for o in outcomes):
            entry = outcome.entry
            if outcome.failure is None:
                assert outcome.result is not None
                self._stored(entry, outcome.result, destination, started, duration)
                stored.add(entry)
                acknowledged.extend(self._hold_or_ack(entry, outcome.result, destination, started))
                continue
            self._apply_failure(entry, outcome.failure, destination, started, duration)
            failed_shards.add(entry.shard_id)
        if stored.entries:
            self.metrics.stored(name, stored.users, stored.data_bytes, stored.entries)
        self._forget(acknowledged)
        self._settle_shards(batch, failed_shards)

    async def _shard_map_after(
        self, outcomes: list[_Outcome], client: KinesisClient, destination: Destination
    ) -> ShardMap:
        """The shard map to judge this call by: a record stored on another shard than
        predicted means the map is stale, so it is refreshed first."""
        if any(o.result is not None and o.result["ShardId"] != o.entry.shard_id for o in outcomes):
            return await self._predictor.refresh(client, destination.stream_name)
        return self._applied_map

    def _hold_or_ack(
        self,
        entry: Entry,
        result: PutRecordsResultEntryTypeDef,
        destination: Destination,
        started: float,
    ) -> list[int]:
        """Hold a stored entry's records until replicated when its destination is held,
        else return the spooled records' sequences, to be acknowledged."""
        shard_id, sequence = result["ShardId"], result["SequenceNumber"]
        if self._holds.hold(entry.records, destination, shard_id, sequence, started):
            return []
        return [r.seq for r in entry.records if r.spooled]

    def _apply_failure(
        self,
        entry: Entry,
        failure: Failure,
        destination: Destination,
        started: float,
        duration: float,
    ) -> None:
        """Record the attempt on each of the entry's records, then give up on a
        non-retriable failure, expire a record past its deadline, and requeue the rest."""
        attempt = Attempt(
            destination,
            started,
            duration,
            entry.shard_id,
            failure.code,
            failure.message,
            failure.ambiguous,
        )
        retry: list[PendingRecord] = []
        for record in entry.records:
            record.attempts.append(attempt)
            if not failure.retriable:
                error = RecordFailedError(f"{failure.code}: {failure.message}", record.attempts)
                self._give_up(record, error, failure.code)
            elif record.deadline is not None and record.deadline <= time.monotonic():
                self._expire(record)
            else:
                retry.append(record)
        if retry:
            self.metrics.retried(len(retry))
            self._batcher.requeue(retry, entry.shard_id)

    def _settle_shards(self, batch: Batch, failed_shards: set[ShardKey]) -> None:
        """Settle every shard the batch drew from; a failed one backs off for longer
        with each consecutive failure."""
        now = time.monotonic()
        for shard_id in batch.shards:
            failed = shard_id in failed_shards
            pause = self._backoff.delay(self._batcher.failures(shard_id) + 1) if failed else 0.0
            self._batcher.settle(shard_id, failed, pause, now)

    def _stored(
        self,
        entry: Entry,
        result: PutRecordsResultEntryTypeDef,
        destination: Destination,
        started: float,
        duration: float,
    ) -> None:
        shard_id, sequence = result["ShardId"], result["SequenceNumber"]
        attempt = Attempt(destination, started, duration, shard_id)
        aggregated = entry.aggregated
        for index, record in enumerate(entry.records):
            record.attempts.append(attempt)
            self._finish(
                record,
                shard_id=shard_id,
                sequence_number=sequence,
                sub_sequence_number=index if aggregated else None,
                destination=destination,
            )

    def _expire(self, record: PendingRecord) -> None:
        error = RecordExpiredError(
            f"not acknowledged within record_ttl_s={self.config.record_ttl_s}", record.attempts
        )
        self._give_up(record, error, code="RecordExpired")

    def _give_up(self, record: PendingRecord, error: RecordFailedError, code: str) -> None:
        """Fail the record's outcome; a spooled record stays in the spool as a dead letter.

        Records given up together (one call's worth) are logged as one line and
        buried in one spool commit, once the current step of the event loop is done
        (:class:`~shardline.producer.giving_up.GiveUps`).
        """
        self.metrics.failed(code, 1)
        self._finish(record, error=error)
        row = record.seq if record.spooled else None
        self._give_ups.add(str(error), self._spool, row)

    def _finish(
        self,
        record: PendingRecord,
        *,
        error: ProducerError | None = None,
        shard_id: str | None = None,
        sequence_number: str | None = None,
        sub_sequence_number: int | None = None,
        destination: Destination | None = None,
    ) -> None:
        if not self._outstanding.release(record):
            return
        if not record.future.done():
            record.future.set_result(
                PutOutcome(
                    record.record_id,
                    error is None,
                    tuple(record.attempts),
                    shard_id,
                    sequence_number,
                    sub_sequence_number,
                    destination,
                    error,
                )
            )


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("producer dispatcher stopped", exc_info=task.exception())


#: Failure codes that are routine (throttling) and not worth a warning per call.
_QUIET_CODES = frozenset({"ProvisionedThroughputExceededException"})


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How one entry of a call fared: stored (``result``) or failed (``failure``)."""

    entry: Entry
    result: PutRecordsResultEntryTypeDef | None
    failure: Failure | None


def _read_outcomes(
    batch: Batch, results: list[PutRecordsResultEntryTypeDef] | None, raised: Failure | None
) -> list[_Outcome]:
    """Each entry's outcome: the call's own failure for every entry when it raised,
    else the entry's wire result, failed when it carries an ``ErrorCode``."""
    if results is None:
        assert raised is not None
        return [_Outcome(entry, None, raised) for entry in batch.entries]
    outcomes: list[_Outcome] = []
    for entry, answer in zip(batch.entries, results, strict=True):
        code = answer.get("ErrorCode")
        failure = entry_failure(code, answer.get("ErrorMessage", "")) if code else None
        outcomes.append(_Outcome(entry, None if failure else answer, failure))
    return outcomes


def _classify(outcome: _Outcome, shard_map: ShardMap) -> _Outcome:
    """An aggregate stored on another shard than predicted fails as a retriable
    ``WrongShard`` unless all its records fall in the receiving shard's range:
    KCL-style readers drop an aggregate holding a record outside that range."""
    entry, result = outcome.entry, outcome.result
    if result is None or not entry.aggregated or result["ShardId"] == entry.shard_id:
        return outcome
    bounds = shard_map.range_of(result["ShardId"])
    if bounds is not None and all(bounds[0] <= r.hash_key <= bounds[1] for r in entry.records):
        return outcome
    return _Outcome(entry, result, Failure("WrongShard", f"stored on {result['ShardId']}", True))


def _wire(entry: Entry) -> PutRecordsRequestEntryTypeDef:
    item: PutRecordsRequestEntryTypeDef = {"Data": entry.data, "PartitionKey": entry.partition_key}
    if entry.explicit_hash_key is not None:
        item["ExplicitHashKey"] = entry.explicit_hash_key
    return item
