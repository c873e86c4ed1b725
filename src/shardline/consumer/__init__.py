"""A native Python equivalent of the Kinesis Client Library.

Modules, one job each: ``config`` (settings with KCL defaults), ``processor`` (the
record processor interface), ``checkpoint`` (checkpointer and bounds),
``positions`` (extended sequence numbers), ``balance`` (which leases to take),
``coordinator`` (renew/take/steal/release), ``shard_sync`` (leases for shards),
``retrieval`` (polling and fan-out), ``shard_consumer`` (the per-shard state
machine), ``scheduler`` (the worker), ``metrics`` (KCL-named metrics).
"""

from shardline.consumer.checkpoint import Checkpointer, PreparedCheckpointer
from shardline.consumer.config import ConsumerConfig
from shardline.consumer.exceptions import (
    ConsumerError,
    InvalidCheckpointError,
    LeaseLostError,
    ShardEndNotCheckpointed,
)
from shardline.consumer.positions import Position
from shardline.consumer.processor import (
    FunctionProcessor,
    InitializationInput,
    ProcessRecordsInput,
    RecordProcessor,
)
from shardline.consumer.records import ConsumerRecord
from shardline.consumer.scheduler import Scheduler, run

__all__ = [
    "Checkpointer",
    "ConsumerConfig",
    "ConsumerError",
    "ConsumerRecord",
    "FunctionProcessor",
    "InitializationInput",
    "InvalidCheckpointError",
    "LeaseLostError",
    "Position",
    "PreparedCheckpointer",
    "ProcessRecordsInput",
    "RecordProcessor",
    "Scheduler",
    "ShardEndNotCheckpointed",
    "run",
]
