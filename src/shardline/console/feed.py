"""What the console's page shows, as one JSON document per update.

The pipeline's state comes from the same collector as ``shardline up``'s terminal
view and ``shardline status`` (:func:`shardline.pipeline.snapshot.collect`: control
state, component reports, acknowledged records, sink counts); the feed adds what a
page needs beside it:

- the **decisions** journal (every epoch, with reason and time), merged with the
  current state so the first epoch shows too;
- the last **drill report** (``drill-report.json`` in the pipeline's data
  directory, written by ``shardline drill --attach``), with RPO and RTO;
- the **processes** (pid, restarts, last log line) and the failback in progress.

Reports older than :data:`~shardline.stores.reports.STALE_AFTER_S` (their
component is probably gone) are left out, except the monitor's, which is shown with
its age so a dead monitor is seen. Each report appears with its fields as stored
(:meth:`~shardline.stores.reports.ReportBody.fields`), its component and its age.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardline.console.actions import Actions
from shardline.console.processes import ProcessSource
from shardline.pipeline.drill import REPORT_FILE
from shardline.pipeline.snapshot import StatusSnapshot, collect, freshest
from shardline.stores.control import ControlState, ControlStore, ControlStoreError, decision_report
from shardline.stores.reports import DecisionReport, ReportFormatError
from shardline.topology import Topology


@dataclass(frozen=True)
class FeedSources:
    """Where one console reads from."""

    topology: Topology
    store: ControlStore
    processes: ProcessSource
    actions: Actions
    #: Decisions seen as the current state, by epoch: the journal starts at epoch 2
    #: (the initial state is not a transition).
    seen: dict[int, DecisionReport] = field(default_factory=dict)


def topology_doc(topology: Topology) -> dict[str, Any]:
    """The parts of the topology the page lays itself out by."""
    policy = topology.failover
    return {
        "regions": [
            {"name": r.name, "role": r.role, "endpoint": r.endpoint_url or "AWS"}
            for r in topology.regions
        ],
        "streams": [s.name for s in topology.streams],
        "standby": policy.standby,
        "window_s": policy.window_s,
        "threshold": policy.threshold,
        "detection_s": policy.consecutive_checks * policy.check_interval_s,
    }


async def decisions(
    store: ControlStore, state: ControlState | None, seen: dict[int, DecisionReport]
) -> list[DecisionReport]:
    """Every decision known, oldest first: the journal, and the states seen so far
    (``seen`` gains the current one)."""
    if state is not None:
        seen.setdefault(state.epoch, decision_report(state))
    by_epoch = dict(seen)
    try:
        for report in await store.get_reports(DecisionReport):
            by_epoch[report.body.epoch] = report.body
    except (ControlStoreError, ReportFormatError):
        pass  # the page still shows the states it saw
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def drill_report(data_dir: Path) -> dict[str, Any] | None:
    """The last drill's report, if a drill wrote one into ``data_dir``."""
    try:
        report: dict[str, Any] = json.loads((data_dir / REPORT_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return report


def _regions(topology: Topology, status: StatusSnapshot) -> dict[str, Any]:
    monitor = freshest(status.reports.controller)
    views: dict[str, Any] = {}
    for region in topology.regions:
        verdict = monitor.body.regions.get(region.name) if monitor else None
        views[region.name] = {
            "state": verdict.state.value if verdict and verdict.state else "UNKNOWN",
            "error_rate": verdict.error_rate if verdict else 0.0,
            "calls": verdict.calls if verdict else 0,
            "canary": {"ok": verdict.canary_ok, "at": verdict.canary_at} if verdict else {},
            "monitor_age_s": status.age_s(monitor) if monitor else None,
        }
    return views


async def snapshot(sources: FeedSources) -> dict[str, Any]:
    """One update of the page (module docstring)."""
    topology = sources.topology
    status = await collect(topology, sources.store)
    reports = status.reports
    journal = await decisions(sources.store, status.state, sources.seen)
    return {
        "at": status.at,
        "error": status.error,
        "topology": topology_doc(topology),
        "state": status.state.to_doc() if status.state else None,
        "regions": _regions(topology, status),
        "flow": {"acked": status.acked, "sink": dict(status.sink)},
        "replication": [status.report_doc(r) for r in status.fresh(reports.replicator)],
        "consumers": [
            status.report_doc(r) for r in status.fresh(reports.consumer) if r.body.running
        ],
        "producers": [status.report_doc(r) for r in status.fresh(reports.producer)],
        "decisions": [decision.fields() for decision in journal],
        "drill": await asyncio.to_thread(drill_report, topology.pipeline.data_dir),
        "processes": [dataclasses.asdict(p) for p in sources.processes()],
        "failback": dataclasses.asdict(sources.actions.failback_progress),
    }
