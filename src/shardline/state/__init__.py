"""Stateful processing: keyed state checkpointed atomically with source positions.

Modules, one job each: ``keyed`` (the state a processor sees), ``processor``
(``StatefulProcessor`` and ``StatefulJob`` on the consumer), ``checkpoints`` (a
shard's checkpoint series: write, latest, prune), ``manifest`` (the commit
object), ``snapshots`` (named, user-owned copies; restore), ``lineage`` (state
across splits and merges), ``standby`` (restore in another region by time),
``crypto`` (envelope encryption, key rotation), ``stores`` (local directory, S3),
``metrics`` (Managed Flink-named checkpoint metrics), ``config`` and
``exceptions``.
"""

from shardline.state.checkpoints import CheckpointSeries, Restored, latest_checkpoints
from shardline.state.config import StateConfig
from shardline.state.crypto import KeyRing
from shardline.state.exceptions import (
    SnapshotExistsError,
    StateError,
    StateIntegrityError,
    StateKeyError,
    StateNotFoundError,
    StateRestoreError,
    StateStoreError,
)
from shardline.state.keyed import KeyedState, ShardState
from shardline.state.lineage import merged_keyed
from shardline.state.metrics import StateMetrics
from shardline.state.processor import StatefulJob, StatefulProcessor
from shardline.state.snapshots import RestoreType, SnapshotInfo, Snapshots, SnapshotStatus
from shardline.state.standby import StandbyRestore, restore_in_region
from shardline.state.stores import LocalStore, ObjectStore, S3Store, open_store

__all__ = [
    "CheckpointSeries",
    "KeyRing",
    "KeyedState",
    "LocalStore",
    "ObjectStore",
    "RestoreType",
    "Restored",
    "S3Store",
    "ShardState",
    "SnapshotExistsError",
    "SnapshotInfo",
    "SnapshotStatus",
    "Snapshots",
    "StandbyRestore",
    "StateConfig",
    "StateError",
    "StateIntegrityError",
    "StateKeyError",
    "StateMetrics",
    "StateNotFoundError",
    "StateRestoreError",
    "StateStoreError",
    "StatefulJob",
    "StatefulProcessor",
    "latest_checkpoints",
    "merged_keyed",
    "open_store",
    "restore_in_region",
]
