"""``shardline put STREAM``: every line of standard input becomes one record."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shardline.cli.common import endpoint_options
from shardline.producer import Destination, Producer, ProducerConfig, PutOutcome, Record
from shardline.topology import default_client_options


@dataclass
class _Tally:
    read: int = 0
    stored: int = 0
    failed: int = 0

    def count(self, future: asyncio.Future[PutOutcome]) -> None:
        if future.result().succeeded:
            self.stored += 1
        else:
            self.failed += 1


def _read_lines(source: BinaryIO, limit: int) -> list[bytes]:
    lines: list[bytes] = []
    for line in source:
        lines.append(line[:-1] if line.endswith(b"\n") else line)
        if len(lines) >= limit:
            break
    return lines


class _Display:
    """The live progress line on standard error (nothing when quiet)."""

    def __init__(self, console: Console | None, title: str, tally: _Tally) -> None:
        self._tally = tally
        self._begin = time.monotonic()
        self._progress = (
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("read {task.fields[read]:,}  stored {task.fields[stored]:,}"),
                TextColumn("failed {task.fields[failed]:,}  {task.fields[rate]:,.0f} rec/s"),
                TimeElapsedColumn(),
                console=console,
            )
            if console is not None
            else None
        )
        if self._progress is not None:
            self._task = self._progress.add_task(title, read=0, stored=0, failed=0, rate=0.0)
            self._progress.start()

    def show(self) -> None:
        if self._progress is not None:
            tally = self._tally
            rate = tally.stored / max(time.monotonic() - self._begin, 1e-9)
            self._progress.update(
                self._task, read=tally.read, stored=tally.stored, failed=tally.failed, rate=rate
            )

    def stop(self) -> None:
        if self._progress is not None:
            self.show()
            self._progress.stop()


async def _put(
    source: BinaryIO,
    destination: Destination,
    config: ProducerConfig,
    partition_key: str | None,
    chunk: int,
    console: Console | None,
) -> tuple[_Tally, float]:
    tally = _Tally()
    begin = time.monotonic()
    async with Producer(destination, config) as producer:
        display = _Display(console, f"put → {destination}", tally)
        try:
            while lines := await asyncio.to_thread(_read_lines, source, chunk):
                records = [Record(line, partition_key or uuid.uuid4().hex) for line in lines]
                for future in await producer.put_many(records):
                    future.add_done_callback(tally.count)
                tally.read += len(lines)
                display.show()
            while producer.pending:
                with contextlib.suppress(TimeoutError):
                    await producer.flush(timeout=0.25)
                display.show()
            await asyncio.sleep(0)  # let the last outcome callbacks run
        finally:
            display.stop()
    return tally, time.monotonic() - begin


@click.command("put")
@click.argument("stream")
@endpoint_options
@click.option(
    "--partition-key",
    default=None,
    help="Partition key for every record (default: a random key per record, which "
    "spreads records over all shards).",
)
@click.option(
    "--aggregate/--no-aggregate",
    default=False,
    show_default=True,
    help="Pack records into KPL aggregates (needs a KPL-aware reader).",
)
@click.option(
    "--ordered",
    is_flag=True,
    help="Keep each partition key's records in line order (one call in flight per shard).",
)
@click.option(
    "--record-ids",
    is_flag=True,
    help="Prefix each record with the record-id envelope (20 bytes) for idempotent sinks.",
)
@click.option(
    "--spool",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("SHARDLINE_SPOOL", "shardline-spool.sqlite"),
    show_default="$SHARDLINE_SPOOL or ./shardline-spool.sqlite",
    help="Durable spool: lines not yet stored are sent by the next `put` on the same spool.",
)
@click.option(
    "--no-spool", is_flag=True, help="Keep records in memory only (faster; a crash loses them)."
)
@click.option(
    "--chunk",
    default=500,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Lines read and accepted at once (one spool commit each).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on standard output.")
def put(
    stream: str,
    endpoint_url: str,
    region: str,
    partition_key: str | None,
    aggregate: bool,
    ordered: bool,
    record_ids: bool,
    spool: Path,
    no_spool: bool,
    chunk: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Put every line of standard input into STREAM as one record (newline removed).

    Progress goes to standard error. Exits with status 1 if any record could not be
    stored.
    """
    config = ProducerConfig(
        aggregation=aggregate,
        ordering="per-key" if ordered else "unordered",
        record_ids=record_ids,
        spool_path=None if no_spool else spool,
        client_options=default_client_options(),
    )
    destination = Destination(stream, endpoint_url=endpoint_url, region_name=region)
    console = None if quiet else Console(stderr=True)
    tally, seconds = asyncio.run(
        _put(sys.stdin.buffer, destination, config, partition_key, chunk, console)
    )
    summary = {
        "stream": stream,
        "read": tally.read,
        "stored": tally.stored,
        "failed": tally.failed,
        "seconds": round(seconds, 3),
        "records_per_s": round(tally.stored / seconds, 1) if seconds else 0.0,
    }
    if as_json:
        click.echo(json.dumps(summary))
    elif not quiet:
        click.echo(
            f"{tally.stored:,} of {tally.read:,} records stored in {seconds:.2f} s"
            + (f", {tally.failed:,} failed" if tally.failed else ""),
            err=True,
        )
    if tally.failed:
        sys.exit(1)
