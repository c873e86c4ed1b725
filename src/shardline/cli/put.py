"""``shardline put STREAM``: every line of standard input becomes one record."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shardline.cli.common import config_default, endpoint_options, fail, seconds_option
from shardline.cli.preflight import PreflightError, check_stream
from shardline.producer import (
    Destination,
    Producer,
    ProducerConfig,
    PutOutcome,
    Record,
    SpoolError,
    dead_letters,
)
from shardline.producer.destination import SpoolBinding


@dataclass
class _Tally:
    read: int = 0
    stored: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def count(self, future: asyncio.Future[PutOutcome]) -> None:
        outcome = future.result()
        if outcome.succeeded:
            self.stored += 1
        else:
            self.failed += 1
            self.reasons[str(outcome.error)] += 1


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


def _announce_leftovers(spool: Path, destination: Destination) -> None:
    """Say that records an earlier run left in the spool go first (or refuse, below)."""
    if not spool.exists():
        return
    for group in dead_letters.inspect(spool, limit=0).groups:
        if group.binding == SpoolBinding.of(destination) and group.waiting:
            click.echo(
                f"re-sending {group.waiting:,} records left in {spool} by an earlier run "
                f"to {destination}, before the new ones",
                err=True,
            )


async def _send(
    producer: Producer, source: BinaryIO, options: _Options, tally: _Tally, display: _Display
) -> None:
    """Accept every line, then wait up to the timeout for the outcomes."""
    while lines := await asyncio.to_thread(_read_lines, source, options.chunk):
        key = options.partition_key
        records = [Record(line, key or uuid.uuid4().hex) for line in lines]
        for future in await producer.put_many(records):
            future.add_done_callback(tally.count)
        tally.read += len(lines)
        display.show()
    deadline = time.monotonic() + options.timeout_s
    while producer.pending and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            await producer.flush(timeout=min(0.25, max(deadline - time.monotonic(), 0.01)))
        display.show()
    await asyncio.sleep(0)  # let the last outcome callbacks run


async def _put(
    source: BinaryIO,
    destination: Destination,
    config: ProducerConfig,
    options: _Options,
    console: Console | None,
) -> tuple[_Tally, float, int]:
    """Returns the tally, the seconds taken and the records left unsent."""
    await check_stream(
        destination.stream_name,
        destination.endpoint_url,
        destination.region_name,
        options.timeout_s,
    )
    if config.spool_path is not None:
        _announce_leftovers(config.spool_path, destination)
    tally = _Tally()
    begin = time.monotonic()
    producer = await Producer(destination, config).start()
    display = _Display(console, f"put → {destination}", tally)
    try:
        await _send(producer, source, options, tally, display)
    finally:
        display.stop()
        unsent = producer.pending
        await producer.close(timeout=0)
    return tally, time.monotonic() - begin, unsent


@dataclass(frozen=True)
class _Options:
    partition_key: str | None
    chunk: int
    timeout_s: float


def _summarize(tally: _Tally, seconds: float, unsent: int, spool: Path | None) -> str:
    """One line for the record counts, one per distinct failure, one for what is left."""
    lines = [
        f"{tally.stored:,} of {tally.read:,} records stored in {seconds:.2f} s"
        + (f", {tally.failed:,} failed" if tally.failed else "")
    ]
    kept = f", kept as dead letters in {spool} (`shardline spool` lists them)" if spool else ""
    for reason, count in tally.reasons.most_common():
        lines.append(f"  {count:,} failed: {reason}{kept}")
    if unsent:
        where = (
            f"stay in {spool}; the next `shardline put` to this stream sends them first"
            if spool
            else "were dropped (--no-spool)"
        )
        lines.append(f"  {unsent:,} not stored in time {where}")
    return "\n".join(lines)


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
    default=lambda: config_default(ProducerConfig, "spool_path"),
    show_default="$SHARDLINE_SPOOL or ./shardline-spool.sqlite",
    help="Durable spool: lines not yet stored are sent by the next `put` to the same "
    "stream on the same spool; `shardline spool` shows what it holds.",
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
@seconds_option(
    "--timeout-s",
    default=30.0,
    help="How long to wait for the endpoint to answer, and for records to be stored once "
    "the input has ended; records not stored by then stay in the spool.",
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
    timeout_s: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Put every line of standard input into STREAM as one record (newline removed).

    Progress goes to standard error. Records an earlier run left in the spool for
    the same stream are sent first. Exits with status 1 if any record could not be
    stored.
    """
    # The summary below reports failures once; the producer's own log lines would
    # repeat them per call.
    logging.getLogger("shardline").setLevel(logging.CRITICAL)
    config = ProducerConfig(
        aggregation=aggregate,
        ordering="per-key" if ordered else "unordered",
        record_ids=record_ids,
        spool_path=None if no_spool else spool,
    )
    destination = Destination(stream, endpoint_url=endpoint_url, region_name=region)
    console = None if quiet else Console(stderr=True)
    options = _Options(partition_key, chunk, timeout_s)
    try:
        tally, seconds, unsent = asyncio.run(
            _put(sys.stdin.buffer, destination, config, options, console)
        )
    except (PreflightError, SpoolError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        where = f"stay in {spool} for the next `put`" if not no_spool else "are lost"
        fail(f"interrupted: records not yet stored {where}", 130)
    summary = {
        "stream": stream,
        "read": tally.read,
        "stored": tally.stored,
        "failed": tally.failed,
        "unsent": unsent,
        "seconds": round(seconds, 3),
        "records_per_s": round(tally.stored / seconds, 1) if seconds else 0.0,
    }
    if as_json:
        click.echo(json.dumps(summary))
    elif not quiet or tally.failed or unsent:
        click.echo(_summarize(tally, seconds, unsent, config.spool_path), err=True)
    if tally.failed or unsent:
        sys.exit(1)
