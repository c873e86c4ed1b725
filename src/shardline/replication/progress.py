"""What one replication run has achieved, published to the control store.

The copying processors (one per source shard) tell this object how far each shard
got; a publisher task writes it to the control store every ``publish_interval_s``:

- **watermarks** (fenced by the run's generation): per source shard, the newest
  source sequence number the target acknowledged. Producers release spooled records
  at or below it. A refused write means a newer control decision ended this run: the
  run is marked *fenced* and every copier stops before its next write.
- a **report** (:class:`~shardline.stores.reports.ReplicatorReport`): per-shard lag
  (MillisBehindLatest of the source read), records copied and skipped, and any
  retention gaps; and a ``health`` report of its puts to the target.

Retention gaps: a copier resuming from a checkpoint first reads the checkpointed
record itself (AT_SEQUENCE_NUMBER). If the source no longer has it, the records
after it may have been trimmed before they were copied; the gap is logged as an
error and reported instead of being skipped silently. Replication then continues
from the oldest record still there: what was lost in the source is still in the
producers' spools (never released, as no watermark passed it), and they re-send it
on failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from shardline.consumer.positions import Position
from shardline.errors import ShardlineError
from shardline.failover.health import KEEP_SECONDS, HealthCounts, health_report
from shardline.stores.control import ControlStore, ControlStoreError, StaleEpochError, Watermark
from shardline.stores.reports import ReplicatedShard, ReplicatorReport, RetentionGap

log = logging.getLogger(__name__)

#: Pages read past empty answers when checking a checkpoint for a retention gap.
_GAP_CHECK_PAGES = 5


class ReplicationStopped(ShardlineError):
    """The replication run was fenced or stopped while a batch was being copied."""


@dataclass
class _ShardProgress:
    sequence_number: str | None = None
    arrival: float = 0.0
    millis_behind: int = 0
    copied: int = 0
    skipped: int = 0
    dirty: bool = False


@dataclass
class ReplicationProgress:
    """Shared by the copiers of one run; see the module docstring."""

    store: ControlStore
    generation: int
    source_region: str
    target_region: str
    stream: str
    component: str
    source: Any = None
    publish_interval_s: float = 0.5
    shards: dict[str, _ShardProgress] = field(default_factory=dict)
    gaps: list[RetentionGap] = field(default_factory=list)
    puts: HealthCounts = field(default_factory=HealthCounts)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    fenced: bool = False

    # -- from the copiers ---------------------------------------------------------------

    def advance(
        self,
        shard_id: str,
        sequence_number: str,
        arrival: float,
        millis_behind: int | None,
        copied: int,
        skipped: int,
    ) -> None:
        shard = self.shards.setdefault(shard_id, _ShardProgress())
        shard.sequence_number = sequence_number
        shard.arrival = arrival
        shard.millis_behind = millis_behind or 0
        shard.copied += copied
        shard.skipped += skipped
        shard.dirty = True

    def idle(self, shard_id: str, millis_behind: int | None) -> None:
        shard = self.shards.setdefault(shard_id, _ShardProgress())
        shard.millis_behind = millis_behind or 0

    def put_succeeded(self) -> None:
        """A PutRecords call to the target returned (a good health sample)."""
        self.puts.record(ok=1)

    def put_failed(self) -> None:
        """A PutRecords call to the target raised (a failed health sample)."""
        self.puts.record(errors=1)

    def raise_if_stopped(self) -> None:
        if self.stopped.is_set():
            raise ReplicationStopped(
                "replication run stopped" + (" (fenced)" if self.fenced else "")
            )

    async def sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopped.wait(), seconds)
        self.raise_if_stopped()

    async def check_retention_gap(self, shard_id: str, checkpoint: Position) -> None:
        """Report a gap when the checkpointed source record is gone (module doc)."""
        if checkpoint.is_sentinel or self.source is None:
            return
        first: str | None = None
        try:
            iterator = (
                await self.source.get_shard_iterator(
                    StreamName=self.stream,
                    ShardId=shard_id,
                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                    StartingSequenceNumber=checkpoint.sequence,
                )
            )["ShardIterator"]
            # Kinesis may answer with empty pages before the data: read on until a
            # record or the tip (a few pages at most).
            for _ in range(_GAP_CHECK_PAGES):
                result = await self.source.get_records(ShardIterator=iterator, Limit=1)
                if result["Records"]:
                    first = result["Records"][0]["SequenceNumber"]
                    break
                iterator = result.get("NextShardIterator")
                if not iterator or result.get("MillisBehindLatest", 0) == 0:
                    first = "nothing"
                    break
        except Exception as exc:  # a checkpoint Kinesis refuses is a gap too
            first = f"refused: {exc}"
        if first is None or first == checkpoint.sequence:
            return
        self.gaps.append(RetentionGap(shard_id, checkpoint.sequence, first))
        log.error(
            "retention gap on %s/%s: checkpointed record %s is no longer in the source; "
            "records after it may have expired before they were copied (resuming at %s)",
            self.stream,
            shard_id,
            checkpoint.sequence,
            first,
        )

    # -- publishing ---------------------------------------------------------------------

    async def publish(self) -> None:
        """Write watermarks (fenced) and the report once."""
        now = time.time()
        marks = []
        for shard_id, shard in self.shards.items():
            if shard.dirty and shard.sequence_number is not None:
                marks.append(
                    Watermark(
                        shard_id, shard.sequence_number, shard.arrival, shard.millis_behind, now
                    )
                )
        if marks:
            await self.store.put_watermarks(self.generation, self.source_region, self.stream, marks)
            for mark in marks:
                self.shards[mark.shard_id].dirty = False
        await self.store.put_report(self.component, self.report(), now)
        await self.store.put_report(
            *health_report(self.component, self.target_region, self.puts, now - KEEP_SECONDS)
        )

    def report(self) -> ReplicatorReport:
        """The run's ``replicator`` report (module docstring)."""
        return ReplicatorReport(
            source=self.source_region,
            target=self.target_region,
            stream=self.stream,
            generation=self.generation,
            shards={
                shard_id: ReplicatedShard(s.sequence_number, s.millis_behind, s.copied, s.skipped)
                for shard_id, s in self.shards.items()
            },
            gaps=tuple(self.gaps),
        )

    async def run_publisher(self) -> None:
        """Publish every interval until stopped; a fenced write stops the run."""
        while not self.stopped.is_set():
            try:
                await self.publish()
            except StaleEpochError:
                log.warning("replication generation %d was replaced: stopping", self.generation)
                self.fenced = True
                self.stopped.set()
                return
            except ControlStoreError as exc:
                log.warning("publishing replication progress failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), self.publish_interval_s)
