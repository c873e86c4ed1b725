"""Shardline: a highly available streaming platform modelled on Amazon Kinesis.

Layering (imports point one way):

- ``errors``: the one exception hierarchy, shared by server and clients.
- ``storage``: a region's durable state (SQLite engine, catalog, operations).
- ``server``: the Kinesis wire protocol in front of ``storage``; imported only by
  the CLI and tests.
- ``aggregation``: the KPL aggregate format, shared by producer and consumer.
- the toolkit (``producer``, ``consumer``; later replication, failover, state, sinks)
  speaks only the Kinesis API (aiobotocore), and keeps its own state in ``stores``.
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
from shardline.producer import (
    Destination,
    Producer,
    ProducerConfig,
    PutOutcome,
    SyncProducer,
)

__version__ = "0.1.0"

__all__ = [
    "Checkpointer",
    "ConsumerConfig",
    "ConsumerRecord",
    "Destination",
    "FunctionProcessor",
    "KinesisError",
    "ProcessRecordsInput",
    "Producer",
    "ProducerConfig",
    "PutOutcome",
    "RecordProcessor",
    "Scheduler",
    "ShardlineError",
    "SyncProducer",
    "__version__",
]
