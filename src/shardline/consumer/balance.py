"""Which leases a worker should take: the KCL's balancing rule, as a pure function.

1. Count the unfinished leases and the workers that hold at least one live lease
   (plus this worker); the target per worker is ``ceil(leases / workers)``, capped
   by ``max_leases_per_worker``.
2. If this worker is below target and some leases are free (no owner) or expired,
   take up to the shortfall: leases expired for longest first ("very old" ones,
   more than 3 × the failover time, above all), then free ones.
3. Only if nothing is free: steal from the most loaded worker, when it holds more
   than the target (or exactly the target while this worker is two or more short),
   at most ``max_steal`` at a time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from shardline.stores.leases import Lease


@dataclass(frozen=True)
class Plan:
    take: list[Lease]
    steal: list[Lease]


def plan(
    leases: list[Lease],
    expired_for: Mapping[str, float],
    me: str,
    max_leases: int,
    max_steal: int,
) -> Plan:
    """What ``me`` should take; ``expired_for`` maps expired lease keys to seconds expired."""
    active = [lease for lease in leases if not lease.finished]
    if not active:
        return Plan([], [])
    live_owner = {
        lease.key: lease.owner
        for lease in active
        if lease.owner is not None and lease.key not in expired_for
    }
    counts = Counter(live_owner.values())
    counts.setdefault(me, 0)
    target = min(math.ceil(len(active) / len(counts)), max_leases)
    need = target - counts[me]
    if need <= 0:
        return Plan([], [])
    available = [lease for lease in active if lease.key not in live_owner]
    if available:
        available.sort(key=lambda lease: -expired_for.get(lease.key, 0.0))
        return Plan(available[:need], [])
    victim, most = max(
        ((owner, count) for owner, count in counts.items() if owner != me),
        key=lambda item: item[1],
        default=(None, 0),
    )
    if victim is None or not (most > target or (most == target and need >= 2)):
        return Plan([], [])
    theirs = [lease for lease in active if live_owner.get(lease.key) == victim]
    allowed = most - target if most > target else 1
    return Plan([], theirs[: min(need, max_steal, allowed)])
