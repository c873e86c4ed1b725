"""Producer settings. Defaults are the KPL's unless a comment says why not."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shardline.credentials import default_client_options

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
    max_buffered_time_s: float = 0.1
    #: Records and bytes per PutRecords call (KPL CollectionMaxCount 500,
    #: CollectionMaxSize 5 MiB: Kinesis's own limits).
    collection_max_count: int = PUT_RECORDS_MAX_COUNT
    collection_max_size: int = PUT_RECORDS_MAX_BYTES
    #: Pack user records bound for one shard into KPL aggregates. The KPL enables this
    #: by default; it is off here because any Kinesis reader can read plain records,
    #: while aggregates need a KPL-aware reader (ours, the KCL, aws-kinesis-agg).
    aggregation: bool = False
    #: Largest aggregate in bytes (KPL AggregationMaxSize 51,200).
    aggregation_max_size: int = 51_200
    #: "per-key" keeps each partition key's records in put order: one request in
    #: flight per shard, and within a request a key appears once unless its records
    #: travel inside one (atomic) aggregate. Kinesis itself does not order the
    #: entries of one PutRecords call, hence the rule.
    ordering: Ordering = "unordered"
    #: Concurrent PutRecords calls (KPL MaxConnections 24).
    max_connections: int = 24
    #: Per-call timeouts (KPL RequestTimeout and ConnectTimeout, 6,000 ms each). A
    #: call that times out has an unknown outcome: its records are sent again and
    #: may be stored twice (see :class:`shardline.producer.Attempt.ambiguous`).
    request_timeout_s: float = 6.0
    connect_timeout_s: float = 6.0
    #: Per-shard rate limit as a percentage of 1,000 records/s and 1 MiB/s (KPL
    #: RateLimit 150: a little above the limit, so the shard is kept busy and the
    #: server's throttling does the fine control). None sends without a limit.
    rate_limit_percent: int | None = 150
    #: First and largest pause before a shard is tried again after a failure (the
    #: pause doubles per consecutive failure, with jitter). The KPL retries on its
    #: buffering timer; exponential back-off is gentler on an overloaded region, and
    #: 2 s keeps the wait after a region comes back short.
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 2.0
    #: Give up on a record this long after put (KPL RecordTtl 30 s): its outcome
    #: fails with RecordExpiredError. Applies only without a spool: a spooled record
    #: is kept and re-sent until the stream acknowledges it, since outliving outages
    #: and crashes is the spool's purpose. None never gives up.
    record_ttl_s: float | None = 30.0
    #: Durable spool (SQLite). A record is on disk there before put() returns and is
    #: removed once the stream acknowledged it; a restarted producer re-sends what is
    #: left. None keeps records in memory only (the KPL's model: a crash loses them).
    #: Default: $SHARDLINE_SPOOL or ./shardline-spool.sqlite. One producer per spool.
    spool_path: Path | None = field(default_factory=_default_spool)
    #: "fsync": a spooled record survives power loss; "process": it survives a crash
    #: of the producer process only (no fsync per commit; faster on slow disks).
    spool_durability: SpoolDurability = "fsync"
    #: Wrap each record's data in the record-id envelope
    #: (:mod:`shardline.producer.envelope`) so idempotent sinks can deduplicate.
    #: Off by default: payloads stay exactly as given.
    record_ids: bool = False
    #: Backpressure: put() waits while this many records (or bytes) are unacknowledged.
    #: The KPL has no bound (it grows until the process runs out of memory).
    max_outstanding_records: int = 100_000
    max_outstanding_bytes: int = 256 * 1024 * 1024
    #: Largest record (data + partition key), Kinesis's default 1 MiB; raise it for a
    #: stream created with a larger MaxRecordSizeInKiB.
    max_record_size: int = 1024 * 1024
    #: Names this producer in metrics and logs.
    name: str = field(default_factory=_default_name)
    #: Extra arguments for the Kinesis client (e.g. credentials). The default is
    #: placeholder keys when no AWS credentials are configured, so a local region
    #: works as is (:func:`shardline.credentials.default_client_options`).
    client_options: dict[str, Any] = field(default_factory=default_client_options)

    def __post_init__(self) -> None:
        if not 0 < self.collection_max_count <= PUT_RECORDS_MAX_COUNT:
            raise ValueError(f"collection_max_count must be 1..{PUT_RECORDS_MAX_COUNT}")
        if not 0 < self.collection_max_size <= PUT_RECORDS_MAX_BYTES:
            raise ValueError(f"collection_max_size must be 1..{PUT_RECORDS_MAX_BYTES}")
        if self.max_record_size > self.collection_max_size:
            raise ValueError("max_record_size cannot exceed collection_max_size")
        if self.max_buffered_time_s < 0 or self.backoff_initial_s <= 0:
            raise ValueError("buffered time must be >= 0 and backoff positive")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        if self.max_connections < 1 or self.max_outstanding_records < 1:
            raise ValueError("max_connections and max_outstanding_records must be >= 1")
        if self.max_outstanding_bytes < self.max_record_size:
            raise ValueError("max_outstanding_bytes must hold at least one record")
        if self.rate_limit_percent is not None and self.rate_limit_percent <= 0:
            raise ValueError("rate_limit_percent must be positive (or None)")
        if self.record_ttl_s is not None and self.record_ttl_s <= 0:
            raise ValueError("record_ttl_s must be positive (or None)")
