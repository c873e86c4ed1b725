"""``shardline spool``: what a producer's spool holds, and sending or dropping it.

A record leaves a spool when its stream acknowledged it, or when a person drops it
here. Records given up on a non-retriable error (a missing stream, refused
credentials) stay as dead letters until ``resend`` or ``discard``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from shardline.cli.common import config_default, fail, seconds_option
from shardline.producer import ProducerConfig, SpoolError, dead_letters

_F = TypeVar("_F", bound=Callable[..., Any])


def _spool_option(command: _F) -> _F:
    return click.option(
        "--spool",
        "path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=lambda: config_default(ProducerConfig, "spool_path"),
        show_default="$SHARDLINE_SPOOL or ./shardline-spool.sqlite",
        help="The spool file (a producer's `spool_path`, or `shardline put --spool`).",
    )(command)


def _show(contents: dead_letters.SpoolContents) -> None:
    click.echo(
        f"{contents.path}: {contents.waiting:,} records waiting to be sent, "
        f"{contents.dead:,} dead letters"
    )
    for group in contents.groups:
        where = group.binding or "(no destination recorded: an older spool format)"
        click.echo(f"  {where}: {group.waiting:,} waiting, {group.dead:,} dead letters")
    if contents.dead_letters:
        click.echo("dead letters (oldest first):")
    for letter in contents.dead_letters:
        when = dt.datetime.fromtimestamp(letter.dead_at).isoformat(timespec="seconds")
        click.echo(
            f"  {when}  {letter.binding}  key {letter.partition_key!r}, {letter.size} bytes: "
            f"{letter.reason}"
        )
    if contents.dead > len(contents.dead_letters):
        click.echo(f"  … and {contents.dead - len(contents.dead_letters):,} more (--limit)")
    if contents.dead:
        click.echo(
            "`shardline spool resend` sends them again, `shardline spool discard` drops them"
        )


@click.group(invoke_without_command=True)
@_spool_option
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(min=0), help="Dead letters shown."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def spool(ctx: click.Context, path: Path, limit: int, as_json: bool) -> None:
    """Show what a producer's spool holds: records waiting per destination, dead letters."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        contents = dead_letters.inspect(path, limit)
    except SpoolError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(contents.to_doc(), indent=2))
    else:
        _show(contents)


@spool.command("resend")
@_spool_option
@seconds_option(
    "--timeout-s",
    default=30.0,
    help="How long to wait for each destination to store its records; what is not "
    "stored by then stays in the spool.",
)
def resend(path: Path, timeout_s: float) -> None:
    """Send the spool's records, dead letters included, each to its own destination.

    Run it once the cause of the dead letters is fixed (the stream created, the
    credentials corrected). Records that fail again become dead letters again.
    """
    logging.getLogger("shardline").setLevel(logging.CRITICAL)
    try:
        results = asyncio.run(
            dead_letters.resend(path, timeout_s, say=lambda line: click.echo(line, err=True))
        )
    except SpoolError as exc:
        fail(str(exc))
    for result in results:
        where = result.binding or "records of an older spool format"
        if result.skipped:
            click.echo(f"{where}: not sent ({result.skipped})")
            continue
        click.echo(
            f"{where}: {result.sent:,} sent, {result.stored:,} stored"
            + (f", {result.dead:,} failed again (dead letters)" if result.dead else "")
            + (f", {result.waiting:,} not stored within {timeout_s:g} s" if result.waiting else "")
        )
    if any(r.waiting or r.dead for r in results):
        raise SystemExit(1)


@spool.command("discard")
@_spool_option
@click.option("--dead-only", is_flag=True, help="Drop only the dead letters.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def discard(path: Path, dead_only: bool, yes: bool) -> None:
    """Drop records from the spool for good (every record, or only the dead letters)."""
    what = "the dead letters" if dead_only else "every record"
    if not yes:
        click.confirm(f"drop {what} in {path}? They will never be sent", abort=True)
    try:
        dropped = dead_letters.discard(path, dead_only)
    except SpoolError as exc:
        fail(str(exc))
    click.echo(f"dropped {dropped:,} records from {path}")
