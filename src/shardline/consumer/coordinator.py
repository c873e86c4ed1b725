"""The worker's side of the lease protocol: renew, take, steal, release, checkpoint.

Expiry without clocks (the KCL's rule): the taker remembers, for every lease it
sees, the counter and the moment (on *its own* monotonic clock) it first saw that
counter. A lease is expired when its counter has not moved for the failover time.
The holder, for its part, stops treating a lease as held once its own last
successful renewal is older than the failover time, so two workers never process
one shard for longer than a renewal interval, even when their clocks disagree.

Every acquisition mints a fresh concurrency token; a checkpoint carries the token
of the acquisition that delivered the records, so a processor of an earlier
acquisition can never write over a newer one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shardline.consumer import balance
from shardline.consumer.config import ConsumerConfig
from shardline.consumer.exceptions import LeaseLostError
from shardline.consumer.metrics import ConsumerMetrics
from shardline.consumer.positions import Position
from shardline.stores.leases import Lease, LeaseStore, LeaseStoreError

log = logging.getLogger(__name__)

Listener = Callable[[Lease, str], Awaitable[None]]


@dataclass
class HeldLease:
    lease: Lease
    token: str
    renewed_at: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LeaseCoordinator:
    """Keeps this worker's leases alive and takes its fair share of the rest."""

    def __init__(
        self,
        config: ConsumerConfig,
        store: LeaseStore,
        on_acquired: Listener,
        on_lost: Callable[[str], Awaitable[None]],
        metrics: ConsumerMetrics,
    ) -> None:
        self.config = config
        self.store = store
        self.me = config.worker_id
        self.held: dict[str, HeldLease] = {}
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._metrics = metrics
        self._seen: dict[str, tuple[int, float]] = {}
        self._cooldown: dict[str, float] = {}
        self.snapshot: list[Lease] = []

    # -- holding -------------------------------------------------------------------------

    def holds(self, key: str, token: str | None = None) -> bool:
        held = self.held.get(key)
        if held is None or (token is not None and held.token != token):
            return False
        return time.monotonic() - held.renewed_at < self.config.failover_time_s

    async def _lose(self, key: str) -> None:
        if self.held.pop(key, None) is not None:
            self._metrics.lease_lost()
            await self._on_lost(key)

    async def renew_all(self) -> None:
        """One renewal pass; leases that fail to renew are lost at once."""
        for key, held in list(self.held.items()):
            async with held.lock:
                if self.held.get(key) is not held:
                    continue
                try:
                    renewed = await self.store.renew(held.lease)
                except LeaseStoreError as exc:
                    log.warning("renewing %s failed: %s", key, exc)
                    renewed = held.lease  # unknown outcome: keep it until it goes stale
                    if time.monotonic() - held.renewed_at >= self.config.failover_time_s:
                        renewed = None
                else:
                    if renewed is not None:
                        held.lease = renewed
                        held.renewed_at = time.monotonic()
            if renewed is None:
                log.info("lease %s lost by %s", key, self.me)
                await self._lose(key)
        self._metrics.set_current_leases(len(self.held))

    # -- taking --------------------------------------------------------------------------

    def _expired_for(self, leases: list[Lease], now: float) -> dict[str, float]:
        """Leases (owned by others) whose counter has not moved for the failover time."""
        seen: dict[str, tuple[int, float]] = {}
        expired: dict[str, float] = {}
        for lease in leases:
            previous = self._seen.get(lease.key)
            first_seen = previous[1] if previous and previous[0] == lease.counter else now
            seen[lease.key] = (lease.counter, first_seen)
            age = now - first_seen
            if lease.owner not in (None, self.me) and age >= self.config.failover_time_s:
                expired[lease.key] = age
        self._seen = seen
        return expired

    async def take_pass(self) -> None:
        """One scan of the table: note expiry, then take or steal per ``balance.plan``."""
        leases = await self.store.list_leases()
        self.snapshot = leases
        now = time.monotonic()
        expired = self._expired_for(leases, now)
        for lease in leases:
            if lease.owner == self.me and lease.key not in self.held:
                expired[lease.key] = self.config.failover_time_s  # ours from a past life
        mine_in_table = {lease.key for lease in leases if lease.owner == self.me}
        for key in set(self.held) - mine_in_table:
            await self._lose(key)  # someone took it since our last renewal
        candidates = [
            lease
            for lease in leases
            if lease.key not in self.held and self._cooldown.get(lease.key, 0.0) <= now
        ]
        decided = balance.plan(
            [lease for lease in leases if lease.key in self.held or lease in candidates],
            expired,
            self.me,
            self.config.max_leases_per_worker,
            self.config.max_leases_to_steal_at_one_time,
        )
        for lease in decided.take + decided.steal:
            taken = await self.store.take(lease, self.me)
            if taken is None:
                continue  # another worker was faster
            if lease in decided.steal:
                log.info("%s stole %s from %s", self.me, lease.key, lease.owner)
            self._metrics.lease_taken()
            self.held[taken.key] = HeldLease(taken, uuid.uuid4().hex, time.monotonic())
            await self._on_acquired(taken, self.held[taken.key].token)
        self._metrics.set_current_leases(len(self.held))

    # -- giving up -----------------------------------------------------------------------

    async def release(self, key: str, cooldown_s: float = 0.0) -> None:
        """Give a lease up so that any worker can take it immediately."""
        held = self.held.get(key)
        if held is None:
            return
        async with held.lock:
            if self.held.get(key) is not held:
                return
            try:
                await self.store.release(held.lease)
            except LeaseStoreError as exc:
                log.warning("releasing %s failed (it will expire instead): %s", key, exc)
            self.held.pop(key, None)
        if cooldown_s:
            self._cooldown[key] = time.monotonic() + cooldown_s

    # -- checkpoints ---------------------------------------------------------------------

    async def _mutate(
        self, key: str, token: str, change: Callable[[Lease], Awaitable[Lease | None]]
    ) -> Lease:
        held = self.held.get(key)
        if held is None or held.token != token or not self.holds(key, token):
            raise LeaseLostError(f"{self.me} no longer holds the lease on {key}")
        async with held.lock:
            if self.held.get(key) is not held:
                raise LeaseLostError(f"{self.me} no longer holds the lease on {key}")
            updated = await change(held.lease)
            if updated is None:
                raise LeaseLostError(f"the lease on {key} changed hands")
            held.lease = updated
            return updated

    async def write_checkpoint(self, shard_id: str, token: str, position: Position) -> None:
        await self._mutate(
            shard_id,
            token,
            lambda lease: self.store.checkpoint(lease, position.sequence, position.sub),
        )

    async def write_pending(
        self, shard_id: str, token: str, position: Position, state: bytes | None
    ) -> None:
        await self._mutate(
            shard_id,
            token,
            lambda lease: self.store.prepare_checkpoint(
                lease, position.sequence, position.sub, state
            ),
        )

    async def record_children(self, shard_id: str, token: str, children: frozenset[str]) -> None:
        await self._mutate(shard_id, token, lambda lease: self.store.set_children(lease, children))
