"""A shard's checkpoint series: commit by manifest, latest with fallback, pruning."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from shardline.consumer.positions import Position
from shardline.framing.aggregation import hash_key_of
from shardline.state import (
    CheckpointSeries,
    KeyedState,
    KeyRing,
    LocalStore,
    StateIntegrityError,
)
from shardline.state.checkpoints import Restored
from shardline.state.keyed import ShardState
from shardline.state.lineage import inherit, merged_keyed, resume_time
from shardline.state.manifest import Manifest

KEYS = KeyRing.parse(KeyRing.generate_line("k1"))
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def draft(shard: str, checkpoint_id: int, sequence: str, **extra: object) -> Manifest:
    fields: dict[str, object] = {
        "application": "app",
        "shard_id": shard,
        "checkpoint_id": checkpoint_id,
        "created": T0,
        "position": Position(sequence),
        "last_arrival": T0 + dt.timedelta(seconds=checkpoint_id),
        "finished": False,
        "parents": (),
        "hash_range": None,
        "keys": 1,
        "state_size": 0,
    }
    fields.update(extra)
    return Manifest(**fields)  # type: ignore[arg-type]


def payload(count: int) -> bytes:
    return ShardState("s", KeyedState({"k": count}), value={"total": count}).serialize()


def test_latest_is_the_newest_complete_checkpoint_and_survives_tampering(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    series = CheckpointSeries(store, "app", "s", KEYS)

    async def scenario() -> None:
        for i in (1, 2, 3):
            await series.write(draft("s", i, str(100 + i)), payload(i))
        # an interrupted checkpoint: state written, manifest never
        await store.put("app/checkpoints/s/000000000004.state", b"partial")
        latest = await series.latest()
        assert latest is not None and latest.manifest.checkpoint_id == 3
        assert latest.keyed["k"] == 3 and latest.value == {"total": 3}
        state = tmp_path / "app/checkpoints/s/000000000003.state"
        state.write_bytes(bytes([state.read_bytes()[0] ^ 1]) + state.read_bytes()[1:])
        fallback = await series.latest()
        assert fallback is not None and fallback.manifest.checkpoint_id == 2
        # a manifest edited to claim a later position fails too
        path = tmp_path / "app/checkpoints/s/000000000002.manifest"
        path.write_bytes(path.read_bytes().replace(b'"102"', b'"999"'))
        with pytest.raises(StateIntegrityError, match="tampered"):
            await series.load(2)
        fallback = await series.latest()
        assert fallback is not None and fallback.manifest.checkpoint_id == 1
        (tmp_path / "app/checkpoints/s/000000000001.manifest").write_bytes(b"{not json")
        with pytest.raises(StateIntegrityError, match="every checkpoint of s"):
            await series.latest()

    asyncio.run(scenario())


def test_moved_objects_are_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)

    async def scenario() -> None:
        await CheckpointSeries(store, "app", "a", KEYS).write(draft("a", 1, "5"), payload(1))
        for suffix in (".state", ".manifest"):
            await store.copy(
                f"app/checkpoints/a/000000000001{suffix}", f"app/checkpoints/b/000000000001{suffix}"
            )
        with pytest.raises(StateIntegrityError, match="moved"):
            await CheckpointSeries(store, "app", "b", KEYS).load(1)

    asyncio.run(scenario())


def test_prune_keeps_the_retained_and_anything_newer(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    series = CheckpointSeries(store, "app", "s", None)

    async def scenario() -> None:
        for i in range(1, 6):
            await series.write(draft("s", i, str(i)), payload(i))
        await store.put("app/checkpoints/s/000000000002.state", b"orphan")
        await store.put("app/checkpoints/s/000000000007.state", b"in flight")
        await series.prune([3, 5])
        manifests, every = await series.listing()
        assert manifests == [5, 3] and every == [3, 5, 7]

    asyncio.run(scenario())


def test_children_inherit_their_range_and_a_lineage_flattens() -> None:
    low, high = 0, 2**127 - 1
    keys = {f"key-{i}": i for i in range(200)}
    parent = ShardState("p", KeyedState(dict(keys)), value=7)
    restored_parent = Restored(draft("p", 1, "9", finished=True), parent.keyed, 7)
    left, value = inherit([restored_parent], (low, high), lambda values: values[0])
    assert value == 7
    assert set(left) == {k for k in keys if hash_key_of(k) <= high}
    # the child moved on: its newer values replace the parent's in its range
    child_keys = {k: -1 for k in left}
    child = Restored(
        draft("c1", 1, "50", parents=("p",), hash_range=(low, high)), KeyedState(child_keys), 7
    )
    merged = merged_keyed({"p": restored_parent, "c1": child})
    assert {k: v for k, v in merged.items() if v == -1} == child_keys
    assert len(merged) == len(keys)
    assert resume_time({"p": restored_parent, "c1": child}, dt.timedelta(seconds=5)) == (
        T0 + dt.timedelta(seconds=1) - dt.timedelta(seconds=5)
    )
