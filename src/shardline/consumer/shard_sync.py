"""Keeping the lease table in step with the stream's shards.

Rules for creating a lease for shard S (idempotent, safe to run on every worker):

1. On an empty table, leases are created for the shards where the initial position
   starts reading (ListShards' ``AT_TRIM_HORIZON`` / ``AT_LATEST`` /
   ``AT_TIMESTAMP`` filter), with that position as their checkpoint.
2. Later, S gets a lease (checkpoint TRIM_HORIZON) only when it has none, none of
   its children has one (else S was already consumed and cleaned up), and each of
   its parents is finished or has no lease and is no longer listed (expired).
3. A finished lease whose children all have leases is deleted: the children no
   longer need it to decide that their parents are done.
"""

from __future__ import annotations

import logging
from typing import Any

from shardline.consumer.config import ConsumerConfig
from shardline.kinesis import ShardInfo, list_all_shards
from shardline.stores.leases import TRIM_HORIZON, Lease, LeaseStore

log = logging.getLogger(__name__)


def lease_for(shard: ShardInfo, checkpoint: str) -> Lease:
    """A new lease of ``shard``, to start reading at ``checkpoint``."""
    return Lease(
        key=shard.shard_id,
        checkpoint=checkpoint,
        parents=shard.parents,
        starting_hash_key=str(shard.starting_hash_key),
        ending_hash_key=str(shard.ending_hash_key),
    )


async def sync_shards(client: Any, store: LeaseStore, config: ConsumerConfig) -> int:
    """Create missing leases and delete spent ones; returns how many were created."""
    leases = {lease.key: lease for lease in await store.list_leases()}
    created = 0
    if not leases:
        shard_filter: dict[str, Any] = {"Type": f"AT_{config.initial_position}"}
        if config.initial_position == "AT_TIMESTAMP":
            shard_filter = {"Type": "AT_TIMESTAMP", "Timestamp": config.initial_timestamp}
        for shard in await list_all_shards(client, config.stream_name, shard_filter):
            if await store.create_if_absent(lease_for(shard, config.initial_position)):
                created += 1
        return created
    shards = await list_all_shards(client, config.stream_name, None)
    listed = {shard.shard_id for shard in shards}
    children: dict[str, set[str]] = {}
    for shard in shards:
        for parent in shard.parents:
            children.setdefault(parent, set()).add(shard.shard_id)
    for shard in shards:
        key = shard.shard_id
        if key in leases or any(child in leases for child in children.get(key, ())):
            continue
        lease = lease_for(shard, TRIM_HORIZON)
        parents_done = all(
            (parent in leases and leases[parent].finished)
            or (parent not in leases and parent not in listed)
            for parent in lease.parents
        )
        if parents_done and await store.create_if_absent(lease):
            created += 1
    for lease in leases.values():
        kids = children.get(lease.key, set()) | set(lease.children)
        spent = lease.finished and kids and all(kid in leases for kid in kids)
        if spent and await store.delete(lease):
            log.info("deleted finished lease %s", lease.key)
    return created
