"""Consumer settings. Defaults are the KCL's unless a comment says why not."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from shardline.credentials import default_client_options
from shardline.errors import ConfigError
from shardline.settings import setting, validate

InitialPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
Retrieval = Literal["polling", "fanout"]
OnProcessorError = Literal["retry", "skip", "release"]
OnDamagedRecords = Literal["skip", "retry"]


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class ConsumerConfig:
    """How a worker consumes one stream.

    Example::

        ConsumerConfig("orders-app", "orders", endpoint_url="http://127.0.0.1:4567",
                       initial_position="TRIM_HORIZON")
    """

    #: Names the lease table and the enhanced fan-out consumer (KCL: applicationName).
    application_name: str
    #: The stream whose shards are consumed.
    stream_name: str
    #: Kinesis endpoint; None means AWS itself.
    endpoint_url: str | None = None
    #: The region requests are signed for (and, without ``endpoint_url``, sent to).
    region_name: str = "us-east-1"
    #: Extra arguments for the Kinesis client (credentials, retries, timeouts). The
    #: default is placeholder keys when no AWS credentials are configured, so a local
    #: region works as is (:func:`shardline.credentials.default_client_options`).
    client_options: dict[str, Any] = field(default_factory=default_client_options)
    #: Names this worker as the owner of its leases (KCL workerIdentifier).
    worker_id: str = field(default_factory=_default_worker_id)
    #: Where a shard without a checkpoint starts (KCL default LATEST).
    initial_position: InitialPosition = "LATEST"
    #: With ``initial_position`` "AT_TIMESTAMP": the time to start at.
    initial_timestamp: dt.datetime | None = None
    #: "polling" reads with GetRecords; "fanout" subscribes (SubscribeToShard) with an
    #: enhanced fan-out consumer named after the application.
    retrieval: Retrieval = "polling"
    #: A lease whose counter has not moved for this long is expired (KCL: 10 s).
    failover_time_s: float = setting(10.0, gt=0)
    #: How often the lease table is scanned for expired, free or stealable leases.
    #: The KCL scans every 2 × (failover + 25 ms) ≈ 20 s, which is why its takeover
    #: takes 20–40 s; scanning every second moves a dead worker's shards within
    #: about failover_time_s + 2 s, at one table read per worker per second.
    lease_scan_interval_s: float = setting(1.0, gt=0)
    #: Most leases one worker holds (KCL: unlimited).
    max_leases_per_worker: int = setting(2**31 - 1, ge=1)
    #: Leases taken from a busier worker per scan when none is free (KCL: 1).
    max_leases_to_steal_at_one_time: int = setting(1, ge=0)
    #: GetRecords Limit (KCL maxRecords).
    max_records: int = setting(10_000, ge=1, le=10_000)
    #: Pause after an empty GetRecords (KCL idleTimeBetweenReadsInMillis 1,500, floor 200).
    idle_time_between_reads_s: float = setting(1.5, ge=0.2)
    #: How often a child shard checks whether its parents are done. The KCL polls
    #: every 10 s, so children idle up to 10 s after a reshard; 1 s costs one lease
    #: read per waiting shard per second.
    parent_shard_poll_interval_s: float = setting(1.0, gt=0)
    #: First back-off after a failed task (KCL taskBackoffTimeMillis); doubles per
    #: failure in a row up to ``max_backoff_s``, and starts over after a success.
    task_backoff_s: float = setting(0.5, gt=0)
    #: The longest back-off after failures in a row.
    max_backoff_s: float = setting(30.0, gt=0)
    #: How often shards are listed to create missing leases (KCL 60 s).
    shard_sync_interval_s: float = setting(60.0, gt=0)
    #: What happens when process_records raises: "retry" (default) restarts a fresh
    #: processor on the shard from its last checkpoint, so no record is skipped;
    #: "skip" drops the batch and goes on (the KCL's behaviour); "release" gives the
    #: shard's lease up so another worker tries.
    on_processor_error: OnProcessorError = "retry"
    #: What a reader does when the region reports stored records damaged (a Shardline
    #: region only; AWS has no such case): "skip" (default) logs an error naming the
    #: range, counts it (DamagedRangesSkipped) and reads on after it, since the
    #: region has lost them and asking again cannot bring them back; "retry" keeps
    #: asking with back-off, for an operator who will restore the region.
    on_damaged_records: OnDamagedRecords = "skip"
    #: Call process_records for empty batches too (KCL option of the same name).
    call_process_records_even_for_empty_list: bool = False

    def __post_init__(self) -> None:
        validate(self)
        if self.initial_position == "AT_TIMESTAMP" and self.initial_timestamp is None:
            raise ConfigError(
                "ConsumerConfig.initial_timestamp = None is not allowed with "
                "initial_position 'AT_TIMESTAMP': give the time to start at"
            )

    @property
    def renewal_interval_s(self) -> float:
        """KCL: failover / 3 − 25 ms, so two renewals may fail before expiry."""
        return max(self.failover_time_s / 3 - 0.025, 0.05)
