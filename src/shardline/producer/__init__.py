"""A Kinesis producer with the KPL's batching and aggregation and a durable spool.

Modules, one job each: ``config`` (settings with KPL defaults), ``destination``
(where records go, and a spool's binding), ``records`` (what goes in and comes
out), ``attempt`` (one try at storing a record), ``predictor`` (shard map from
ListShards), ``batching`` (per-shard queues into PutRecords calls, aggregation),
``ratelimit`` (per-shard limits), ``retry`` (what failures mean, back-off),
``outstanding`` (the records owned until their outcome: backpressure, flush),
``holding`` (acknowledged records kept until replicated), ``giving_up`` (records
given up, logged and buried together), ``spool`` and
``spool_file`` (SQLite spool), ``dead_letters``, ``metrics`` (KPL-named metrics and
the error-rate window), ``producer`` (the async producer), ``sync`` (the blocking
facade), ``exceptions``. Records are framed by :mod:`shardline.framing`.
"""

from shardline.producer.attempt import Attempt
from shardline.producer.config import ProducerConfig
from shardline.producer.destination import Destination
from shardline.producer.exceptions import (
    InvalidRecordError,
    ProducerClosedError,
    ProducerError,
    RecordExpiredError,
    RecordFailedError,
    SpoolBoundError,
    SpoolError,
    SpoolLockedError,
)
from shardline.producer.metrics import ProducerMetrics, WindowStats
from shardline.producer.producer import Producer
from shardline.producer.records import PutOutcome, Record
from shardline.producer.sync import SyncProducer

__all__ = [
    "Attempt",
    "Destination",
    "InvalidRecordError",
    "Producer",
    "ProducerClosedError",
    "ProducerConfig",
    "ProducerError",
    "ProducerMetrics",
    "PutOutcome",
    "Record",
    "RecordExpiredError",
    "RecordFailedError",
    "SpoolBoundError",
    "SpoolError",
    "SpoolLockedError",
    "SyncProducer",
    "WindowStats",
]
