"""``shardline serve``: run one region (a Kinesis-compatible server)."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import click

from shardline import logs
from shardline.server.auth.gate import GateConfig, is_loopback
from shardline.server.auth.keys import CredentialsError, KeyStore, load_keys
from shardline.server.limits import MIB, ServerLimits
from shardline.server.runner import serve as run_server
from shardline.server.tls import TlsConfigError, TlsFiles, server_context
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
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="PEM certificate (chain): serve HTTPS on the port, HTTP/2 by ALPN "
    "(`shardline certs create DIR` makes one). Needs --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="PEM private key of --tls-cert.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=None,
    help="Open connections allowed; at the cap a new one replaces the longest idle "
    "[default: as many as the open-file limit allows].",
)
@click.option(
    "--header-timeout-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=ServerLimits.header_timeout_s,
    show_default=True,
    help="A request head must arrive within this long of its first byte.",
)
@click.option(
    "--idle-timeout-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=ServerLimits.idle_timeout_s,
    show_default=True,
    help="Close a connection with no request in progress after this long; "
    "also the longest a request body may stop flowing.",
)
@click.option(
    "--body-budget-mb",
    type=click.IntRange(min=16),
    default=ServerLimits.body_budget_bytes // MIB,
    show_default=True,
    help="Request bodies held in memory at once, across all connections; "
    "beyond it calls get 503 ServiceUnavailable (retriable).",
)
@click.option(
    "--metrics/--no-metrics",
    default=True,
    show_default=True,
    help="Count stream and shard metrics for GET /metrics (loopback callers only). "
    "--no-metrics exists to measure what counting costs.",
)
@click.option(
    "--credentials",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML file of access keys (`shardline keys create` writes it). Every request must "
    "then carry a valid SigV4 signature by one of them, and each key's account is kept apart. "
    "Without it the server is for local development: loopback only, any signature accepted.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Without --credentials, listen on a non-loopback --host anyway (anyone who can reach "
    "the port can then read, write and delete every stream).",
)
@click.option(
    "--allow-host",
    multiple=True,
    metavar="NAME",
    help="Without --credentials, also answer requests whose Host header is NAME (by default "
    "only 127.0.0.1, localhost and [::1]: a defence against DNS rebinding). Repeatable.",
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
    tls_cert: Path | None,
    tls_key: Path | None,
    max_connections: int | None,
    header_timeout_seconds: float,
    idle_timeout_seconds: float,
    body_budget_mb: int,
    metrics: bool,
    credentials: Path | None,
    insecure: bool,
    allow_host: tuple[str, ...],
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

    keys = _keys(credentials, host, insecure)
    gate = GateConfig(keys, frozenset(allow_host))
    auth = f"credentials {credentials}" if keys is not None else "no credentials"
    limits = ServerLimits(
        body_budget_bytes=body_budget_mb * MIB,
        header_timeout_s=header_timeout_seconds,
        idle_timeout_s=idle_timeout_seconds,
        max_connections=max_connections,
    )
    tls = _tls_context(tls_cert, tls_key)
    if tls is None and not is_loopback(host):
        click.echo(
            f"shardline: warning: serving plain HTTP on {host}: anyone who can reach the port "
            "reads what travels on it; serve HTTPS with --tls-cert/--tls-key "
            "(docs/security.md)",
            err=True,
        )

    def ready(url: str) -> None:
        click.echo(f"{READY_PREFIX}{url} (region {region}, data {data_dir}, {auth})")

    asyncio.run(run_server(config, host, port, on_ready=ready, gate=gate, limits=limits, tls=tls))


def _keys(credentials: Path | None, host: str, insecure: bool) -> KeyStore | None:
    """The keys to verify signatures with; refuses an open non-loopback server."""
    if credentials is None:
        if not is_loopback(host) and not insecure:
            raise click.ClickException(
                f"refusing to listen on {host or 'every address'} without --credentials: anyone "
                "who can reach it could read, write and delete every stream (give --credentials "
                "FILE, or --insecure to accept that)"
            )
        return None
    try:
        return load_keys(credentials)
    except CredentialsError as exc:
        raise click.ClickException(str(exc)) from None


def _tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        return server_context(TlsFiles(cert, key))
    except TlsConfigError as exc:
        raise click.ClickException(str(exc)) from None
