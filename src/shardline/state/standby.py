"""Restoring state in another region, where sequence numbers mean nothing.

A replicated stream has its own shards and sequence numbers (KCL #187: checkpoint
namespaces differ per region), so positions are mapped by *time*: the standby
consumer starts at ``AT_TIMESTAMP`` = the earliest "last applied record's arrival
time" over the source's frontier shards, minus a buffer (clock skew, replication
reordering). Records between that time and each source shard's exact position are
processed again: duplicates are expected, losses are not, which is the accepted
method for asynchronous replication (see the failover design).

Keyed state is redistributed over the target stream's open shards by hash range
(partition keys hash the same everywhere); the whole-processor value goes to every
target shard as ``combine(frontier values)``.

Steps: 1. read and verify the source (a snapshot, or every shard's latest
checkpoint, typically from the replica store the primary wrote to); 2. flatten it
across the lineage; 3. write, for each open target shard, a checkpoint at
position AT_TIMESTAMP into the target store; 4. return the timestamp, which the
standby consumer uses as ``initial_timestamp`` with a fresh lease table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from shardline.consumer.positions import Position
from shardline.kinesis import ShardInfo
from shardline.state.checkpoints import CheckpointSeries, Restored, latest_checkpoints
from shardline.state.crypto import KeyRing
from shardline.state.keyed import KeyedState, ShardState
from shardline.state.lineage import Combine, first_value, frontier, merged_keyed, resume_time
from shardline.state.manifest import Manifest
from shardline.state.snapshots import Snapshots
from shardline.state.stores.base import ObjectStore
from shardline.stores.leases import AT_TIMESTAMP, TRIM_HORIZON


@dataclass(frozen=True)
class StandbyRestore:
    """Where the standby consumer starts: AT_TIMESTAMP ``timestamp`` (None: TRIM_HORIZON)."""

    timestamp: dt.datetime | None
    #: Keys written per target shard.
    shards: dict[str, int]

    @property
    def initial_position(self) -> str:
        return AT_TIMESTAMP if self.timestamp is not None else TRIM_HORIZON


async def restore_in_region(
    source: ObjectStore,
    application: str,
    target: ObjectStore,
    target_shards: Sequence[ShardInfo],
    keys: KeyRing | None,
    *,
    target_application: str | None = None,
    target_keys: KeyRing | None = None,
    snapshot: str | None = None,
    buffer: dt.timedelta = dt.timedelta(seconds=60),
    combine: Combine = first_value,
) -> StandbyRestore:
    """Write the source state into ``target`` for the shards of another stream.

    ``target_shards`` is the target stream's shards
    (:func:`shardline.kinesis.list_all_shards`); closed shards are ignored.
    ``target_keys`` defaults to ``keys`` (the standby may hold its own).
    """
    if snapshot is not None:
        snapshots = Snapshots(source, application, keys)
        restored: dict[str, Restored] = await snapshots.load(await snapshots.describe(snapshot))
    else:
        restored = await latest_checkpoints(source, application, keys)
    keyed = merged_keyed(restored)
    value = combine([restored[shard].value for shard in frontier(restored)])
    timestamp = resume_time(restored, buffer)
    position = Position(AT_TIMESTAMP if timestamp is not None else TRIM_HORIZON)
    written: dict[str, int] = {}
    app = target_application or application
    for shard in target_shards:
        if not shard.is_open:
            continue
        shard_id, hash_range = shard.shard_id, shard.hash_range
        series = CheckpointSeries(target, app, shard_id, target_keys or keys)
        _, every = await series.listing()
        part = keyed.in_range(*hash_range)
        state = ShardState(shard_id, KeyedState(part), value, position, timestamp)
        payload = state.serialize()
        manifest = Manifest(
            application=app,
            shard_id=shard_id,
            checkpoint_id=max(every, default=0) + 1,
            created=dt.datetime.now(dt.UTC),
            position=position,
            last_arrival=timestamp,
            finished=False,
            parents=tuple(sorted(shard.parents)),
            hash_range=hash_range,
            keys=len(part),
            state_size=0,
        )
        await series.write(manifest, payload)
        written[shard_id] = len(part)
    return StandbyRestore(timestamp, written)
