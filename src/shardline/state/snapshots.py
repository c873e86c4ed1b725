"""Named snapshots: user-owned copies of every shard's latest checkpoint.

Shaped on Managed Flink's application snapshots: a name matching
``[a-zA-Z0-9_.-]{1,256}``, unique per application; statuses ``CREATING``,
``READY``, ``DELETING``, ``FAILED``; kept until deleted by name *and* creation
time (so a delete can never hit a newer snapshot of the same name); restore types
``SKIP_RESTORE_FROM_SNAPSHOT``, ``RESTORE_FROM_LATEST_SNAPSHOT`` and
``RESTORE_FROM_CUSTOM_SNAPSHOT``. Checkpoints, by contrast, are system-owned and
pruned.

Layout: ``<application>/snapshots/<name>/<creation ms>/snapshot.json`` (the
record, sealed so a changed status or shard list is detected) and, next to it,
``<shard id>/<id>.manifest|.state``: the checkpoint objects, copied unchanged
(server-side on S3), so they verify exactly as the originals did.

Creating, as numbered steps: 1. write the record as CREATING; 2. verify and copy
each shard's latest checkpoint; 3. rewrite the record as READY with the shards
and positions (FAILED, with the reason, if step 2 failed).

Restoring (with every worker of the application stopped, as Managed Flink
restores only when an application starts): 1. verify every shard of the snapshot
before changing anything; 2. discard the system-owned checkpoints; 3. copy the
snapshot's checkpoints in as the latest; 4. set each lease's checkpoint to the
snapshot's position for that shard (re-creating leases of unfinished shards that
were deleted since), and send every other lease (shards born after the snapshot)
back to TRIM_HORIZON, where they re-inherit their parents' state. An interrupted
restore is finished by running it again.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, fields
from typing import Any, Literal

import orjson

from shardline.consumer.positions import Position
from shardline.state.checkpoints import (
    CheckpointSeries,
    Restored,
    checkpoints_prefix,
    latest_checkpoints,
)
from shardline.state.crypto import KeyRing, open_sealed, seal
from shardline.state.exceptions import (
    SnapshotExistsError,
    StateError,
    StateIntegrityError,
    StateNotFoundError,
    StateRestoreError,
)
from shardline.state.manifest import ShardCheckpoint
from shardline.state.stores.base import ObjectStore
from shardline.stores.leases import SHARD_END, TRIM_HORIZON, Lease, LeaseStore

SnapshotStatus = Literal["CREATING", "READY", "DELETING", "FAILED"]
RestoreType = Literal[
    "SKIP_RESTORE_FROM_SNAPSHOT", "RESTORE_FROM_LATEST_SNAPSHOT", "RESTORE_FROM_CUSTOM_SNAPSHOT"
]
NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.-]{1,256}")
_RECORD = "snapshot.json"
FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class SnapshotShard(ShardCheckpoint):
    """One shard's checkpoint inside a snapshot: its manifest's :class:`ShardCheckpoint`."""

    @classmethod
    def of(cls, restored: Restored) -> SnapshotShard:
        manifest = restored.manifest
        return cls(**{f.name: getattr(manifest, f.name) for f in fields(ShardCheckpoint)})

    def to_dict(self) -> dict[str, Any]:
        return {
            "shard_id": self.shard_id,
            "checkpoint_id": self.checkpoint_id,
            **self.standing(),
            "size": self.state_size,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SnapshotShard:
        return cls(
            shard_id=raw["shard_id"],
            checkpoint_id=int(raw["checkpoint_id"]),
            **cls.parse_standing(raw),
            state_size=int(raw["size"]),
        )


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot's record: identity, status and the shard positions it holds."""

    application: str
    name: str
    created: dt.datetime
    status: SnapshotStatus
    shards: tuple[SnapshotShard, ...] = ()
    reason: str | None = None
    format_version: int = FORMAT_VERSION

    @property
    def created_ms(self) -> int:
        """The creation timestamp in epoch milliseconds: the snapshot's version."""
        return int(self.created.timestamp() * 1000)

    @property
    def size(self) -> int:
        return sum(shard.state_size for shard in self.shards)

    @property
    def keys(self) -> int:
        return sum(shard.keys for shard in self.shards)

    def to_dict(self) -> dict[str, Any]:
        """Managed Flink's field names at the edge, plus the shards."""
        return {
            "SnapshotName": self.name,
            "SnapshotStatus": self.status,
            "SnapshotCreationTimestamp": self.created.isoformat(),
            "ApplicationName": self.application,
            "Version": self.created_ms,
            "FormatVersion": self.format_version,
            "Keys": self.keys,
            "SizeBytes": self.size,
            "Reason": self.reason,
            "Shards": [shard.to_dict() for shard in self.shards],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SnapshotInfo:
        return cls(
            raw["ApplicationName"],
            raw["SnapshotName"],
            dt.datetime.fromisoformat(raw["SnapshotCreationTimestamp"]),
            raw["SnapshotStatus"],
            tuple(SnapshotShard.from_dict(s) for s in raw["Shards"]),
            raw.get("Reason"),
            int(raw["FormatVersion"]),
        )


class Snapshots:
    """Create, list, describe, delete and restore the snapshots of one application."""

    def __init__(self, store: ObjectStore, application: str, keys: KeyRing | None) -> None:
        self.store = store
        self.application = application
        self.keys = keys
        self._root = f"{application}/snapshots/"

    def _prefix(self, name: str, created_ms: int) -> str:
        return f"{self._root}{name}/{created_ms}/"

    # -- records -------------------------------------------------------------------------

    async def _write(self, info: SnapshotInfo) -> None:
        content = orjson.dumps(info.to_dict(), option=orjson.OPT_SORT_KEYS)
        tag, envelope = seal(b"", content, self.keys)  # authenticates, encrypts nothing
        body = orjson.dumps(
            {
                "record": orjson.loads(content),
                "seal": envelope,
                "tag": base64.b64encode(tag).decode(),
            }
        )
        await self.store.put(self._prefix(info.name, info.created_ms) + _RECORD, body)

    async def _read(self, key: str) -> SnapshotInfo:
        what = f"snapshot record {self.store.url}{key}"
        try:
            body = orjson.loads(await self.store.get(key))
            content = orjson.dumps(body["record"], option=orjson.OPT_SORT_KEYS)
            envelope = body["seal"]
            tag = base64.b64decode(body["tag"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StateIntegrityError(f"{what} is not readable: {exc!r}") from exc
        open_sealed(tag, content, envelope, self.keys, what)
        try:
            return SnapshotInfo.from_dict(body["record"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StateIntegrityError(f"{what} is not a snapshot record: {exc!r}") from exc

    async def list(self) -> list[SnapshotInfo]:
        """Every snapshot of the application, oldest first."""
        keys = [k for k in await self.store.list(self._root) if k.endswith("/" + _RECORD)]
        infos = [await self._read(key) for key in keys]
        return sorted(infos, key=lambda info: (info.created, info.name))

    async def describe(self, name: str, created_ms: int | None = None) -> SnapshotInfo:
        """The snapshot called ``name`` (the newest, unless ``created_ms`` picks one)."""
        found = [
            info
            for info in await self.list()
            if info.name == name and created_ms in (None, info.created_ms)
        ]
        if not found:
            raise StateNotFoundError(f"no snapshot {name!r} of {self.application}")
        return found[-1]

    # -- create / delete -----------------------------------------------------------------

    async def create(self, name: str) -> SnapshotInfo:
        """Snapshot the latest complete checkpoint of every shard (steps above)."""
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError("a snapshot name matches [a-zA-Z0-9_.-]{1,256}")
        if any(info.name == name for info in await self.list()):
            raise SnapshotExistsError(
                f"snapshot {name!r} of {self.application} exists; delete it or pick another name"
            )
        created = dt.datetime.fromtimestamp(
            int(dt.datetime.now(dt.UTC).timestamp() * 1000) / 1000, dt.UTC
        )
        info = SnapshotInfo(self.application, name, created, "CREATING")
        await self._write(info)
        prefix = self._prefix(name, info.created_ms)
        try:
            latest = await latest_checkpoints(self.store, self.application, self.keys)
            for shard_id, restored in sorted(latest.items()):
                source = f"{checkpoints_prefix(self.application)}{shard_id}/"
                manifest = restored.manifest
                await self.store.copy(
                    source + manifest.state_name, prefix + f"{shard_id}/{manifest.state_name}"
                )
                await self.store.copy(
                    source + manifest.manifest_name, prefix + f"{shard_id}/{manifest.manifest_name}"
                )
        except StateError as exc:
            await self._write(
                SnapshotInfo(self.application, name, created, "FAILED", reason=str(exc))
            )
            raise
        shards = tuple(SnapshotShard.of(latest[s]) for s in sorted(latest))
        info = SnapshotInfo(self.application, name, created, "READY", shards)
        await self._write(info)
        return info

    async def delete(self, name: str, created_ms: int) -> None:
        """Delete one snapshot: DELETING, its checkpoints, then its record."""
        info = await self.describe(name, created_ms)
        await self._write(
            SnapshotInfo(self.application, name, info.created, "DELETING", info.shards)
        )
        prefix = self._prefix(name, created_ms)
        for key in await self.store.list(prefix):
            if not key.endswith("/" + _RECORD):
                await self.store.delete(key)
        await self.store.delete(prefix + _RECORD)

    # -- reading and restoring -----------------------------------------------------------

    async def load(self, info: SnapshotInfo) -> dict[str, Restored]:
        """Every shard's state in the snapshot, verified."""
        if info.status != "READY":
            raise StateRestoreError(f"snapshot {info.name!r} is {info.status}, not READY")
        prefix = self._prefix(info.name, info.created_ms)
        loaded = {}
        for shard in info.shards:
            series = CheckpointSeries(
                self.store,
                self.application,
                shard.shard_id,
                self.keys,
                f"{prefix}{shard.shard_id}/",
            )
            loaded[shard.shard_id] = await series.load(shard.checkpoint_id)
        return loaded

    async def _discard_checkpoints(self) -> None:
        for key in await self.store.list(checkpoints_prefix(self.application)):
            await self.store.delete(key)

    async def restore(
        self,
        lease_store: LeaseStore,
        restore_type: RestoreType = "RESTORE_FROM_CUSTOM_SNAPSHOT",
        name: str | None = None,
        created_ms: int | None = None,
    ) -> SnapshotInfo | None:
        """Put state and the lease table back to a snapshot (steps above).

        ``SKIP_RESTORE_FROM_SNAPSHOT`` discards the checkpoints only: state starts
        empty at the lease table's positions. Returns the snapshot restored.
        """
        if restore_type == "SKIP_RESTORE_FROM_SNAPSHOT":
            await self._discard_checkpoints()
            return None
        if restore_type == "RESTORE_FROM_LATEST_SNAPSHOT":
            ready = [info for info in await self.list() if info.status == "READY"]
            if not ready:
                raise StateNotFoundError(f"{self.application} has no READY snapshot")
            info = ready[-1]
        else:
            if name is None:
                raise ValueError("RESTORE_FROM_CUSTOM_SNAPSHOT needs a snapshot name")
            info = await self.describe(name, created_ms)
        await self.load(info)
        await self._discard_checkpoints()
        prefix = self._prefix(info.name, info.created_ms)
        for shard in info.shards:
            target = f"{checkpoints_prefix(self.application)}{shard.shard_id}/"
            for suffix in (".state", ".manifest"):
                name_ = f"{shard.checkpoint_id:012d}{suffix}"
                await self.store.copy(f"{prefix}{shard.shard_id}/{name_}", target + name_)
        await reset_leases(lease_store, info.shards)
        return info


async def reset_leases(lease_store: LeaseStore, shards: tuple[SnapshotShard, ...]) -> None:
    """Step 4 of a restore: the lease table at the snapshot's positions.

    Error handling: StateRestoreError when a lease changes meanwhile (a worker is
    still running).
    """
    by_shard = {shard.shard_id: shard for shard in shards}
    leases = {lease.key: lease for lease in await lease_store.list_leases()}
    for shard in shards:
        if shard.shard_id not in leases and not shard.finished:
            await lease_store.create_if_absent(
                Lease(
                    key=shard.shard_id,
                    parents=frozenset(shard.parents),
                    starting_hash_key=str(shard.hash_range[0]) if shard.hash_range else None,
                    ending_hash_key=str(shard.hash_range[1]) if shard.hash_range else None,
                )
            )
    for lease in await lease_store.list_leases():
        held = by_shard.get(lease.key)
        if held is None:
            target = Position(TRIM_HORIZON)
        elif held.finished:
            target = Position(SHARD_END)
        else:
            target = held.position
        updated = await lease_store.checkpoint(lease, target.sequence, target.sub)
        if updated is not None and updated.owner is not None:
            updated = await lease_store.release(updated)
        if updated is None:
            raise StateRestoreError(
                f"the lease of {lease.key} changed during the restore: stop every worker of "
                "the application, then run the restore again"
            )
