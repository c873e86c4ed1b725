"""``shardline snapshot``: named, user-owned snapshots of an application's state.

A thin layer over :class:`shardline.state.Snapshots`. ``create`` snapshots the
latest complete checkpoint of every shard (a running job's ``create_snapshot``
checkpoints first); ``restore`` rewrites the checkpoints *and* the lease table,
so run it while the application's workers are stopped. ``restore-in-region``
moves the state to a standby region's stream after a failover
(:func:`shardline.state.restore_in_region`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from shardline.cli.common import endpoint_options, seconds_option
from shardline.credentials import default_client_options as client_options
from shardline.kinesis import Endpoint, ShardInfo, connect, list_all_shards
from shardline.state import KeyRing, SnapshotInfo, Snapshots, open_store
from shardline.state.snapshots import RestoreType
from shardline.state.standby import StandbyRestore
from shardline.state.standby import restore_in_region as standby_restore
from shardline.state.stores.base import ObjectStore
from shardline.stores.leases import LeaseStore

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


def _state_options(command: _F) -> _F:
    options = [
        click.option(
            "--app",
            "application",
            required=True,
            envvar="SHARDLINE_APP",
            help="Application name (the StateConfig's); $SHARDLINE_APP.",
        ),
        click.option(
            "--store",
            default="shardline-state",
            envvar="SHARDLINE_STATE_STORE",
            show_default=True,
            help="State store: a directory or s3://bucket/prefix; $SHARDLINE_STATE_STORE.",
        ),
        click.option(
            "--s3-endpoint-url",
            envvar="SHARDLINE_S3_ENDPOINT",
            default=None,
            help="S3 endpoint for an s3:// store (a local S3 API, another region).",
        ),
        click.option(
            "--key-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Master keys, one KEY_ID:BASE64 per line, last is current; "
            "default $SHARDLINE_STATE_KEYS, else unencrypted state.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run(
    application: str,
    store: str,
    s3_endpoint_url: str | None,
    key_file: Path | None,
    action: Callable[[Snapshots], Awaitable[_T]],
) -> _T:
    keys = KeyRing.from_file(key_file) if key_file else KeyRing.from_env()
    options = {"client_options": client_options()} if store.startswith("s3://") else {}

    async def main() -> _T:
        opened = open_store(store, s3_endpoint_url, **options)
        try:
            return await action(Snapshots(opened, application, keys))
        finally:
            await opened.close()

    try:
        return asyncio.run(main())
    except Exception as exc:
        if isinstance(exc, click.ClickException):
            raise
        raise click.ClickException(str(exc)) from exc


def _show(infos: list[SnapshotInfo], as_json: bool, detail: bool = False) -> None:
    if as_json:
        click.echo(json.dumps([info.to_dict() for info in infos], indent=2 if detail else None))
        return
    table = Table("name", "status", "created", "version", "shards", "keys", "bytes")
    for info in infos:
        table.add_row(
            info.name,
            info.status,
            info.created.isoformat(timespec="milliseconds"),
            str(info.created_ms),
            str(len(info.shards)),
            f"{info.keys:,}",
            f"{info.size:,}",
        )
    console = Console()
    console.print(table)
    if detail:
        shards = Table("shard", "checkpoint", "position", "last arrival", "finished", "keys")
        for info in infos:
            for shard in info.shards:
                shards.add_row(
                    shard.shard_id,
                    str(shard.checkpoint_id),
                    str(shard.position),
                    shard.last_arrival.isoformat() if shard.last_arrival else "-",
                    "yes" if shard.finished else "no",
                    f"{shard.keys:,}",
                )
        console.print(shards)


@click.group()
def snapshot() -> None:
    """Create, list, describe, restore and delete snapshots of a stateful application."""


@snapshot.command()
@click.argument("name")
@_state_options
def create(name: str, as_json: bool, **common: Any) -> None:
    """Snapshot the latest complete checkpoint of every shard as NAME."""
    info = _run(**common, action=lambda snaps: snaps.create(name))
    _show([info], as_json)


@snapshot.command(name="list")
@_state_options
def list_(as_json: bool, **common: Any) -> None:
    """Every snapshot of the application, oldest first."""
    _show(_run(**common, action=lambda snaps: snaps.list()), as_json)


@snapshot.command()
@click.argument("name")
@click.option("--created", type=int, default=None, help="Version (creation ms) if several.")
@_state_options
def describe(name: str, created: int | None, as_json: bool, **common: Any) -> None:
    """A snapshot's status and the position of every shard in it."""
    _show([_run(**common, action=lambda snaps: snaps.describe(name, created))], as_json, True)


@snapshot.command()
@click.argument("name")
@click.option(
    "--created",
    type=int,
    required=True,
    help="The snapshot's version (creation time in ms, from `list`), as Managed Flink requires.",
)
@_state_options
def delete(name: str, created: int, as_json: bool, **common: Any) -> None:
    """Delete snapshot NAME of the given creation time."""
    _run(**common, action=lambda snaps: snaps.delete(name, created))
    click.echo(json.dumps({"deleted": name, "created": created}) if as_json else f"deleted {name}")


def _lease_store(application: str, leases: Path, dynamodb_endpoint_url: str | None) -> LeaseStore:
    if dynamodb_endpoint_url:
        from shardline.stores.dynamodb_leases import DynamoDBLeaseStore

        return DynamoDBLeaseStore(
            application, endpoint_url=dynamodb_endpoint_url, client_options=client_options()
        )
    from shardline.stores.sqlite_leases import SQLiteLeaseStore

    return SQLiteLeaseStore(leases, application)


@snapshot.command()
@click.argument("name", required=False)
@click.option("--latest", is_flag=True, help="Restore the newest READY snapshot.")
@click.option("--skip", is_flag=True, help="Discard the state; keep the lease table's positions.")
@click.option("--created", type=int, default=None, help="Version (creation ms) if several.")
@click.option(
    "--leases",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("shardline-leases.db"),
    show_default=True,
    help="The application's SQLite lease table file.",
)
@click.option(
    "--dynamodb-endpoint-url",
    default=None,
    help="Use the DynamoDB lease table (named after the application) at this endpoint.",
)
@_state_options
def restore(
    name: str | None,
    latest: bool,
    skip: bool,
    created: int | None,
    leases: Path,
    dynamodb_endpoint_url: str | None,
    as_json: bool,
    **common: Any,
) -> None:
    """Restore snapshot NAME (or --latest, or --skip): state and lease positions.

    Stop every worker of the application first; processing resumes from the
    snapshot's positions when they start again.
    """
    if sum((name is not None, latest, skip)) != 1:
        raise click.UsageError("give exactly one of NAME, --latest or --skip")
    restore_type: RestoreType = (
        "SKIP_RESTORE_FROM_SNAPSHOT"
        if skip
        else "RESTORE_FROM_LATEST_SNAPSHOT"
        if latest
        else "RESTORE_FROM_CUSTOM_SNAPSHOT"
    )

    async def action(snaps: Snapshots) -> SnapshotInfo | None:
        lease_store = _lease_store(snaps.application, leases, dynamodb_endpoint_url)
        try:
            await lease_store.ensure_table()
            return await snaps.restore(lease_store, restore_type, name, created)
        finally:
            await lease_store.close()

    info = _run(**common, action=action)
    if info is None:
        click.echo(json.dumps({"restored": None}) if as_json else "state discarded")
    else:
        _show([info], as_json)


async def _open_shards(stream: str, endpoint_url: str, region: str) -> list[ShardInfo]:
    async with connect(Endpoint(region, endpoint_url)) as kinesis:
        return await list_all_shards(kinesis, stream, {"Type": "AT_LATEST"})


@snapshot.command(name="restore-in-region")
@click.option("--stream", required=True, help="The standby region's stream (the copy).")
@endpoint_options
@click.option(
    "--target-store",
    required=True,
    help="The standby consumer's state store: a directory or s3://bucket/prefix.",
)
@click.option("--target-s3-endpoint-url", default=None, help="S3 endpoint of the target store.")
@click.option("--target-app", default=None, help="The standby's application name [--app].")
@click.option("--snapshot", "snapshot_name", default=None, help="Restore this snapshot instead.")
@seconds_option(
    "--buffer-s",
    default=60.0,
    help="Start this much before the latest applied record's arrival (skew, reordering).",
    aliases=("--buffer-seconds",),
)
@_state_options
def restore_in_region(
    stream: str,
    endpoint_url: str,
    region: str,
    target_store: str,
    target_s3_endpoint_url: str | None,
    target_app: str | None,
    snapshot_name: str | None,
    buffer_s: float,
    application: str,
    store: str,
    s3_endpoint_url: str | None,
    key_file: Path | None,
    as_json: bool,
) -> None:
    """Move the state to the standby region's stream, positions mapped by time.

    Reads the latest checkpoints (or --snapshot) from --store, typically the
    replica store the primary's checkpoints were written to, and writes them for
    the open shards of --stream into --target-store. Start the standby's workers
    with a fresh lease table at AT_TIMESTAMP = the printed timestamp.
    """
    if (target_store, target_app or application) == (store, application):
        raise click.UsageError(
            "the target must differ from the source: give another --target-store or --target-app"
        )
    keys = KeyRing.from_file(key_file) if key_file else KeyRing.from_env()
    options = client_options()

    def opened(url: str, s3_endpoint: str | None) -> ObjectStore:
        extra = {"client_options": options} if url.startswith("s3://") else {}
        return open_store(url, s3_endpoint, **extra)

    async def main() -> StandbyRestore:
        shards = await _open_shards(stream, endpoint_url, region)
        source, target = (
            opened(store, s3_endpoint_url),
            opened(target_store, target_s3_endpoint_url),
        )
        try:
            return await standby_restore(
                source,
                application,
                target,
                shards,
                keys,
                target_application=target_app,
                snapshot=snapshot_name,
                buffer=dt.timedelta(seconds=buffer_s),
            )
        finally:
            await source.close()
            await target.close()

    try:
        moved = asyncio.run(main())
    except Exception as exc:
        raise click.ClickException(str(exc)) from exc
    _show_restore(moved, as_json)


def _show_restore(moved: StandbyRestore, as_json: bool) -> None:
    """Say where the standby's workers start, and how many keys each shard got."""
    timestamp = moved.timestamp.isoformat() if moved.timestamp else None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "initial_position": moved.initial_position,
                    "timestamp": timestamp,
                    "shards": moved.shards,
                }
            )
        )
        return
    click.echo(f"start the standby's workers at {moved.initial_position} {timestamp or ''}")
    for shard_id, count in moved.shards.items():
        click.echo(f"  {shard_id}: {count:,} keys")
