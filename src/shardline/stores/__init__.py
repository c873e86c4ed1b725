"""Where the toolkit keeps its own state, each store with an embedded default and a
scale backend behind one interface.

- ``leases``: the KCL lease table model and the ``LeaseStore`` interface;
  ``sqlite_leases`` (one SQLite file shared by the workers of a host) and
  ``dynamodb_leases`` (the KCL's item schema, readable by the Java KCL).
- ``control``: the failover authority's state (active region, epoch, watermarks,
  reports) and the ``ControlStore`` interface; ``sqlite_control``,
  ``dynamodb_control``, and ``replicated_control`` (one store per region).
- ``sqlite_file`` and ``dynamodb_table``: what the backends of each kind share.
- ``factory``: the store a topology file asks for.

The public surface: the two interfaces, their backends, the factories
:func:`control_store_for` and :func:`lease_store_for`, and the errors
(:class:`LeaseStoreError`, :class:`ControlStoreError`, and :class:`StaleEpochError`
for a decision or watermark another authority's newer decision fenced).
"""

from shardline.stores.control import (
    ControlState,
    ControlStore,
    ControlStoreError,
    StaleEpochError,
)
from shardline.stores.dynamodb_control import DynamoDBControlStore
from shardline.stores.dynamodb_leases import DynamoDBLeaseStore
from shardline.stores.factory import control_store_for, lease_store_for
from shardline.stores.leases import Lease, LeaseStore, LeaseStoreError
from shardline.stores.replicated_control import ReplicatedControlStore
from shardline.stores.sqlite_control import SQLiteControlStore
from shardline.stores.sqlite_leases import SQLiteLeaseStore

__all__ = [
    "ControlState",
    "ControlStore",
    "ControlStoreError",
    "DynamoDBControlStore",
    "DynamoDBLeaseStore",
    "Lease",
    "LeaseStore",
    "LeaseStoreError",
    "ReplicatedControlStore",
    "SQLiteControlStore",
    "SQLiteLeaseStore",
    "StaleEpochError",
    "control_store_for",
    "lease_store_for",
]
