"""What the console's page shows, as one JSON document per update.

The pipeline's state comes from the same collector as ``shardline up``'s terminal
view and ``shardline status`` (:func:`shardline.pipeline.status.collect`: control
state, component reports, acknowledged records, sink counts); the feed adds what a
page needs beside it:

- the **decisions** journal (every epoch, with reason and time), merged with the
  current state so the first epoch shows too;
- the last **drill report** (``drill-report.json`` in the pipeline's data
  directory, written by ``shardline drill --attach``), with RPO and RTO;
- the **processes** (pid, restarts, last log line) and the failback in progress.

Reports older than ``STALE_AFTER_S`` (their component is probably gone) are left
out, except the monitor's, which is shown with its age so a dead monitor is seen.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardline.console.actions import Actions
from shardline.console.processes import ProcessSource
from shardline.pipeline.drill import REPORT_FILE
from shardline.pipeline.status import STALE_AFTER_S, collect
from shardline.stores.control import DECISION, ControlStore, ControlStoreError
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
    seen: dict[int, dict[str, Any]] = field(default_factory=dict)


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
    store: ControlStore, state: dict[str, Any] | None, seen: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every decision known, oldest first: the journal, and the states seen so far
    (``seen`` gains the current one)."""
    if state is not None:
        seen.setdefault(
            int(state["epoch"]),
            {key: state[key] for key in ("epoch", "active_region", "reason", "changed_at")},
        )
    by_epoch = dict(seen)
    try:
        for report in await store.get_reports(DECISION):
            by_epoch[int(report.body["epoch"])] = report.body
    except ControlStoreError:
        pass  # the page still shows the states it saw
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def drill_report(data_dir: Path) -> dict[str, Any] | None:
    """The last drill's report, if a drill wrote one into ``data_dir``."""
    try:
        report: dict[str, Any] = json.loads((data_dir / REPORT_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return report


def _fresh(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in reports if r["age_s"] < STALE_AFTER_S]


def _regions(topology: Topology, reports: dict[str, Any]) -> dict[str, Any]:
    controllers = sorted(reports.get("controller", []), key=lambda r: r["age_s"])
    monitor = controllers[0] if controllers else None
    views: dict[str, Any] = {}
    for region in topology.regions:
        health = (monitor or {}).get("regions", {}).get(region.name, {})
        views[region.name] = {
            "state": health.get("state", "UNKNOWN"),
            "error_rate": health.get("error_rate", 0.0),
            "calls": health.get("ok", 0) + health.get("errors", 0),
            "canary": health.get("canary", {}),
            "monitor_age_s": monitor["age_s"] if monitor else None,
        }
    return views


async def snapshot(sources: FeedSources) -> dict[str, Any]:
    """One update of the page (module docstring)."""
    topology = sources.topology
    status = await collect(topology, sources.store)
    reports = status["reports"]
    return {
        "at": status["at"],
        "error": status.get("error"),
        "topology": topology_doc(topology),
        "state": status["state"],
        "regions": _regions(topology, reports),
        "flow": {"acked": status["acked"], "sink": status["sink"]},
        "replication": _fresh(reports.get("replicator", [])),
        "consumers": [r for r in _fresh(reports.get("consumer", [])) if r.get("running")],
        "producers": _fresh(reports.get("producer", [])),
        "decisions": await decisions(sources.store, status["state"], sources.seen),
        "drill": drill_report(topology.pipeline.data_dir),
        "processes": [dataclasses.asdict(p) for p in sources.processes()],
        "failback": dataclasses.asdict(sources.actions.failback_progress),
    }
