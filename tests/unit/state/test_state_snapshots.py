"""Snapshots: lifecycle, uniqueness, sealing of the record, and lease positions on restore."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from shardline.consumer.positions import Position
from shardline.state import (
    CheckpointSeries,
    KeyedState,
    KeyRing,
    LocalStore,
    SnapshotExistsError,
    Snapshots,
    StateIntegrityError,
    StateNotFoundError,
)
from shardline.state.keyed import ShardState
from shardline.state.manifest import Manifest
from shardline.stores.leases import Lease
from shardline.stores.sqlite_leases import SQLiteLeaseStore

KEYS = KeyRing.parse(KeyRing.generate_line("k1"))


async def checkpoint(store: LocalStore, shard: str, checkpoint_id: int, sequence: str) -> None:
    state = ShardState(shard, KeyedState({"k": checkpoint_id}))
    draft = Manifest(
        "app", shard, checkpoint_id, dt.datetime.now(dt.UTC), Position(sequence), None,
        False, (), None, 1, 0,
    )  # fmt: skip
    await CheckpointSeries(store, "app", shard, KEYS).write(draft, state.serialize())


def test_snapshot_lifecycle_and_restore_of_positions(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    snapshots = Snapshots(store, "app", KEYS)
    leases = SQLiteLeaseStore(tmp_path / "leases.db", "app")

    async def scenario() -> None:
        await leases.ensure_table()
        for key in ("s0", "s1", "child"):
            await leases.create_if_absent(Lease(key=key, owner="dead-worker"))
        await checkpoint(store, "s0", 1, "100")
        info = await snapshots.create("v1")
        assert info.status == "READY" and [s.shard_id for s in info.shards] == ["s0"]
        with pytest.raises(SnapshotExistsError):
            await snapshots.create("v1")
        with pytest.raises(ValueError):
            await snapshots.create("no spaces")
        await checkpoint(store, "s0", 2, "200")
        await checkpoint(store, "s1", 1, "300")
        described = await snapshots.describe("v1")
        assert described.shards[0].position == Position("100")
        restored = await snapshots.restore(leases, "RESTORE_FROM_LATEST_SNAPSHOT")
        assert restored is not None and restored.name == "v1"
        latest = await CheckpointSeries(store, "app", "s0", KEYS).latest()
        assert latest is not None and latest.keyed["k"] == 1
        assert await CheckpointSeries(store, "app", "s1", KEYS).latest() is None
        by_key = {lease.key: lease for lease in await leases.list_leases()}
        assert by_key["s0"].checkpoint == "100" and by_key["s0"].owner is None
        assert by_key["s1"].checkpoint == by_key["child"].checkpoint == "TRIM_HORIZON"
        await snapshots.delete("v1", info.created_ms)
        assert await snapshots.list() == []
        with pytest.raises(StateNotFoundError):
            await snapshots.describe("v1")
        await leases.close()

    asyncio.run(scenario())


def test_an_edited_snapshot_record_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    snapshots = Snapshots(store, "app", KEYS)

    async def scenario() -> None:
        await checkpoint(store, "s0", 1, "100")
        info = await snapshots.create("v1")
        [record] = list(tmp_path.rglob("snapshot.json"))
        record.write_bytes(record.read_bytes().replace(b'"READY"', b'"FAILED"'))
        with pytest.raises(StateIntegrityError, match="tampered"):
            await snapshots.describe("v1", info.created_ms)

    asyncio.run(scenario())
