"""Buffering and batching: from user records to PutRecords calls.

Records wait in one queue per predicted shard (``None`` is the group of records
whose shard is unknown: no shard map yet). :meth:`Batcher.take` builds one
PutRecords call when it is time to send:

1. A shard is *eligible* when it has records, is not pausing after a failure, has
   rate allowance left and, in ordered mode, has no call in flight.
2. It is time to send when a flush is pending, an eligible shard's oldest record has
   waited ``max_buffered_time_s``, or the eligible records fill a whole call.
3. Eligible shards then contribute in turn, overdue ones first, until the call
   holds ``collection_max_count`` Kinesis records or ``collection_max_size`` bytes:
   - with aggregation, a shard's records are packed into KPL aggregates of up to
     ``aggregation_max_size`` bytes (a lone record, or one too large for an
     aggregate, is sent as it is);
   - in ordered mode a shard contributes one aggregate, or without aggregation at
     most one record per partition key, because Kinesis may store the entries of
     one call out of order when some of them fail.
4. The shards in the call are marked in flight until :meth:`Batcher.settle`.

Failed records go back to the front of their shard's queue (in put order in
ordered mode) and the shard pauses for the back-off. Everything here is pure and
synchronous: the producer supplies the clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from shardline.framing.aggregation import (
    AGGREGATE_PARTITION_KEY,
    DIGEST_SIZE,
    MAGIC,
    AggregateSizer,
    aggregate,
)
from shardline.producer.config import ProducerConfig
from shardline.producer.ratelimit import ShardRateLimiter
from shardline.producer.records import PendingRecord

ShardKey = str | None
_EMPTY_AGGREGATE = len(MAGIC) + DIGEST_SIZE
#: A record this far under the aggregate limit surely fits an empty aggregate (one
#: record's framing and table entry cost less), so the exact check is skipped.
_SLACK = 128


@dataclass(slots=True, eq=False)
class Entry:
    """One Kinesis record of a PutRecords call: a user record or a KPL aggregate."""

    shard_id: ShardKey
    records: list[PendingRecord]
    data: bytes
    partition_key: str
    explicit_hash_key: str | None
    #: Bytes Kinesis counts (data + UTF-8 partition key); set once, read on every
    #: batching decision.
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.data) + len(self.partition_key.encode())

    @property
    def aggregated(self) -> bool:
        return len(self.records) > 1


@dataclass(slots=True, eq=False)
class Batch:
    """One PutRecords call's worth of entries."""

    entries: list[Entry] = field(default_factory=list)
    size: int = 0

    @property
    def shards(self) -> set[ShardKey]:
        return {entry.shard_id for entry in self.entries}


@dataclass(slots=True, eq=False)
class _ShardQueue:
    records: deque[PendingRecord] = field(default_factory=deque)
    bytes: int = 0
    in_flight: int = 0
    paused_until: float = 0.0
    #: Consecutive failed calls for this shard (drives the back-off).
    failures: int = 0


def _plain(shard_id: ShardKey, record: PendingRecord) -> Entry:
    return Entry(shard_id, [record], record.data, record.partition_key, record.explicit_hash_key)


def _aggregate(shard_id: ShardKey, records: list[PendingRecord]) -> Entry:
    if len(records) == 1:
        return _plain(shard_id, records[0])
    return Entry(
        shard_id,
        records,
        aggregate(records),
        AGGREGATE_PARTITION_KEY,
        # The KPL's rule: the aggregate goes where its first record's hash key goes.
        str(records[0].hash_key),
    )


@dataclass(slots=True, eq=False)
class _ShardTake:
    """One shard's contribution to a batch, built record by record from the front of
    its queue.

    :meth:`aggregated` and :meth:`plain` each consider the queue's first record and
    return False when the shard contributes nothing more to this call. Records moved
    into the call are in ``taken``; in ordered mode, records set aside because their
    partition key is already in the call are in ``kept``, to go back to the front.
    """

    config: ProducerConfig
    limiter: ShardRateLimiter | None
    ordered: bool
    shard_id: ShardKey
    records: deque[PendingRecord]
    batch: Batch
    now: float
    entries: list[Entry] = field(default_factory=list)
    taken: list[PendingRecord] = field(default_factory=list)
    kept: list[PendingRecord] = field(default_factory=list)
    seen_keys: set[str] = field(default_factory=set)
    group: list[PendingRecord] = field(default_factory=list)
    sizer: AggregateSizer = field(default_factory=AggregateSizer)

    def room(self, size: int, new_entry: bool) -> bool:
        """Whether the call, and the shard's rate allowance, still take ``size`` bytes."""
        count = len(self.batch.entries) + len(self.entries) + (1 if self.group else 0)
        if new_entry and count >= self.config.collection_max_count:
            return False
        if self.batch.size + size > self.config.collection_max_size:
            return False
        return self.limiter is None or self.limiter.allows(self.shard_id or "", size, self.now)

    def emit(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.batch.size += entry.size
        if self.limiter is not None:
            self.limiter.consume(self.shard_id or "", entry.size, self.now)

    def close_group(self) -> None:
        if self.group:
            self.emit(_aggregate(self.shard_id, self.group[:]))
            self.group.clear()

    def aggregated(self, record: PendingRecord) -> bool:
        """Add ``record`` to the open aggregate, closing it first when it is full."""
        key, explicit = record.partition_key, record.explicit_hash_key
        length = len(record.data)
        max_size = self.config.aggregation_max_size
        if record.size + _SLACK > max_size and (
            _EMPTY_AGGREGATE + AggregateSizer().added_size(key, explicit, length) > max_size
        ):
            return self._alone(record)
        grow = self.sizer.added_size(key, explicit, length)
        if self.group and self.sizer.size + grow > max_size:
            if self.ordered:  # one (atomic) aggregate per shard per call
                return False
            self.close_group()
            self.sizer = AggregateSizer()
            grow = self.sizer.added_size(key, explicit, length)
        projected = self.sizer.size + grow + len(AGGREGATE_PARTITION_KEY)
        if not self.room(projected, new_entry=not self.group):
            return False
        self.taken.append(self.records.popleft())
        self.sizer.add(key, explicit, grow)
        self.group.append(record)
        return True

    def _alone(self, record: PendingRecord) -> bool:
        """A record too large for any aggregate travels alone, after the group."""
        if self.group and self.ordered:
            return False
        self.close_group()
        self.sizer = AggregateSizer()
        if not self.room(record.size, new_entry=True):
            return False
        self.taken.append(self.records.popleft())
        self.emit(_plain(self.shard_id, record))
        return not self.ordered

    def plain(self, record: PendingRecord) -> bool:
        """Send ``record`` as it is; in ordered mode, one record per partition key."""
        if self.ordered and record.partition_key in self.seen_keys:
            self.kept.append(self.records.popleft())
            return True
        if not self.room(record.size, new_entry=True):
            return False
        self.taken.append(self.records.popleft())
        self.seen_keys.add(record.partition_key)
        self.emit(_plain(self.shard_id, record))
        return True


class Batcher:
    """Per-shard queues of pending records and the rules that turn them into calls."""

    def __init__(self, config: ProducerConfig, limiter: ShardRateLimiter | None) -> None:
        self.config = config
        self.limiter = limiter
        self.ordered = config.ordering == "per-key"
        self._queues: dict[ShardKey, _ShardQueue] = {}
        self.count = 0
        self.bytes = 0
        self.in_flight = 0
        self._turn = 0

    # -- adding and removing ------------------------------------------------------

    def add(self, record: PendingRecord, shard_id: ShardKey) -> bool:
        """Queue a record; True when the dispatcher should look again (a shard got its
        first record, so a new deadline runs, or the buffer just filled a call)."""
        queue = self._queues.get(shard_id)
        if queue is None:
            queue = self._queues[shard_id] = _ShardQueue()
        first = not queue.records
        was_full = self._full(self.count, self.bytes)
        queue.records.append(record)
        queue.bytes += record.size
        self.count += 1
        self.bytes += record.size
        return first or (not was_full and self._full(self.count, self.bytes))

    def requeue(self, records: list[PendingRecord], shard_id: ShardKey) -> None:
        """Put records that must be sent again back in front of their shard's queue."""
        queue = self._queues.get(shard_id)
        if queue is None:
            queue = self._queues[shard_id] = _ShardQueue()
        if self.ordered:
            merged = sorted([*records, *queue.records], key=lambda r: r.seq)
            queue.records = deque(merged)
        else:
            queue.records.extendleft(reversed(records))
        size = sum(r.size for r in records)
        queue.bytes += size
        self.count += len(records)
        self.bytes += size

    def drain(self) -> list[PendingRecord]:
        """Remove every queued record (in put order) to bucket them afresh.

        Only valid with nothing in flight: the shard map or destination is changing.
        """
        assert self.in_flight == 0, "drain() with calls in flight"
        records = sorted((r for q in self._queues.values() for r in q.records), key=lambda r: r.seq)
        self._queues.clear()
        self.count = self.bytes = 0
        if self.limiter is not None:
            self.limiter.forget()
        return records

    def expire(self, now: float) -> list[PendingRecord]:
        """Remove and return the queued records whose deadline has passed."""
        expired: list[PendingRecord] = []
        for queue in self._queues.values():
            if not any(r.deadline is not None and r.deadline <= now for r in queue.records):
                continue
            kept: deque[PendingRecord] = deque()
            for record in queue.records:
                if record.deadline is not None and record.deadline <= now:
                    expired.append(record)
                    queue.bytes -= record.size
                else:
                    kept.append(record)
            queue.records = kept
        self.count -= len(expired)
        self.bytes -= sum(r.size for r in expired)
        return expired

    # -- results ------------------------------------------------------------------

    def settle(self, shard_id: ShardKey, failed: bool, pause_s: float, now: float) -> None:
        """A call carrying the shard finished; a failure pauses the shard for ``pause_s``."""
        queue = self._queues.get(shard_id)
        if queue is None:
            queue = self._queues[shard_id] = _ShardQueue()
        queue.in_flight -= 1
        if failed:
            queue.failures += 1
            queue.paused_until = max(queue.paused_until, now + pause_s)
        else:
            queue.failures = 0

    def failures(self, shard_id: ShardKey) -> int:
        queue = self._queues.get(shard_id)
        return queue.failures if queue is not None else 0

    def finished(self) -> None:
        """A call is over (its shards were settled)."""
        self.in_flight -= 1

    # -- scheduling ---------------------------------------------------------------

    def _eligible(self, shard_id: ShardKey, queue: _ShardQueue, now: float) -> bool:
        if not queue.records or queue.paused_until > now:
            return False
        if self.ordered and queue.in_flight:
            return False
        if self.limiter is not None and shard_id is not None:
            return self.limiter.allows(shard_id, queue.records[0].size, now)
        return True

    def _full(self, count: int, size: int) -> bool:
        if size >= self.config.collection_max_size:
            return True
        return not self.config.aggregation and count >= self.config.collection_max_count

    def next_wakeup(self, now: float) -> float | None:
        """When :meth:`take` may next have something to send (None: only on an event)."""
        soonest: float | None = None
        for shard_id, queue in self._queues.items():
            if not queue.records:
                continue
            if queue.paused_until > now:
                at = queue.paused_until
            elif self.ordered and queue.in_flight:
                continue  # woken when the call completes
            elif (
                self.limiter is not None
                and shard_id is not None
                and not self.limiter.allows(shard_id, queue.records[0].size, now)
            ):
                at = self.limiter.ready_at(shard_id, queue.records[0].size, now)
            else:
                at = queue.records[0].buffered_at + self.config.max_buffered_time_s
            soonest = at if soonest is None else min(soonest, at)
        return soonest

    def take(self, now: float, force: bool = False) -> Batch | None:
        """The next PutRecords call to make, or None when nothing is due."""
        eligible = [(s, q) for s, q in self._queues.items() if self._eligible(s, q, now)]
        if not eligible:
            return None
        deadline = now - self.config.max_buffered_time_s
        overdue = [(s, q) for s, q in eligible if q.records[0].buffered_at <= deadline]
        waiting_count = sum(len(q.records) for _, q in eligible)
        waiting_bytes = sum(q.bytes for _, q in eligible)
        if not (force or overdue or self._full(waiting_count, waiting_bytes)):
            return None
        # Overdue shards first, then the rest, starting at a rotating offset for fairness.
        self._turn = (self._turn + 1) % len(eligible)
        rotated = eligible[self._turn :] + eligible[: self._turn]
        first = {s for s, _ in overdue}
        order = [p for p in rotated if p[0] in first] + [p for p in rotated if p[0] not in first]
        batch = Batch()
        for shard_id, queue in order:
            entries = self._take_shard(shard_id, queue, batch, now)
            if entries:
                queue.in_flight += 1
                batch.entries.extend(entries)
            if len(batch.entries) >= self.config.collection_max_count:
                break
            if batch.size >= self.config.collection_max_size:
                break
        if not batch.entries:
            return None
        self.in_flight += 1
        return batch

    def _take_shard(
        self, shard_id: ShardKey, queue: _ShardQueue, batch: Batch, now: float
    ) -> list[Entry]:
        """Move records from one shard's queue into entries for ``batch``."""
        config = self.config
        limiter = self.limiter if shard_id is not None else None
        take = _ShardTake(config, limiter, self.ordered, shard_id, queue.records, batch, now)
        step = take.aggregated if config.aggregation and shard_id is not None else take.plain
        for _ in range(2 * config.collection_max_count):  # bounds the ordered-mode scan
            if not queue.records or not step(queue.records[0]):
                break
        take.close_group()
        queue.records.extendleft(reversed(take.kept))
        size = sum(r.size for r in take.taken)
        queue.bytes -= size
        self.count -= len(take.taken)
        self.bytes -= size
        return take.entries
