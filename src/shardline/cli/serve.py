"""``shardline serve``: run one region (a Kinesis-compatible server)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from shardline import logs
from shardline.server.runner import serve as run_server
from shardline.storage.config import RegionConfig

READY_PREFIX = "shardline: serving Kinesis API at "


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=4567,
    show_default=True,
    type=int,
    help="Port to listen on; 0 picks a free port (the ready line prints it).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("SHARDLINE_DATA_DIR", "shardline-data"),
    show_default="$SHARDLINE_DATA_DIR or ./shardline-data",
    help="Directory holding the streams database and the master key.",
)
@click.option("--region", default="us-east-1", show_default=True, help="Region name in ARNs.")
@click.option("--account-id", default="000000000000", show_default=True, help="Account id in ARNs.")
@click.option(
    "--durability",
    type=click.Choice(["fsync", "process"]),
    default="fsync",
    show_default=True,
    help="fsync: an acknowledged record survives power loss; "
    "process: it survives a crash of this process only (faster on slow disks).",
)
@click.option(
    "--shard-limit",
    default=20000,
    show_default=True,
    type=int,
    help="Open shards allowed in the account (AWS's default quota in large regions).",
)
@click.option(
    "--create-delay-ms",
    default=500,
    show_default=True,
    type=int,
    help="How long a new stream stays CREATING.",
)
@click.option(
    "--delete-delay-ms",
    default=500,
    show_default=True,
    type=int,
    help="How long a deleted stream stays DELETING.",
)
@click.option(
    "--update-delay-ms",
    default=500,
    show_default=True,
    type=int,
    help="How long a stream stays UPDATING after a reshard or configuration change.",
)
@click.option(
    "--enforce-throughput/--no-enforce-throughput",
    default=False,
    show_default=True,
    help="Throttle each shard at Kinesis's limits (1,000 rec/s and 1 MiB/s in; 5 reads/s and "
    "2 MiB/s out) with ProvisionedThroughputExceededException.",
)
@click.option(
    "--retention-hour-seconds",
    default=3600.0,
    show_default=True,
    type=float,
    help="Length of one retention hour; shrink it in tests to watch trimming happen.",
)
@click.option(
    "--trim-interval-seconds",
    default=60.0,
    show_default=True,
    type=float,
    help="How often records past the retention period are deleted.",
)
@click.option(
    "--subscription-seconds",
    default=300.0,
    show_default=True,
    type=float,
    help="Lifetime of one SubscribeToShard stream (AWS: 5 minutes).",
)
@click.option(
    "--master-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="32-byte key that protects encrypted streams (default: DATA_DIR/master.key, "
    "created on first start).",
)
@click.option(
    "--metrics/--no-metrics",
    default=True,
    show_default=True,
    help="Count stream and shard metrics for GET /metrics (loopback callers only). "
    "--no-metrics exists to measure what counting costs.",
)
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
)
@logs.log_format_option
def serve(
    host: str,
    port: int,
    data_dir: Path,
    region: str,
    account_id: str,
    durability: str,
    shard_limit: int,
    create_delay_ms: int,
    delete_delay_ms: int,
    update_delay_ms: int,
    enforce_throughput: bool,
    retention_hour_seconds: float,
    trim_interval_seconds: float,
    subscription_seconds: float,
    master_key_file: Path | None,
    metrics: bool,
    log_level: str,
) -> None:
    """Serve the Kinesis API, storing streams durably under DATA_DIR.

    Point any Kinesis client at it with only the endpoint changed, e.g.
    ``boto3.client("kinesis", endpoint_url="http://127.0.0.1:4567")``.
    """
    logs.configure(log_level)
    config = RegionConfig(
        data_dir=data_dir,
        region=region,
        account_id=account_id,
        durability="fsync" if durability == "fsync" else "process",
        shard_limit=shard_limit,
        create_delay_s=create_delay_ms / 1000,
        delete_delay_s=delete_delay_ms / 1000,
        update_delay_s=update_delay_ms / 1000,
        enforce_throughput=enforce_throughput,
        retention_hour_s=retention_hour_seconds,
        trim_interval_s=trim_interval_seconds,
        subscription_lifetime_s=subscription_seconds,
        master_key_path=master_key_file,
        metrics=metrics,
    )

    def ready(url: str) -> None:
        click.echo(f"{READY_PREFIX}{url} (region {region}, data {data_dir})")

    asyncio.run(run_server(config, host, port, on_ready=ready))
