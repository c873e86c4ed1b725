"""Shardline: a highly available streaming platform modelled on Amazon Kinesis.

Layering, lowest first. A module imports only from its own layer and the layers below
it, counting every import: at module level, inside a function, and under
``TYPE_CHECKING`` (a type from a higher layer is still a dependency on it); and no
two packages import each other. ``tests/unit/codebase/test_layering.py`` checks this list
against the real imports, and fails on a package or module it does not name.

1. ``errors``, ``backoff``, ``settings``, ``credentials``, ``sqlite_writer``: the one
   exception hierarchy and the one answer to "retry this?", shared by server and
   clients; ``backoff`` the one jittered back-off every retry loop waits by;
   ``settings`` validates every config class where it is built; ``credentials`` holds
   access key pairs and gives clients placeholder keys when no AWS credentials are
   configured; ``sqlite_writer`` the one group-commit writer thread, under both the
   producer's spool and the region's storage engine.
2. ``framing``, ``kinesis``, ``sessions``, ``metrics``, ``logs``: what every client
   shares: how records are framed inside Kinesis data (origin marker, KPL aggregate,
   record-id envelope), the toolkit's wire layer (clients, shard listings, waits for
   ACTIVE), the aiobotocore session the toolkit reads records with (cheap timestamp
   parsing), Prometheus families and the ``/metrics`` endpoint, and text or JSON log
   lines.
3. ``topology``, ``admin``: the TOML file that names regions, streams, stores and the
   failover policy, shared by every cross-region component; ``admin`` signs calls to
   a region's ``/_shardline`` endpoint.
4. ``stores``: where the toolkit keeps its own state (leases, the control store).
5. ``producer``: the KPL-like producer and its spool.
6. ``consumer``: the KCL equivalent.
7. ``failover``, ``state``, ``sinks``: region-following producers and consumers, the
   monitor, failback; stateful processing; idempotent sinks. The toolkit speaks only
   the Kinesis API (aiobotocore) and keeps its state in ``stores`` or in the sink and
   state stores it is given.
8. ``replication``: a consumer of one region that writes to another, following the
   control state through ``failover``.
9. ``shardline``: this module, the curated public API below.
10. ``pipeline``: the reference pipeline (``shardline up``, drills) built on the toolkit.
11. ``console``: the web console over the pipeline, its status and the toolkit's actions.
12. ``storage``: a region's durable state (SQLite engine, catalog, operations).
13. ``server``: the Kinesis wire protocol in front of ``storage``.
14. ``cli``, ``__main__``, ``testing``: the ``shardline`` command, a thin layer over all
    of the above, and the test kit; nothing in the package imports them.

The region (``storage`` and ``server``) sits beside the toolkit, not under it: it is
listed above the toolkit so that nothing but the CLI and tests may import it, since
the toolkit talks to a region over the wire like any other Kinesis client.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from shardline.consumer import (
        Checkpointer,
        ConsumerConfig,
        ConsumerRecord,
        FunctionProcessor,
        ProcessRecordsInput,
        RecordProcessor,
        Scheduler,
    )
    from shardline.errors import KinesisError, ShardlineError
    from shardline.failover import FailoverProducer, RegionConsumer
    from shardline.producer import (
        Destination,
        Producer,
        ProducerConfig,
        PutOutcome,
        SyncProducer,
    )
    from shardline.sinks import IdempotentSink, SinkRecord, SQLiteSink, WriteOutcome
    from shardline.state import KeyedState, Snapshots, StateConfig, StatefulJob, StatefulProcessor
    from shardline.topology import Topology, load_topology

__version__ = "0.1.0"

#: Each public name's module. A name is imported on first use (PEP 562's module
#: ``__getattr__``), so a process that needs one part of Shardline does not load the
#: rest: ``shardline serve`` imports the region and none of the toolkit.
_HOMES: dict[str, str] = {
    "Checkpointer": "shardline.consumer",
    "ConsumerConfig": "shardline.consumer",
    "ConsumerRecord": "shardline.consumer",
    "FunctionProcessor": "shardline.consumer",
    "ProcessRecordsInput": "shardline.consumer",
    "RecordProcessor": "shardline.consumer",
    "Scheduler": "shardline.consumer",
    "KinesisError": "shardline.errors",
    "ShardlineError": "shardline.errors",
    "FailoverProducer": "shardline.failover",
    "RegionConsumer": "shardline.failover",
    "Destination": "shardline.producer",
    "Producer": "shardline.producer",
    "ProducerConfig": "shardline.producer",
    "PutOutcome": "shardline.producer",
    "SyncProducer": "shardline.producer",
    "IdempotentSink": "shardline.sinks",
    "SinkRecord": "shardline.sinks",
    "SQLiteSink": "shardline.sinks",
    "WriteOutcome": "shardline.sinks",
    "KeyedState": "shardline.state",
    "Snapshots": "shardline.state",
    "StateConfig": "shardline.state",
    "StatefulJob": "shardline.state",
    "StatefulProcessor": "shardline.state",
    "Topology": "shardline.topology",
    "load_topology": "shardline.topology",
}

__all__ = [
    "Checkpointer",
    "ConsumerConfig",
    "ConsumerRecord",
    "Destination",
    "FailoverProducer",
    "FunctionProcessor",
    "IdempotentSink",
    "KeyedState",
    "KinesisError",
    "ProcessRecordsInput",
    "Producer",
    "ProducerConfig",
    "PutOutcome",
    "RecordProcessor",
    "RegionConsumer",
    "SQLiteSink",
    "Scheduler",
    "ShardlineError",
    "SinkRecord",
    "Snapshots",
    "StateConfig",
    "StatefulJob",
    "StatefulProcessor",
    "SyncProducer",
    "Topology",
    "WriteOutcome",
    "load_topology",
    "__version__",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'shardline' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
