"""Errors of stateful processing, all under :class:`shardline.errors.ShardlineError`::

ShardlineError
└── StateError
    ├── StateStoreError          the checkpoint store failed (I/O, S3); retry later
    ├── StateNotFoundError       no such checkpoint, snapshot or object
    ├── StateIntegrityError      a checkpoint or snapshot failed verification
    │   └── StateKeyError        it was sealed with a master key that is not configured
    ├── SnapshotExistsError      a snapshot of that name exists already
    └── StateRestoreError        state and source positions cannot be lined up

Messages say what the operator can do, because these errors surface at start-up
when a worker refuses to run on state it cannot trust.
"""

from __future__ import annotations

from shardline.errors import ShardlineError


class StateError(ShardlineError):
    """Root of the stateful-processing errors."""


class StateStoreError(StateError):
    """The store could not be read or written (disk, network, S3 error)."""


class StateNotFoundError(StateError):
    """The checkpoint, snapshot or object asked for does not exist."""


class StateIntegrityError(StateError):
    """Data failed authentication or its checksum: it was corrupted or tampered with.

    Nothing from it is used. The latest-checkpoint restore falls back to the
    previous complete checkpoint; when none verifies, the worker refuses the shard
    rather than silently starting from empty state.
    """


class StateKeyError(StateIntegrityError):
    """The data names a master key id that is not in the configured key ring.

    Rotation keeps old keys: add the named key back to the key file (or
    ``SHARDLINE_STATE_KEYS``) next to the new one.
    """


class SnapshotExistsError(StateError):
    """Snapshot names are unique per application (as in Managed Flink)."""


class StateRestoreError(StateError):
    """The lease table is ahead of every state checkpoint of a shard.

    Records between the two positions would be missing from the state. Restore a
    snapshot (``shardline snapshot restore NAME``), which rewrites both, or discard
    the state with ``shardline snapshot restore --skip``.
    """
