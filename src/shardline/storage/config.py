"""Settings of one region, with AWS's defaults and the reason for each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shardline.storage.engine import Durability


@dataclass(frozen=True)
class RegionConfig:
    """How a region stores data and which limits it enforces.

    Example::

        RegionConfig(data_dir=Path("data"), region="eu-west-1", create_delay_s=0)
    """

    data_dir: Path
    region: str = "us-east-1"
    account_id: str = "000000000000"
    durability: Durability = "fsync"
    #: Open shards allowed per account (AWS's default quota in the large regions).
    shard_limit: int = 500
    #: On-demand streams allowed per account (AWS default).
    on_demand_stream_limit: int = 50
    #: Registered enhanced fan-out consumers per stream (AWS limit).
    consumer_limit: int = 20
    #: Seconds a stream stays CREATING / DELETING / UPDATING (AWS takes seconds; tests use 0).
    create_delay_s: float = 0.5
    delete_delay_s: float = 0.5
    update_delay_s: float = 0.5
    #: Enforce per-shard throughput (1,000 rec/s and 1 MiB/s in, 5 reads/s and 2 MiB/s out).
    enforce_throughput: bool = False
    #: Length of a retention "hour" in seconds. 3600 in production; drills and tests
    #: shrink it so that 24-hour retention and trimming can be observed in seconds.
    retention_hour_s: float = 3600.0
    #: How often expired records are trimmed.
    trim_interval_s: float = 60.0
    #: A SubscribeToShard stream ends after this long (AWS: 5 minutes); clients resubscribe.
    subscription_lifetime_s: float = 300.0
    #: An empty SubscribeToShardEvent is sent after this long without records.
    subscription_heartbeat_s: float = 5.0
    #: Master key for encryption at rest; defaults to ``data_dir/master.key``.
    master_key_path: Path | None = None
    #: Count stream and shard metrics for ``/metrics`` (off only to measure their cost).
    metrics: bool = True

    @property
    def database_path(self) -> Path:
        return self.data_dir / "shardline.db"

    @property
    def key_path(self) -> Path:
        return self.master_key_path or self.data_dir / "master.key"

    def stream_arn(self, name: str) -> str:
        return f"arn:aws:kinesis:{self.region}:{self.account_id}:stream/{name}"
