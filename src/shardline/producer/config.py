"""Producer settings. Defaults are the KPL's unless a comment says why not."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shardline.credentials import default_client_options
from shardline.errors import ConfigError
from shardline.settings import setting, validate

Ordering = Literal["unordered", "per-key"]
SpoolDurability = Literal["fsync", "process"]

#: Kinesis limits for one PutRecords call and one record (the service's, not tunable).
PUT_RECORDS_MAX_COUNT = 500
PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024
#: Per-shard write limits the rate limiter is a percentage of.
SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = 1024 * 1024


def _default_spool() -> Path:
    return Path(os.environ.get("SHARDLINE_SPOOL", "shardline-spool.sqlite"))


def _default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class ProducerConfig:
    """How a producer batches, retries and keeps records.

    Example::

        ProducerConfig(aggregation=True, ordering="per-key", spool_path=Path("orders.spool"))
        ProducerConfig(spool_path=None, record_ttl_s=30.0)   # the KPL's in-memory model
    """

    #: Longest a record waits in the buffer before its batch is sent (KPL
    #: RecordMaxBufferedTime 100 ms). Larger values make fuller batches.
    max_buffered_time_s: float = setting(0.1, ge=0)
    #: Records and bytes per PutRecords call (KPL CollectionMaxCount 500,
    #: CollectionMaxSize 5 MiB: Kinesis's own limits).
    collection_max_count: int = setting(PUT_RECORDS_MAX_COUNT, ge=1, le=PUT_RECORDS_MAX_COUNT)
    #: Bytes per PutRecords call (KPL CollectionMaxSize 5 MiB).
    collection_max_size: int = setting(PUT_RECORDS_MAX_BYTES, ge=1, le=PUT_RECORDS_MAX_BYTES)
    #: Pack user records bound for one shard into KPL aggregates. The KPL enables this
    #: by default; it is off here because any Kinesis reader can read plain records,
    #: while aggregates need a KPL-aware reader (ours, the KCL, aws-kinesis-agg).
    aggregation: bool = False
    #: Largest aggregate in bytes (KPL AggregationMaxSize 51,200).
    aggregation_max_size: int = setting(51_200, ge=1)
    #: "per-key" keeps each partition key's records in put order: one request in
    #: flight per shard, and within a request a key appears once unless its records
    #: travel inside one (atomic) aggregate. Kinesis itself does not order the
    #: entries of one PutRecords call, hence the rule.
    ordering: Ordering = "unordered"
    #: Concurrent PutRecords calls (KPL MaxConnections 24).
    max_connections: int = setting(24, ge=1)
    #: Per-call timeouts (KPL RequestTimeout and ConnectTimeout, 6,000 ms each). A
    #: call that times out has an unknown outcome: its records are sent again and
    #: may be stored twice (see :class:`shardline.producer.Attempt.ambiguous`).
    request_timeout_s: float = setting(6.0, gt=0)
    #: Longest wait for a connection (KPL ConnectTimeout 6,000 ms).
    connect_timeout_s: float = setting(6.0, gt=0)
    #: Per-shard rate limit as a percentage of 1,000 records/s and 1 MiB/s (KPL
    #: RateLimit 150: a little above the limit, so the shard is kept busy and the
    #: server's throttling does the fine control). None sends without a limit.
    rate_limit_percent: int | None = setting(150, gt=0)
    #: First and largest pause before a shard is tried again after a failure (the
    #: pause doubles per consecutive failure, with jitter). The KPL retries on its
    #: buffering timer; exponential back-off is gentler on an overloaded region, and
    #: 2 s keeps the wait after a region comes back short.
    backoff_initial_s: float = setting(0.1, gt=0)
    #: The largest pause, reached after failures in a row.
    backoff_max_s: float = setting(2.0, gt=0)
    #: Give up on a record this long after put (KPL RecordTtl 30 s): its outcome
    #: fails with RecordExpiredError. Applies only without a spool: a spooled record
    #: is kept and re-sent until the stream acknowledges it, since outliving outages
    #: and crashes is the spool's purpose. None never gives up.
    record_ttl_s: float | None = setting(30.0, gt=0)
    #: Durable spool (SQLite). A record is on disk there before put() returns and is
    #: removed once the stream acknowledged it; a restarted producer re-sends what is
    #: left. None keeps records in memory only (the KPL's model: a crash loses them).
    #: Default: $SHARDLINE_SPOOL or ./shardline-spool.sqlite. One producer per spool.
    spool_path: Path | None = field(default_factory=_default_spool)
    #: "fsync": a spooled record survives power loss; "process": it survives a crash
    #: of the producer process only (no fsync per commit; faster on slow disks).
    spool_durability: SpoolDurability = "fsync"
    #: Wrap each record's data in the record-id envelope
    #: (:mod:`shardline.framing.envelope`) so idempotent sinks can deduplicate.
    #: Off by default: payloads stay exactly as given.
    record_ids: bool = False
    #: Backpressure: put() waits while this many records (or bytes) are unacknowledged.
    #: The KPL has no bound (it grows until the process runs out of memory).
    max_outstanding_records: int = setting(100_000, ge=1)
    #: Backpressure in bytes (data + partition keys).
    max_outstanding_bytes: int = setting(256 * 1024 * 1024, ge=1)
    #: Largest record (data + partition key), Kinesis's default 1 MiB; raise it for a
    #: stream created with a larger MaxRecordSizeInKiB.
    max_record_size: int = setting(1024 * 1024, ge=1)
    #: Names this producer in metrics and logs.
    name: str = field(default_factory=_default_name)
    #: Extra arguments for the Kinesis client (e.g. credentials). The default is
    #: placeholder keys when no AWS credentials are configured, so a local region
    #: works as is (:func:`shardline.credentials.default_client_options`).
    client_options: dict[str, Any] = field(default_factory=default_client_options)

    def __post_init__(self) -> None:
        validate(self)
        if self.max_record_size > self.collection_max_size:
            raise ConfigError(
                f"ProducerConfig.max_record_size = {self.max_record_size} is not allowed: it "
                f"must be <= collection_max_size ({self.collection_max_size})"
            )
        if self.backoff_max_s < self.backoff_initial_s:
            raise ConfigError(
                f"ProducerConfig.backoff_max_s = {self.backoff_max_s} is not allowed: it must "
                f"be >= backoff_initial_s ({self.backoff_initial_s})"
            )
        if self.max_outstanding_bytes < self.max_record_size:
            raise ConfigError(
                f"ProducerConfig.max_outstanding_bytes = {self.max_outstanding_bytes} is not "
                f"allowed: it must hold one record (>= max_record_size, {self.max_record_size})"
            )
