"""Shardline: a highly available streaming platform modelled on Amazon Kinesis.

Layering (imports point one way):

- ``errors``: the one exception hierarchy, shared by server and clients;
  ``settings`` validates every config class where it is built; ``credentials``
  gives clients placeholder keys when no AWS credentials are configured.
- ``storage``: a region's durable state (SQLite engine, catalog, operations).
- ``server``: the Kinesis wire protocol in front of ``storage``; imported only by
  the CLI and tests.
- ``aggregation``: the KPL aggregate format, shared by producer and consumer.
- ``sessions``: the aiobotocore session the toolkit reads records with (cheap
  timestamp parsing), shared by the consumer and the CLI.
- ``topology``: the TOML file that names regions, streams, stores and the failover
  policy, shared by every cross-region component; ``credentials`` holds a region's
  access key pair, and ``admin`` signs calls to a region's ``/_shardline`` endpoint.
- the toolkit (``producer``, ``consumer``, ``replication``, ``failover``, ``state``,
  ``sinks``) speaks only the Kinesis API (aiobotocore), and keeps its own state in
  ``stores`` (leases, control store) or in the sink/state stores it is given.
  ``metrics`` (Prometheus families and the ``/metrics`` endpoint) and ``logs`` (text
  or JSON log lines) serve all of it.
- ``pipeline``: the reference pipeline (``shardline up``, drills) built on the toolkit;
  ``console``: the web console over the pipeline, its status and the toolkit's actions.
- ``cli``: the ``shardline`` command, a thin layer over all of the above.
"""

from __future__ import annotations

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
from shardline.failover.consumer import RegionConsumer
from shardline.failover.producer import FailoverProducer
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
