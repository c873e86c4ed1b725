"""The end of every drill: the sink checked against the producer's acknowledged ledger.

1. Fix the set of records to check: stop the producer (it flushes), or, on a
   pipeline that keeps running, every record acknowledged until a cutoff instant.
2. Wait (bounded) until the sink has every one of them.
3. Judge (:class:`SinkVerdict`): records acknowledged but missing (the RPO),
   duplicates *visible* in the sink (one tick stored under two record ids, which an
   idempotent sink cannot recognise), duplicate deliveries it absorbed, and whether
   every item holds its newest acknowledged tick.

The sink and ledger are SQLite files written by other processes; every read runs in
a thread so that a drill's event loop (which also watches the pipeline) never
blocks on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shardline.pipeline.acked import read_acked
from shardline.pipeline.handle import PipelineHandle, Timeline, until
from shardline.pipeline.ticker import TABLE
from shardline.stores.control import ControlStore
from shardline.stores.reports import ConsumerReport

LEDGER = f'"{TABLE}-ledger"'
#: How long the sink may take to catch up with the last acknowledged records.
CATCH_UP_S = 60.0
#: Lost record ids named in a report (the count is always complete).
LOST_SHOWN = 20


def query_sync(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the SQLite file ``path`` (none while it or its tables are missing)."""
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []  # the consumer has not created the tables yet


async def query(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """:func:`query_sync` in a thread."""
    return await asyncio.to_thread(query_sync, path, sql, *args)


@dataclass(frozen=True)
class SinkVerdict:
    """What the sink holds of the acknowledged records (module docstring, step 3)."""

    acknowledged: int
    in_sink: int
    rpo_records: int
    visible_duplicates: int
    duplicate_deliveries_absorbed: int
    items_correct: bool
    #: Up to ``LOST_SHOWN`` ids of lost records, to look them up in the logs.
    lost: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Nothing acknowledged lost, nothing duplicated visibly, items correct."""
        return self.rpo_records == 0 and self.visible_duplicates == 0 and self.items_correct


async def acknowledged_records(
    pipeline: PipelineHandle, timeline: Timeline
) -> dict[str, tuple[str, int]]:
    """Step 1: the records to check, id → (item key, event time ms)."""
    acked_path = pipeline.topology.pipeline.acked_path
    if pipeline.stop_producer is not None:
        await pipeline.stop_producer()
        timeline.mark("producer stopped (flushed)")
        return await asyncio.to_thread(read_acked, acked_path)
    cutoff = timeline.mark("verifying records acknowledged until now")

    def flushed_past_cutoff() -> bool:
        # The ledger is written in acknowledgement order: once an acknowledgement
        # after the cutoff is in it, every one before the cutoff is too.
        newest = query_sync(acked_path, "SELECT max(acked_at) FROM acked")
        return bool(newest and newest[0][0] is not None and newest[0][0] > cutoff)

    with contextlib.suppress(TimeoutError):
        await until(lambda: asyncio.to_thread(flushed_past_cutoff), 30.0, "the ledger")
    return await asyncio.to_thread(read_acked, acked_path, cutoff)


async def verify_sink(
    pipeline: PipelineHandle, store: ControlStore, acked: dict[str, tuple[str, int]]
) -> SinkVerdict:
    """Steps 2 and 3."""
    sink = pipeline.topology.pipeline.sink_path

    async def in_sink() -> set[str]:
        return {row[0] for row in await query(sink, f"SELECT record_id FROM {LEDGER}")}

    async def caught_up() -> bool:
        return not (set(acked) - await in_sink())

    with contextlib.suppress(TimeoutError):
        await until(caught_up, CATCH_UP_S, "the sink to catch up", 0.5)
    stored = await in_sink()
    lost = sorted(set(acked) - stored)
    ticks = await query(
        sink, f"SELECT count(*), count(DISTINCT item_key || ':' || event_time) FROM {LEDGER}"
    )
    absorbed = sum(
        r.body.sink.duplicates
        for r in await store.get_reports(ConsumerReport)
        if r.body.sink is not None
    )
    return SinkVerdict(
        acknowledged=len(acked),
        in_sink=len(stored & set(acked)),
        rpo_records=len(lost),
        visible_duplicates=ticks[0][0] - ticks[0][1] if ticks else -1,
        duplicate_deliveries_absorbed=absorbed,
        items_correct=await asyncio.to_thread(items_at_newest, sink, acked),
        lost=tuple(lost[:LOST_SHOWN]),
    )


def items_at_newest(sink: Path, acked: dict[str, tuple[str, int]]) -> bool:
    """True when each item holds the newest acknowledged tick (by event time, then id)."""
    newest: dict[str, tuple[int, str]] = {}
    for record_id, (key, event_time) in acked.items():
        newest[key] = max(newest.get(key, (0, "")), (event_time, record_id))
    rows = query_sync(sink, f'SELECT item_key, event_time, record_id FROM "{TABLE}"')
    stored = {key: (event_time, record_id) for key, event_time, record_id in rows}
    # An item may also hold a newer tick whose acknowledgement was not logged.
    return bool(newest) and all(stored.get(key, (0, "")) >= want for key, want in newest.items())
