"""The replicating record processor: copies one source shard's records to the target.

Per batch, as numbered steps:

1. Drop records whose origin marker names the target region (they came from there:
   loop prevention), and turn the rest into target entries: same partition key,
   the explicit hash key preserved (see :func:`target_entries`), KPL aggregates
   re-packed whole, data wrapped with the origin marker.
2. Send the entries with PutRecords, in order, in calls of at most 500 records and
   5 MiB. After a partial failure everything from the first failed entry on is sent
   again, so the target receives the shard's records in source order (a record
   that succeeded after a failed one may then be stored twice; idempotent readers
   absorb that, a reordering they could not). A failed call is retried with
   back-off, forever: a replicator must not skip.
3. Only after the target acknowledged the whole batch: checkpoint the source lease
   and advance the shard's watermark. A replicator killed anywhere before step 3
   resumes from the previous checkpoint and copies the batch again (no gap).

Error handling: when the run is fenced (a newer control decision replaced it) or
asked to stop, step 2 gives up with
:class:`~shardline.replication.progress.ReplicationStopped` and nothing is
checkpointed; the worker then restarts the processor from the checkpoint or stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shardline import aggregation
from shardline.backoff import Backoff
from shardline.consumer.checkpoint import Checkpointer
from shardline.consumer.processor import InitializationInput, ProcessRecordsInput, RecordProcessor
from shardline.consumer.records import ConsumerRecord
from shardline.replication import origin
from shardline.replication.progress import ReplicationProgress

log = logging.getLogger(__name__)

MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5 * 1024 * 1024
_BACKOFF_INITIAL_S = 0.05
_BACKOFF_MAX_S = 2.0


@dataclass(frozen=True, slots=True)
class TargetEntry:
    data: bytes
    partition_key: str
    explicit_hash_key: str | None

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode())

    def wire(self) -> dict[str, Any]:
        item: dict[str, Any] = {"Data": self.data, "PartitionKey": self.partition_key}
        if self.explicit_hash_key is not None:
            item["ExplicitHashKey"] = self.explicit_hash_key
        return item


def _plain_hash_key(record: ConsumerRecord, shard_range: tuple[int, int] | None) -> str | None:
    """The explicit hash key a plain record needs to land where it landed in the source.

    GetRecords does not return a record's explicit hash key. When the partition
    key's MD5 lies inside the source shard's range, routing by the partition key
    alone reproduces the placement (and the producer either sent no explicit key or
    one consistent with it). Otherwise the producer did send one; the shard's
    starting hash key stands in for it, which keeps the record on the matching
    shard when both streams have the same shard layout.
    """
    if shard_range is None:
        return None
    hashed = aggregation.hash_key_of(record.partition_key)
    low, high = shard_range
    return None if low <= hashed <= high else str(low)


def target_entries(
    records: list[ConsumerRecord],
    target_region: str,
    source_region: str,
    shard_range: tuple[int, int] | None,
    mark_origin: bool,
) -> list[TargetEntry]:
    """Step 1 of the module protocol: what to send for ``records``, in order."""
    entries: list[TargetEntry] = []
    index = 0
    while index < len(records):
        record = records[index]
        index += 1
        if record.origin_region == target_region:
            continue
        if record.aggregated:
            group = [record]
            while (
                index < len(records)
                and records[index].aggregated
                and records[index].sequence_number == record.sequence_number
            ):
                group.append(records[index])
                index += 1
            data = aggregation.aggregate(group)
            key = aggregation.AGGREGATE_PARTITION_KEY
            hash_key: str | None = str(
                aggregation.hash_key_of(group[0].partition_key, group[0].explicit_hash_key)
            )
        else:
            data = record.data
            key = record.partition_key
            hash_key = _plain_hash_key(record, shard_range)
        if mark_origin:
            data = origin.mark(record.origin_region or source_region, data)
        entries.append(TargetEntry(data, key, hash_key))
    return entries


def chunks(entries: list[TargetEntry]) -> list[list[TargetEntry]]:
    """Cut ``entries`` into PutRecords calls within Kinesis's count and size limits."""
    calls: list[list[TargetEntry]] = []
    current: list[TargetEntry] = []
    size = 0
    for entry in entries:
        if current and (len(current) == MAX_CALL_RECORDS or size + entry.size > MAX_CALL_BYTES):
            calls.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.size
    if current:
        calls.append(current)
    return calls


class CopyingProcessor(RecordProcessor):
    """Replicates one source shard into the target stream (see the module protocol)."""

    def __init__(
        self,
        target: Any,
        target_stream: str,
        source_region: str,
        target_region: str,
        progress: ReplicationProgress,
        shard_range: Callable[[str], tuple[int, int] | None],
        mark_origin: bool = True,
    ) -> None:
        self._target = target
        self._target_stream = target_stream
        self._source_region = source_region
        self._target_region = target_region
        self._progress = progress
        self._shard_range = shard_range
        self._mark_origin = mark_origin

    async def initialize(self, init: InitializationInput) -> None:
        await self._progress.check_retention_gap(init.shard_id, init.checkpoint)

    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        """Checkpoint nothing more: every batch was checkpointed once the target had it,
        and a batch that was not copied must not be checkpointed on the way out."""

    async def process_records(self, batch: ProcessRecordsInput) -> None:
        records = batch.records
        if not records:
            self._progress.idle(batch.shard_id, batch.millis_behind_latest)
            return
        entries = target_entries(
            records,
            self._target_region,
            self._source_region,
            self._shard_range(batch.shard_id),
            self._mark_origin,
        )
        for call in chunks(entries):
            await self._put_in_order(call)
        last = records[-1]
        await batch.checkpointer.checkpoint(last)
        self._progress.advance(
            batch.shard_id,
            last.sequence_number,
            last.approximate_arrival_timestamp.timestamp(),
            batch.millis_behind_latest,
            copied=len(entries),
            skipped=len(records) - len(entries),
        )

    async def _put_in_order(self, entries: list[TargetEntry]) -> None:
        """Step 2: PutRecords until every entry is stored, resending from the first failure."""
        backoff = Backoff(_BACKOFF_INITIAL_S, _BACKOFF_MAX_S)
        while entries:
            self._progress.raise_if_stopped()
            try:
                response = await self._target.put_records(
                    StreamName=self._target_stream, Records=[e.wire() for e in entries]
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._progress.put_failed()
                log.warning("replication put to %s failed: %s", self._target_region, exc)
                await self._progress.sleep_unless_stopped(backoff.next_delay())
                continue
            # The call itself succeeded: a health sample for the region, even when some
            # entries were refused (throttling is not an outage; the producer counts alike).
            self._progress.put_succeeded()
            results = response["Records"]
            first_failed = next((i for i, r in enumerate(results) if r.get("ErrorCode")), None)
            if first_failed is None:
                return
            entries = entries[first_failed:]
            await self._progress.sleep_unless_stopped(backoff.next_delay())
