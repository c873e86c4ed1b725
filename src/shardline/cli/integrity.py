"""``shardline verify`` and ``shardline recover``: check a data directory, salvage one.

Exit statuses (the runbook in docs/integrity.md relies on them):

- verify: 0 clean, 1 damage found;
- recover: 0 everything saved, 1 saved with losses (printed);
- both: 65 the database cannot be read at all, 73 a directory or file is unusable,
  75 a server holds the data directory (stop it first).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from shardline.storage.exceptions import DataDirUnusable, StartupRefused
from shardline.storage.integrity.recover import RecoverReport, recover
from shardline.storage.integrity.salvage import Advance
from shardline.storage.integrity.verify import Finding, Report, verify

#: Show a progress bar from this many chunk rows on (and only on a terminal).
BIG_DATABASE_ROWS = 20_000

_data_dir = click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("SHARDLINE_DATA_DIR"),
    show_default="$SHARDLINE_DATA_DIR, else required",
    help="The region's data directory (as given to `shardline serve`).",
)
_master_key = click.option(
    "--master-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The master key, if it does not live in DATA_DIR/master.key.",
)
_as_json = click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")


@contextmanager
def _progress(enabled: bool) -> Iterator[Advance | None]:
    """A transient bar on stderr for big databases, when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("checking chunks"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("chunks", total=None)

        def advance(done: int, total: int) -> None:
            if total >= BIG_DATABASE_ROWS:
                bar.update(task, completed=done, total=total)

        yield advance


class _Report(Protocol):
    def as_json(self) -> dict[str, Any]: ...


_R = TypeVar("_R", bound=_Report)


def _run(
    command: str,
    as_json: bool,
    work: Callable[[Advance | None], _R],
    show: Callable[[_R], None],
    passed: Callable[[_R], bool],
) -> NoReturn:
    """Run ``work`` with a progress bar (unless ``as_json``), print its report as JSON
    or with ``show``, and exit 0 when it ``passed``, else 1. An error that stops the
    work exits with its own status instead (one line, no traceback)."""
    try:
        with _progress(not as_json) as advance:
            report = work(advance)
    except (StartupRefused, OSError) as error:
        if isinstance(error, OSError):
            error = DataDirUnusable(f"{error.filename}: cannot be read ({error.strerror}).")
        click.echo(f"shardline {command}: {error}", err=True)
        sys.exit(error.exit_status)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        show(report)
    sys.exit(0 if passed(report) else 1)


def _print_summary(summary: str, notes: list[str]) -> None:
    click.echo(summary)
    for note in notes:
        click.echo(f"note: {note}")


def _where(finding: Finding) -> str:
    parts = []
    if finding.stream:
        parts.append(f"stream {finding.stream}")
    if finding.shard:
        parts.append(finding.shard)
    if finding.first_sequence and finding.last_sequence:
        parts.append(f"sequence numbers {finding.first_sequence} to {finding.last_sequence}")
    elif finding.first_sequence:
        parts.append(f"from sequence number {finding.first_sequence} on")
    return (" ".join(parts) + ": ") if parts else ""


@click.command(name="verify")
@_data_dir
@_as_json
@click.option(
    "--full",
    is_flag=True,
    help="Run SQLite's integrity_check (slower; also compares every index with its "
    "table) instead of quick_check.",
)
@_master_key
def verify_command(data_dir: Path, as_json: bool, full: bool, master_key_file: Path | None) -> None:
    """Check a data directory and report damage by stream, shard and sequence range.

    Checks the write-ahead log and the database file, SQLite's own consistency,
    every chunk's checksum (and that encrypted chunks open), sequence order in each
    shard, shard lineage and the catalog. Changes nothing, and may run beside the
    server. Exits 0 only when nothing is wrong; 1 when damage is found.
    """
    _run(
        "verify",
        as_json,
        lambda advance: verify(data_dir, full, master_key_file, advance),
        _print_verify,
        lambda report: report.clean,
    )


def _print_verify(report: Report) -> None:
    _print_summary(
        f"{report.data_dir}: {report.streams} streams, {report.shards} shards, "
        f"{report.chunks} intact chunks holding {report.records} records.",
        report.notes,
    )
    if report.clean:
        click.echo("clean: no damage found.")
        return
    click.echo(f"{len(report.findings)} problems:")
    for finding in report.findings:
        click.echo(f"  [{finding.kind}] {_where(finding)}{finding.message}")
    click.echo(
        f"Next: `shardline recover --data-dir {report.data_dir} --to NEW_DIR` copies "
        "everything intact into a new data directory."
    )


@click.command(name="recover")
@_data_dir
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (absent or empty) directory to write the recovered data directory to.",
)
@_as_json
@_master_key
def recover_command(
    data_dir: Path, target: Path, as_json: bool, master_key_file: Path | None
) -> None:
    """Salvage every readable stream, shard, record (same sequence numbers), consumer,
    tag, policy and key reference of DATA_DIR into a fresh data directory.

    The damaged original is never modified (stop its server first). Prints what
    could not be saved, by stream, shard and sequence range. Exits 0 when everything
    was saved, 1 when something could not be.
    """
    _run(
        "recover",
        as_json,
        lambda advance: recover(data_dir, target, master_key_file, advance),
        _print_recover,
        lambda report: report.complete,
    )


def _print_recover(report: RecoverReport) -> None:
    _print_summary(
        f"Recovered into {report.target}: {report.streams} streams, {report.shards} shards, "
        f"{report.records} records in {report.chunks} chunks, with their sequence numbers.",
        report.notes,
    )
    if report.complete:
        click.echo("Nothing was lost.")
    else:
        click.echo("Could not be saved:")
        for finding in report.lost:
            click.echo(f"  {_where(finding)}{finding.message}")
    click.echo(f"Next: `shardline serve --data-dir {report.target}`.")
