"""``shardline serve``: run one region (a Kinesis-compatible server).

Defaults come from :class:`~shardline.storage.config.RegionConfig`. Mistakes an
operator makes when starting a server (a port in use or out of range, a data
directory that is a file or cannot be written) end in one line saying what to do.
"""

from __future__ import annotations

import asyncio
import errno
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import click

from shardline import logs
from shardline.cli.common import config_default, fail, seconds_option
from shardline.errors import ConfigError
from shardline.server.auth.gate import GateConfig, is_loopback
from shardline.server.auth.keys import CredentialsError, KeyStore, load_keys
from shardline.server.limits import MIB, ServerLimits
from shardline.server.runner import serve as run_server
from shardline.server.tls import TlsConfigError, TlsFiles, server_context
from shardline.storage.config import RegionConfig
from shardline.storage.engine import Durability, WalPolicy
from shardline.storage.exceptions import DataDirUnusable, StartupRefused

READY_PREFIX = "shardline: serving Kinesis API at "
#: Benchmark only: store and serve chunks without checksums, to measure their cost.
UNCHECKED_ENV = "SHARDLINE_BENCH_UNCHECKED"


def _default(name: str) -> Any:
    return config_default(RegionConfig, name)


def _check_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` if missing and prove it takes files, or end in one line."""
    if data_dir.exists() and not data_dir.is_dir():
        fail(
            f"--data-dir {data_dir} is a file, not a directory: pass a directory",
            DataDirUnusable.exit_status,
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        fail(
            f"cannot use --data-dir {data_dir}: {exc.strerror or exc}; pass a directory you "
            "can write to (it is created if missing)",
            DataDirUnusable.exit_status,
        )


def _check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        fail(f"--port {port} is out of range: use 1..65535, or 0 to pick a free port")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """``shardline serve``'s command line, one field per option, named as click
    passes it; see the options' ``--help`` for what each means."""

    host: str
    port: int
    data_dir: Path
    region: str
    account_id: str
    durability: Durability
    shard_limit: int
    create_delay_s: float
    delete_delay_s: float
    update_delay_s: float
    enforce_throughput: bool
    retention_hour_s: float
    trim_interval_s: float
    subscription_lifetime_s: float
    master_key_file: Path | None
    wal_autocheckpoint_pages: int
    checkpoint_after_s: float
    tls_cert: Path | None
    tls_key: Path | None
    max_connections: int | None
    header_timeout_s: float
    idle_timeout_s: float
    body_budget_mb: int
    metrics: bool
    credentials: Path | None
    insecure: bool
    allow_host: tuple[str, ...]
    allow_origin: tuple[str, ...]
    log_level: str


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=4567,
    show_default=True,
    type=int,
    help="Port to listen on (1..65535); 0 picks a free port (the ready line prints it).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("SHARDLINE_DATA_DIR", "shardline-data"),
    show_default="$SHARDLINE_DATA_DIR or ./shardline-data",
    help="Directory holding the streams database and the master key (created if missing).",
)
@click.option("--region", default=_default("region"), show_default=True, help="Region in ARNs.")
@click.option(
    "--account-id", default=_default("account_id"), show_default=True, help="Account id in ARNs."
)
@click.option(
    "--durability",
    type=click.Choice(get_args(Durability)),
    default=_default("durability"),
    show_default=True,
    help="fsync: an acknowledged record survives power loss; "
    "process: it survives a crash of this process only (faster on slow disks).",
)
@click.option(
    "--shard-limit",
    default=_default("shard_limit"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Open shards allowed in the account (AWS's default quota in large regions).",
)
@seconds_option(
    "--create-delay-s",
    default=_default("create_delay_s"),
    help="How long a new stream stays CREATING (tests use 0).",
    ms_aliases=("--create-delay-ms",),
)
@seconds_option(
    "--delete-delay-s",
    default=_default("delete_delay_s"),
    help="How long a deleted stream stays DELETING.",
    ms_aliases=("--delete-delay-ms",),
)
@seconds_option(
    "--update-delay-s",
    default=_default("update_delay_s"),
    help="How long a stream stays UPDATING after a reshard or configuration change.",
    ms_aliases=("--update-delay-ms",),
)
@click.option(
    "--enforce-throughput/--no-enforce-throughput",
    default=_default("enforce_throughput"),
    show_default=True,
    help="Throttle each shard at Kinesis's limits (1,000 rec/s and 1 MiB/s in; 5 reads/s and "
    "2 MiB/s out) with ProvisionedThroughputExceededException.",
)
@seconds_option(
    "--retention-hour-s",
    default=_default("retention_hour_s"),
    help="Length of one retention hour; shrink it in tests to watch trimming happen.",
    aliases=("--retention-hour-seconds",),
)
@seconds_option(
    "--trim-interval-s",
    default=_default("trim_interval_s"),
    help="How often records past the retention period are deleted.",
    aliases=("--trim-interval-seconds",),
)
@seconds_option(
    "--subscription-lifetime-s",
    default=_default("subscription_lifetime_s"),
    help="Lifetime of one SubscribeToShard stream (AWS: 5 minutes).",
    aliases=("--subscription-seconds",),
)
@click.option(
    "--master-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="32-byte key that protects encrypted streams (default: DATA_DIR/master.key, "
    "created on first start).",
)
@click.option(
    "--wal-autocheckpoint-pages",
    default=config_default(WalPolicy, "autocheckpoint_pages"),
    show_default=True,
    type=click.IntRange(min=0),
    help="Copy the write-ahead log into the database once it holds this many pages (0: "
    "never by size). Smaller bounds what a damaged log can lose; see docs/integrity.md.",
)
@seconds_option(
    "--checkpoint-after-s",
    default=config_default(WalPolicy, "checkpoint_after_s"),
    help="Also copy it once the oldest commit only the log holds is this old and no write "
    "is waiting (0: only by size).",
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
@seconds_option(
    "--header-timeout-s",
    default=ServerLimits.header_timeout_s,
    minimum=0.001,
    help="A request head must arrive within this long of its first byte.",
    aliases=("--header-timeout-seconds",),
)
@seconds_option(
    "--idle-timeout-s",
    default=ServerLimits.idle_timeout_s,
    minimum=0.001,
    help="Close a connection with no request in progress after this long; "
    "also the longest a request body may stop flowing.",
    aliases=("--idle-timeout-seconds",),
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
    default=_default("metrics"),
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
    "--allow-origin",
    multiple=True,
    metavar="ORIGIN",
    help="Without --credentials, also grant CORS to web pages of ORIGIN (scheme://host[:port]); "
    "by default only pages from loopback origins may call cross-origin, since without "
    "credentials any signature passes. Repeatable.",
)
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Least severe log messages written to standard error.",
)
@logs.log_format_option
def serve(**options: Any) -> None:
    """Serve the Kinesis API, storing streams durably under DATA_DIR.

    Point any Kinesis client at it with only the endpoint changed, e.g.
    ``boto3.client("kinesis", endpoint_url="http://127.0.0.1:4567")``.

    If the data directory cannot be used safely (damaged database or write-ahead log,
    wrong master key, directory locked or unusable) it prints one line saying what to
    do and exits with status 65 (damaged data), 73 (unusable directory), 75 (in use by
    another process) or 78 (wrong master key); see docs/integrity.md.
    """
    _serve(ServeOptions(**options))


def _serve(o: ServeOptions) -> None:
    """Check the command line and the data directory, then run the server until stopped."""
    logs.configure(o.log_level)
    _check_port(o.port)
    # Refuse an open server before touching the disk.
    keys = _keys(o.credentials, o.host, o.insecure)
    _check_data_dir(o.data_dir)
    config = _region_config(o)
    gate = GateConfig(keys, frozenset(o.allow_host), frozenset(o.allow_origin))
    auth = f"credentials {o.credentials}" if keys is not None else "no credentials"
    limits = ServerLimits(
        body_budget_bytes=o.body_budget_mb * MIB,
        header_timeout_s=o.header_timeout_s,
        idle_timeout_s=o.idle_timeout_s,
        max_connections=o.max_connections,
    )
    tls = _tls_context(o.tls_cert, o.tls_key)
    if tls is None and not is_loopback(o.host):
        click.echo(
            f"shardline: warning: serving plain HTTP on {o.host}: anyone who can reach the port "
            "reads what travels on it; serve HTTPS with --tls-cert/--tls-key "
            "(docs/security.md)",
            err=True,
        )

    def ready(url: str) -> None:
        click.echo(f"{READY_PREFIX}{url} (region {o.region}, data {o.data_dir}, {auth})")

    try:
        asyncio.run(
            run_server(config, o.host, o.port, on_ready=ready, gate=gate, limits=limits, tls=tls)
        )
    except StartupRefused as refused:
        fail(str(refused), refused.exit_status)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        fail(
            f"port {o.port} on {o.host} is already in use (another `shardline serve`?); stop "
            "that process, or pass another --port (--port 0 picks a free one)"
        )


def _region_config(o: ServeOptions) -> RegionConfig:
    """The region's configuration from the command line, or one line saying what is wrong."""
    try:
        return RegionConfig(
            data_dir=o.data_dir,
            region=o.region,
            account_id=o.account_id,
            durability=o.durability,
            shard_limit=o.shard_limit,
            create_delay_s=o.create_delay_s,
            delete_delay_s=o.delete_delay_s,
            update_delay_s=o.update_delay_s,
            enforce_throughput=o.enforce_throughput,
            retention_hour_s=o.retention_hour_s,
            trim_interval_s=o.trim_interval_s,
            subscription_lifetime_s=o.subscription_lifetime_s,
            master_key_path=o.master_key_file,
            metrics=o.metrics,
            wal=WalPolicy(
                autocheckpoint_pages=o.wal_autocheckpoint_pages,
                checkpoint_after_s=o.checkpoint_after_s or None,
            ),
            verify_checksums=os.environ.get(UNCHECKED_ENV) != "1",
        )
    except ConfigError as exc:
        fail(str(exc))


def _keys(credentials: Path | None, host: str, insecure: bool) -> KeyStore | None:
    """The keys to verify signatures with; refuses an open non-loopback server."""
    if credentials is None:
        if not is_loopback(host) and not insecure:
            fail(
                f"refusing to listen on {host or 'every address'} without --credentials: anyone "
                "who can reach it could read, write and delete every stream (give --credentials "
                "FILE, or --insecure to accept that)"
            )
        return None
    try:
        return load_keys(credentials)
    except CredentialsError as exc:
        fail(str(exc))


def _tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        return server_context(TlsFiles(cert, key))
    except TlsConfigError as exc:
        fail(str(exc))
