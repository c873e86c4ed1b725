"""One reading of what the HA pipeline is doing: the collector every status view shares.

``shardline status``, ``shardline up``'s live view (:mod:`shardline.pipeline.status`)
and the web console's feed (:mod:`shardline.console.feed`) all show the same thing,
read the same way by :func:`collect`:

1. the control state (active region, epoch, replication run);
2. what the components last reported (:mod:`shardline.stores.reports`): the
   monitor's heartbeat, replication runs, consumer workers and producers, each kind
   freshest first;
3. the reference pipeline's ledgers: records the producer logged as acknowledged,
   and records applied to the sink per region (zero where there are none).

Reports are what components last published. A dead component's report stays in
the control store, so every view judges a report by its age: region health comes
from the *freshest* controller report (an earlier run's dead monitor may have left
one that says HEALTHY), and a report older than
:data:`~shardline.stores.reports.STALE_AFTER_S` is shown as stale, not as current.

Error handling: a control store that cannot be read, or a report this Shardline
cannot read, leaves its part of the snapshot empty and says why in
:attr:`StatusSnapshot.error`; a view shows that instead of failing. The ledgers are
SQLite files other processes write: they are counted read-only, in a thread, so the
event loop that collects (the supervisor's, the console's) never waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardline.pipeline.ticker import TABLE
from shardline.stores.control import ControlState, ControlStore, ControlStoreError
from shardline.stores.reports import (
    ConsumerReport,
    MonitorReport,
    ProducerReport,
    Published,
    R,
    ReplicatorReport,
    ReportFormatError,
)
from shardline.topology import PipelineSpec, Topology


def freshest(reports: Sequence[Published[R]]) -> Published[R] | None:
    """The report a live component wrote last (None when there is none)."""
    return max(reports, key=lambda report: report.updated_at, default=None)


def _freshest_first(reports: list[Published[R]]) -> tuple[Published[R], ...]:
    return tuple(sorted(reports, key=lambda report: -report.updated_at))


@dataclass(frozen=True)
class ComponentReports:
    """What the components last reported, each kind freshest first."""

    controller: tuple[Published[MonitorReport], ...] = ()
    replicator: tuple[Published[ReplicatorReport], ...] = ()
    consumer: tuple[Published[ConsumerReport], ...] = ()
    producer: tuple[Published[ProducerReport], ...] = ()

    @classmethod
    async def read(cls, store: ControlStore) -> ComponentReports:
        return cls(
            _freshest_first(await store.get_reports(MonitorReport)),
            _freshest_first(await store.get_reports(ReplicatorReport)),
            _freshest_first(await store.get_reports(ConsumerReport)),
            _freshest_first(await store.get_reports(ProducerReport)),
        )

    def by_kind(self) -> dict[str, tuple[Published[Any], ...]]:
        """Every kind shown, by its name, in the order views list them."""
        return {
            MonitorReport.KIND: self.controller,
            ReplicatorReport.KIND: self.replicator,
            ConsumerReport.KIND: self.consumer,
            ProducerReport.KIND: self.producer,
        }


@dataclass(frozen=True)
class StatusSnapshot:
    """One reading of the pipeline's state (module docstring)."""

    #: Wall-clock seconds of the reading; report ages count from here.
    at: float
    state: ControlState | None = None
    reports: ComponentReports = ComponentReports()
    #: Why the control store (or a report in it) could not be read; None: it could.
    error: str | None = None
    #: Records in the producer's acknowledged ledger.
    acked: int = 0
    #: Records applied to the sink, per region that applied them.
    sink: Mapping[str, int] = field(default_factory=dict)

    def age_s(self, report: Published[Any]) -> float:
        """``report``'s age at the reading, to a tenth of a second (as views show it)."""
        return round(report.age_s(self.at), 1)

    def stale(self, report: Published[Any]) -> bool:
        return report.stale(self.at)

    def fresh(self, reports: Sequence[Published[R]]) -> list[Published[R]]:
        """The reports whose components are taken as live."""
        return [report for report in reports if not report.stale(self.at)]

    def report_doc(self, report: Published[Any]) -> dict[str, Any]:
        """A report as JSON views show it: its component, its age and its fields."""
        return {"component": report.component, "age_s": self.age_s(report), **report.body.fields()}


async def collect(topology: Topology, store: ControlStore) -> StatusSnapshot:
    """One snapshot of the pipeline's state (see the module docstring)."""
    at = time.time()
    state, reports, error = None, ComponentReports(), None
    try:
        state = await store.get_state()
        reports = await ComponentReports.read(store)
    except (ControlStoreError, ReportFormatError) as exc:
        error = str(exc)
    acked, sink = await asyncio.to_thread(_ledger_counts, topology.pipeline)
    return StatusSnapshot(at, state, reports, error, acked, sink)


def _ledger_counts(spec: PipelineSpec) -> tuple[int, dict[str, int]]:
    """Step 3 (blocking: run it in a thread)."""
    acked = _query(spec.acked_path, "SELECT count(*) FROM acked")
    by_region = _query(
        spec.sink_path, f'SELECT region, count(*) FROM "{TABLE}-ledger" GROUP BY region'
    )
    return (int(acked[0][0]) if acked else 0), {str(r): int(n) for r, n in by_region}


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the SQLite file ``path``, read-only; none while it (or its
    table) does not exist yet."""
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute(sql).fetchall()
    except sqlite3.Error:
        return []
