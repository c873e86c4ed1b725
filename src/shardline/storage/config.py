"""Settings of one region, with AWS's defaults and the reason for each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shardline.errors import ConfigError
from shardline.settings import setting, validate
from shardline.storage.engine import Durability, WalPolicy


@dataclass(frozen=True)
class RegionConfig:
    """How a region stores data and which limits it enforces.

    Example::

        RegionConfig(data_dir=Path("data"), region="eu-west-1", create_delay_s=0)
    """

    #: Where the streams database (``shardline.db``) and the master key live.
    data_dir: Path
    #: The region named in ARNs and messages.
    region: str = "us-east-1"
    #: Twelve digits, as AWS account ids are (it appears in every ARN).
    account_id: str = "000000000000"
    #: "fsync": an acknowledged record survives power loss; "process": it survives a
    #: crash of the server process only (no fsync per commit).
    durability: Durability = "fsync"
    #: Open shards allowed per account (AWS's default quota in the large regions:
    #: us-east-1, us-west-2, eu-west-1; 1,000 or 6,000 elsewhere).
    shard_limit: int = setting(20_000, ge=1)
    #: On-demand streams allowed per account (AWS default).
    on_demand_stream_limit: int = setting(50, ge=0)
    #: Registered enhanced fan-out consumers per stream (AWS limit).
    consumer_limit: int = setting(20, ge=1)
    #: Seconds a new stream stays CREATING (AWS takes seconds; tests use 0).
    create_delay_s: float = setting(0.5, ge=0)
    #: Seconds a deleted stream stays DELETING.
    delete_delay_s: float = setting(0.5, ge=0)
    #: Seconds a stream stays UPDATING after a reshard or a configuration change.
    update_delay_s: float = setting(0.5, ge=0)
    #: Enforce per-shard throughput (1,000 rec/s and 1 MiB/s in, 5 reads/s and 2 MiB/s out).
    enforce_throughput: bool = False
    #: Length of a retention "hour" in seconds. 3600 in production; drills and tests
    #: shrink it so that 24-hour retention and trimming can be observed in seconds.
    retention_hour_s: float = setting(3600.0, gt=0)
    #: How often expired records are trimmed.
    trim_interval_s: float = setting(60.0, gt=0)
    #: A SubscribeToShard stream ends after this long (AWS: 5 minutes); clients resubscribe.
    subscription_lifetime_s: float = setting(300.0, gt=0)
    #: An empty SubscribeToShardEvent is sent after this long without records.
    subscription_heartbeat_s: float = setting(5.0, gt=0)
    #: Master key for encryption at rest; defaults to ``data_dir/master.key``.
    master_key_path: Path | None = None
    #: How long committed data may live only in the write-ahead log.
    wal: WalPolicy = field(default_factory=WalPolicy)
    #: Checksum every chunk written and check every chunk read. Only the benchmark
    #: that measures what checking costs turns it off (``SHARDLINE_BENCH_UNCHECKED=1``).
    verify_checksums: bool = True
    #: Count stream and shard metrics for ``/metrics`` (off only to measure their cost).
    metrics: bool = True

    def __post_init__(self) -> None:
        validate(self)
        if not (len(self.account_id) == 12 and self.account_id.isdigit()):
            raise ConfigError.invalid(
                "RegionConfig.", "account_id", self.account_id, "twelve digits"
            )

    @property
    def database_path(self) -> Path:
        return self.data_dir / "shardline.db"

    @property
    def key_path(self) -> Path:
        return self.master_key_path or self.data_dir / "master.key"

    def stream_arn(self, name: str) -> str:
        return f"arn:aws:kinesis:{self.region}:{self.account_id}:stream/{name}"
