"""A snapshot's shard and a checkpoint manifest share ShardCheckpoint, and the
formats written before that sharing still read back unchanged."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields

import orjson

from shardline.consumer.positions import Position
from shardline.state.checkpoints import Restored
from shardline.state.keyed import KeyedState
from shardline.state.manifest import Manifest, ShardCheckpoint
from shardline.state.snapshots import SnapshotShard

# The position and lineage both formats spell the same way.
STANDING = {
    "position": {"sequence": "49590338271490256608559692538361571095921575989136588898", "sub": 3},
    "last_arrival": "2024-01-01T00:00:05+00:00",
    "finished": True,
    "parents": ["shardId-000000000000", "shardId-000000000001"],
    "hash_range": ["0", "170141183460469231731687303715884105727"],
    "keys": 12,
}
# A shard of a snapshot record as Shardline wrote it before SnapshotShard reused the
# manifest's fields.
SNAPSHOT_SHARD = {
    "shard_id": "shardId-000000000002",
    "checkpoint_id": 7,
    **STANDING,
    "size": 345,
}

MANIFEST = {
    "format": 1,
    "application": "app",
    "shard_id": "shardId-000000000002",
    "checkpoint_id": 7,
    "created": "2024-01-01T00:00:06+00:00",
    **STANDING,
    "state": {"name": "000000000007.state", "size": 345},
    "encryption": {"key_id": "k1"},
}


def test_a_snapshot_shard_reads_and_writes_the_format_it_always_had() -> None:
    shard = SnapshotShard.from_dict(SNAPSHOT_SHARD)
    assert shard.position == Position(STANDING["position"]["sequence"], 3)  # type: ignore[index]
    assert shard.hash_range == (0, 2**127 - 1)
    assert shard.to_dict() == SNAPSHOT_SHARD


def test_a_manifest_reads_and_writes_the_format_it_always_had() -> None:
    manifest = Manifest.parse(orjson.dumps(MANIFEST), "test")
    assert manifest.created == dt.datetime(2024, 1, 1, 0, 0, 6, tzinfo=dt.UTC)
    assert orjson.loads(manifest.to_bytes()) == MANIFEST
    assert list(orjson.loads(manifest.to_bytes())) == list(MANIFEST)


def test_a_snapshot_shard_takes_every_shared_fact_from_its_manifest() -> None:
    manifest = Manifest.parse(orjson.dumps(MANIFEST), "test")
    shard = SnapshotShard.of(Restored(manifest, KeyedState({}), None))
    for name in (f.name for f in fields(ShardCheckpoint)):
        assert getattr(shard, name) == getattr(manifest, name), name
    assert shard.to_dict() == SNAPSHOT_SHARD
