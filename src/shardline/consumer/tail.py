"""Read a stream's user records as they arrive, without leases or checkpoints.

What ``shardline tail`` and the web console's live tail show. Every shard is read
with GetRecords (the consumer's polling retriever). Lineage is followed: a child
shard is read once its parents have ended, so each partition key's records come in
order across a reshard. Each Kinesis record is opened as a consumer would:

1. a replication origin marker is removed and reported (``origin_region``);
2. a KPL aggregate is split into its user records (with the KCL's hash-range
   filter: an aggregate holding a record outside the shard's range is dropped);
3. a record-id envelope is removed and reported (``record_id``).

Resource handling: :func:`tail_records` is an async generator; closing it (leaving
the ``async for``, or ``aclose()``) cancels the shard readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from shardline.consumer.config import ConsumerConfig
from shardline.consumer.positions import Position
from shardline.consumer.retrieval import PollingRetriever
from shardline.framing import aggregation, envelope, origin
from shardline.kinesis import ShardInfo, list_all_shards

#: User records read ahead of the reader, at most (readers wait beyond it).
QUEUE_RECORDS = 1000


@dataclass(frozen=True)
class TailedRecord:
    """One user record as read from a shard, with what was unwrapped from it."""

    shard_id: str
    sequence_number: str
    sub_sequence_number: int
    partition_key: str
    arrival: dt.datetime
    payload: bytes
    record_id: str | None = None
    origin_region: str | None = None
    aggregated: bool = False


def open_record(
    record: dict[str, Any], shard_id: str, hash_range: tuple[int, int] | None
) -> list[TailedRecord]:
    """The user records inside one GetRecords record (module docstring, steps 1-3)."""
    came_from, data = origin.unwrap(record["Data"])
    users = aggregation.deaggregate(
        data, record["PartitionKey"], record.get("ExplicitHashKey"), hash_range=hash_range
    )
    aggregated = aggregation.is_aggregated(data)
    out = []
    for user in users:
        opened = envelope.decode(user.data)
        out.append(
            TailedRecord(
                shard_id=shard_id,
                sequence_number=record["SequenceNumber"],
                sub_sequence_number=user.sub_sequence_number,
                partition_key=user.partition_key,
                arrival=record["ApproximateArrivalTimestamp"],
                payload=opened.payload,
                record_id=opened.record_id,
                origin_region=came_from,
                aggregated=aggregated,
            )
        )
    return out


@dataclass
class _Lineage:
    """Which shards are being read, which ended, and each shard's parents and range."""

    parents: dict[str, set[str]] = field(default_factory=dict)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)

    def learn(self, shard: ShardInfo) -> None:
        self.parents.setdefault(shard.shard_id, set()).update(shard.parents)
        self.ranges[shard.shard_id] = shard.hash_range

    def ready(self) -> list[str]:
        """Shards not started whose listed parents have all ended."""
        return [
            shard
            for shard, parents in self.parents.items()
            if shard not in self.started
            and all(p in self.ended or p not in self.parents for p in parents)
        ]


async def tail_records(
    client: Any, config: ConsumerConfig, start: Position
) -> AsyncGenerator[TailedRecord, None]:
    """Every user record of ``config.stream_name`` from ``start`` on, as it arrives.

    ``client`` is an open aiobotocore Kinesis client; ``start`` is LATEST,
    TRIM_HORIZON or AT_TIMESTAMP. Runs until the caller stops iterating.
    """
    lineage = _Lineage()
    queue: asyncio.Queue[TailedRecord] = asyncio.Queue(QUEUE_RECORDS)
    tasks: set[asyncio.Task[None]] = set()
    for shard in await list_all_shards(client, config.stream_name):
        if start.sequence == "LATEST" and not shard.is_open:
            continue  # a closed shard gets no new records
        lineage.learn(shard)
    # A child shard found while tailing is read from its start (its parent's
    # records up to the reshard were read already), unless a timestamp applies.
    later = start if start.sequence == "AT_TIMESTAMP" else Position("TRIM_HORIZON")

    async def read(shard_id: str, position: Position) -> None:
        retriever = PollingRetriever(client, config, shard_id)
        async for fetched in retriever.batches(position):
            for record in fetched.records:
                for user in open_record(record, shard_id, lineage.ranges.get(shard_id)):
                    await queue.put(user)
            if fetched.shard_end:
                lineage.ended.add(shard_id)
                for child in fetched.children:
                    lineage.learn(ShardInfo.from_wire(child))
                launch(later)

    def launch(position: Position) -> None:
        for shard_id in lineage.ready():
            lineage.started.add(shard_id)
            task = asyncio.create_task(read(shard_id, position))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    launch(start)
    try:
        while True:
            yield await queue.get()
    finally:
        for task in list(tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
