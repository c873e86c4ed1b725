"""The lease table: which worker owns which shard, and how far it got.

A lease is one item per shard with the Kinesis Client Library's schema. Every change
to a lease is a *conditional write*: it sets ``leaseCounter = c + 1`` only if the
counter is still ``c`` (and, for a holder's own changes, the owner is still the
holder). The counter is therefore a fencing token: whoever changed the lease last
wins, and a worker acting on a stale copy is refused instead of overwriting.

Python names inside, KCL attribute names at the storage edge:

=================================  =======================================
``Lease`` field                    KCL attribute
=================================  =======================================
key                                leaseKey (the shard id)
owner                              leaseOwner
counter                            leaseCounter
checkpoint / checkpoint_sub        checkpoint / checkpointSubSequenceNumber
pending_checkpoint(_sub/_state)    pendingCheckpoint(SubSequenceNumber/State)
owner_switches                     ownerSwitchesSinceCheckpoint
parents / children                 parentShardId / childShardIds (string sets)
starting_hash_key / ending_...     startingHashKey / endingHashKey
=================================  =======================================
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from shardline.errors import ShardlineError

TRIM_HORIZON = "TRIM_HORIZON"
LATEST = "LATEST"
AT_TIMESTAMP = "AT_TIMESTAMP"
SHARD_END = "SHARD_END"


class LeaseStoreError(ShardlineError):
    """The lease store could not be reached or answered unexpectedly (retry later)."""

    retriable = True


@dataclass(frozen=True)
class Lease:
    """One row of the lease table, as last read or written by this process."""

    key: str
    owner: str | None = None
    counter: int = 0
    checkpoint: str = TRIM_HORIZON
    checkpoint_sub: int = 0
    pending_checkpoint: str | None = None
    pending_checkpoint_sub: int | None = None
    pending_checkpoint_state: bytes | None = None
    owner_switches: int = 0
    parents: frozenset[str] = field(default_factory=frozenset)
    children: frozenset[str] = field(default_factory=frozenset)
    starting_hash_key: str | None = None
    ending_hash_key: str | None = None

    @property
    def finished(self) -> bool:
        return self.checkpoint == SHARD_END


#: Fields a conditional update may change, and the value that clears each one.
MUTABLE_FIELDS = frozenset(
    {
        "owner",
        "checkpoint",
        "checkpoint_sub",
        "pending_checkpoint",
        "pending_checkpoint_sub",
        "pending_checkpoint_state",
        "owner_switches",
        "children",
    }
)


class LeaseStore(abc.ABC):
    """The lease table behind one interface (SQLite file or DynamoDB table).

    Backends implement five primitives; the lease protocol (take, renew, release,
    checkpoint) is written once here on top of :meth:`_update`.

    Error handling: a refused condition is an ordinary outcome (``None``); an
    unreachable store raises :class:`LeaseStoreError`.
    """

    @abc.abstractmethod
    async def ensure_table(self) -> None:
        """Create the table if it does not exist and wait until it is usable."""

    @abc.abstractmethod
    async def list_leases(self) -> list[Lease]:
        """Every lease, read consistently."""

    @abc.abstractmethod
    async def create_if_absent(self, lease: Lease) -> bool:
        """Insert ``lease`` unless a lease with its key exists; True if inserted."""

    @abc.abstractmethod
    async def _update(
        self, lease: Lease, check_owner: bool, changes: dict[str, Any]
    ) -> Lease | None:
        """Apply ``changes`` and ``counter + 1`` if the stored counter (and, with
        ``check_owner``, the owner) still equal ``lease``'s; the new lease or None."""

    @abc.abstractmethod
    async def delete(self, lease: Lease) -> bool:
        """Delete the lease if its counter is unchanged; True if deleted."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the store's connections."""

    # -- the lease protocol -----------------------------------------------------------

    async def get(self, key: str) -> Lease | None:
        return next((lease for lease in await self.list_leases() if lease.key == key), None)

    async def take(self, lease: Lease, owner: str) -> Lease | None:
        """Become the owner of ``lease`` (an expired, unowned or stolen one)."""
        switches = lease.owner_switches + (1 if lease.owner != owner else 0)
        return await self._update(
            lease, check_owner=False, changes={"owner": owner, "owner_switches": switches}
        )

    async def renew(self, lease: Lease) -> Lease | None:
        """Prove the holder is alive: bump the counter if nobody else touched it."""
        return await self._update(lease, check_owner=True, changes={})

    async def release(self, lease: Lease) -> Lease | None:
        """Give the lease up so another worker can take it at once (graceful)."""
        return await self._update(lease, check_owner=True, changes={"owner": None})

    async def checkpoint(self, lease: Lease, sequence: str, sub: int) -> Lease | None:
        """Record progress and clear any prepared checkpoint."""
        return await self._update(
            lease,
            check_owner=True,
            changes={
                "checkpoint": sequence,
                "checkpoint_sub": sub,
                "pending_checkpoint": None,
                "pending_checkpoint_sub": None,
                "pending_checkpoint_state": None,
                "owner_switches": 0,
            },
        )

    async def prepare_checkpoint(
        self, lease: Lease, sequence: str, sub: int, state: bytes | None
    ) -> Lease | None:
        """Record a pending checkpoint (phase one of a two-phase checkpoint)."""
        return await self._update(
            lease,
            check_owner=True,
            changes={
                "pending_checkpoint": sequence,
                "pending_checkpoint_sub": sub,
                "pending_checkpoint_state": state,
            },
        )

    async def set_children(self, lease: Lease, children: frozenset[str]) -> Lease | None:
        return await self._update(lease, check_owner=True, changes={"children": children})


def apply(lease: Lease, changes: dict[str, Any]) -> Lease:
    """``lease`` with ``changes`` and the counter bumped (what a successful update stores)."""
    unknown = set(changes) - MUTABLE_FIELDS
    if unknown:
        raise ValueError(f"not mutable lease fields: {sorted(unknown)}")
    return dataclasses.replace(lease, counter=lease.counter + 1, **changes)
