"""Shard prediction: which open shard a hash key belongs to, from ListShards.

The producer groups records by predicted shard to aggregate them, to rate-limit per
shard and to keep one request in flight per shard in ordered mode. A prediction can
go stale when the stream is resharded; PutRecords then reports a different ShardId
than predicted, and the producer refreshes the map (:class:`ShardPredictor`).

Error handling: a failed ListShards keeps the previous map (or the empty map, under
which every record is sent unaggregated to the "unknown shard" group) and is tried
again on the next trigger; prediction only ever affects efficiency and ordering
groups, never whether a record is stored.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from shardline.kinesis import ShardInfo, list_all_shards

if TYPE_CHECKING:
    from types_aiobotocore_kinesis import KinesisClient

log = logging.getLogger(__name__)


class ShardMap:
    """Hash-key ranges of a stream's shards; prediction uses the open ones."""

    def __init__(self, shards: Iterable[ShardInfo]) -> None:
        listed = list(shards)
        self._ranges = {s.shard_id: s.hash_range for s in listed}
        opened = sorted((s for s in listed if s.is_open), key=lambda s: s.starting_hash_key)
        self._starts = [s.starting_hash_key for s in opened]
        self._open = opened

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShardMap):
            return NotImplemented
        return self._ranges == other._ranges and self._open == other._open

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self._open)

    def shard_for(self, hash_key: int) -> str | None:
        """The open shard whose range holds ``hash_key``; None when the map has no answer."""
        index = bisect.bisect_right(self._starts, hash_key) - 1
        if index < 0:
            return None
        shard = self._open[index]
        return shard.shard_id if hash_key <= shard.ending_hash_key else None

    def range_of(self, shard_id: str) -> tuple[int, int] | None:
        """Hash-key range of any listed shard, open or closed."""
        return self._ranges.get(shard_id)


EMPTY_MAP = ShardMap([])


class ShardPredictor:
    """The latest shard map, refreshed on demand with concurrent requests coalesced.

    ``min_interval_s`` spaces refreshes out: a burst of wrong-shard results after a
    reshard costs one ListShards call, not one per result.
    """

    def __init__(self, min_interval_s: float = 0.5) -> None:
        self.map: ShardMap = EMPTY_MAP
        self._min_interval_s = min_interval_s
        self._last = -float("inf")
        self._running: asyncio.Task[ShardMap] | None = None

    def reset(self) -> None:
        """Forget the map (the destination changed)."""
        self.map = EMPTY_MAP
        self._last = -float("inf")

    async def refresh(self, client: KinesisClient, stream_name: str) -> ShardMap:
        """Fetch the map unless one was fetched moments ago; failures keep the old map."""
        if self._running is None:
            if time.monotonic() - self._last < self._min_interval_s:
                return self.map
            self._running = asyncio.create_task(self._fetch(client, stream_name))
        task = self._running
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._running is task:
                self._running = None

    async def _fetch(self, client: KinesisClient, stream_name: str) -> ShardMap:
        self._last = time.monotonic()
        try:
            fresh = ShardMap(await list_all_shards(client, stream_name))
            if fresh != self.map:  # keep the object: the producer re-buckets on a new one
                self.map = fresh
        except Exception as exc:  # any failure: keep predicting with what we have
            log.warning(
                "ListShards on %s failed (%s); keeping the previous shard map", stream_name, exc
            )
        return self.map
