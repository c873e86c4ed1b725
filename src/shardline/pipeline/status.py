"""What the local pipeline is doing: read from the control store, the sink and ledgers.

:func:`collect` returns a plain dictionary (the ``--json`` form); :func:`render`
turns two successive ones into rich tables for ``shardline up``'s live view:
regions and their health, the active region and epoch, rates, replication and
consumer lag (a row per region, the idle cold standby included), sink outcomes,
the supervised processes, and a footer saying where data and logs are.

Reports are what components last published. A dead component's report stays in
the control store, so every report is judged by its age: region health comes from
the *freshest* controller report (an earlier run's dead monitor may have left one
that says HEALTHY), and a report older than :data:`STALE_AFTER_S` is marked with
its age instead of being shown as current.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shardline.pipeline.ticker import TABLE
from shardline.stores.control import ControlStore, ControlStoreError
from shardline.topology import Topology

#: Reports older than this are shown as stale (their component is probably down;
#: live components report every second).
STALE_AFTER_S = 10.0
REPORT_KINDS = ("controller", "replicator", "consumer", "producer")


@dataclass(frozen=True)
class ProcessView:
    """One supervised process as the live view shows it."""

    name: str
    pid: int | None
    restarts: int
    alive: bool
    #: The last line of its log (shown when it keeps restarting).
    last_line: str


@dataclass(frozen=True)
class Footer:
    data_dir: Path
    logs: Path
    #: The command that shows the same state from another terminal.
    status_command: str = "shardline status"
    #: Where the web console answers, when one is served.
    console_url: str | None = None


def _count(path: Path, sql: str) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute(sql).fetchall()
    except sqlite3.Error:
        return []


async def collect(topology: Topology, store: ControlStore) -> dict[str, Any]:
    """One snapshot of the pipeline's state (see the module docstring)."""
    now = time.time()
    snapshot: dict[str, Any] = {"at": now, "state": None, "reports": {}}
    try:
        state = await store.get_state()
        snapshot["state"] = state.to_doc() if state else None
        for kind in REPORT_KINDS:
            snapshot["reports"][kind] = sorted(
                (
                    {"component": r.component, "age_s": round(now - r.updated_at, 1), **r.body}
                    for r in await store.get_reports(kind)
                ),
                key=lambda report: report["age_s"],
            )
    except ControlStoreError as exc:
        snapshot["error"] = str(exc)
    spec = topology.pipeline
    acked = _count(spec.acked_path, "SELECT count(*) FROM acked")
    snapshot["acked"] = acked[0][0] if acked else 0
    by_region = _count(
        spec.sink_path, f'SELECT region, count(*) FROM "{TABLE}-ledger" GROUP BY region'
    )
    snapshot["sink"] = {region: count for region, count in by_region}
    return snapshot


def freshest(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The report with the smallest age (the one a live component wrote last)."""
    return min(reports, key=lambda report: report["age_s"], default=None)


def _stale(report: dict[str, Any]) -> bool:
    return bool(report["age_s"] >= STALE_AFTER_S)


def _rate(now: dict[str, Any], before: dict[str, Any] | None, value: int, old: int) -> str:
    if before is None or now["at"] <= before["at"]:
        return "–"
    return f"{(value - old) / (now['at'] - before['at']):.0f}/s"


def _header(state: dict[str, Any] | None) -> Text:
    if state is None:
        return Text("no control state yet", style="yellow")
    replication = state["replication"]
    return Text.assemble(
        ("active region ", "bold"),
        (state["active_region"], "bold green"),
        f"  epoch {state['epoch']}  ({state['reason']})  replication: ",
        (f"{replication['source']} → {replication['target']}" if replication else "off", "cyan"),
    )


def _regions(topology: Topology, controllers: list[dict[str, Any]]) -> Group:
    """Region health from the freshest controller report, marked when it is old."""
    controller = freshest(controllers)
    table = Table("region", "role", "endpoint", "health", "error rate", "calls in window")
    stale = controller is not None and _stale(controller)
    for region in topology.regions:
        health = (controller or {}).get("regions", {}).get(region.name, {})
        state = health.get("state", "?")
        table.add_row(
            region.name,
            region.role,
            region.endpoint_url or "AWS",
            f"[yellow]{state} ({controller['age_s']:.0f} s ago)[/yellow]"
            if stale and controller
            else state,
            f"{health.get('error_rate', 0) * 100:.2f}%",
            str(health.get("ok", 0) + health.get("errors", 0)),
        )
    notes = []
    if controller is None:
        notes.append(Text("no controller report: is the monitor running?", style="yellow"))
    elif stale:
        notes.append(
            Text(
                f"the newest controller report is {controller['age_s']:.0f} s old: "
                "the monitor is not reporting",
                style="yellow",
            )
        )
    ignored = [r for r in controllers if r is not controller]
    if ignored:
        ages = ", ".join(f"{r['component']} ({r['age_s']:.0f} s old)" for r in ignored)
        notes.append(Text(f"older controller reports ignored: {ages}", style="dim"))
    return Group(table, *notes)


def _consumer_row(topology: Topology, region: str, reports: list[dict[str, Any]]) -> str:
    report = freshest([r for r in reports if r.get("region") == region])
    if report is None:
        return "no report yet"
    if _stale(report):
        return f"[yellow]no report for {report['age_s']:.0f} s (stopped?)[/yellow]"
    if not report.get("running"):
        mode = topology.failover.standby
        return f"idle: {mode} standby, starts on failover" if mode == "cold" else "idle"
    sink = report.get("sink", {})
    return (
        f"g{report['generation']}: lag {report['lag_ms']} ms, sink applied "
        f"{sink.get('applied', 0)} / duplicates absorbed {sink.get('duplicates', 0)}"
    )


def _flow(topology: Topology, now: dict[str, Any], before: dict[str, Any] | None) -> Table:
    reports = now["reports"]
    flow = Table("flow", "value")
    old_acked = before["acked"] if before else 0
    flow.add_row(
        "acknowledged (producer)",
        f"{now['acked']}  ({_rate(now, before, now['acked'], old_acked)})",
    )
    for region, count in sorted(now["sink"].items()):
        old = (before or {}).get("sink", {}).get(region, 0)
        flow.add_row(f"applied in sink by {region}", f"{count}  ({_rate(now, before, count, old)})")
    replicator = freshest(reports.get("replicator", []))
    if replicator is not None and not _stale(replicator):
        flow.add_row(
            f"replication {replicator['source']} → {replicator['target']}",
            f"lag {replicator['lag_ms']} ms, copied {replicator['copied']}",
        )
    elif replicator is not None:
        flow.add_row("replication", f"[yellow]no report for {replicator['age_s']:.0f} s[/yellow]")
    for region in topology.regions:
        row = _consumer_row(topology, region.name, reports.get("consumer", []))
        flow.add_row(f"consumer in {region.name}", row)
    producer = freshest(reports.get("producer", []))
    if producer is not None and not _stale(producer):
        flow.add_row(
            "producer",
            f"epoch {producer['epoch']} → {producer['region']}, pending {producer['pending']},"
            f" held until replicated {producer['held']}",
        )
    elif producer is not None:
        flow.add_row("producer", f"[yellow]no report for {producer['age_s']:.0f} s[/yellow]")
    return flow


def _footer(footer: Footer, processes: list[ProcessView]) -> Group:
    lines = [
        Text.assemble(
            ("data ", "dim"), str(footer.data_dir), ("   logs ", "dim"), str(footer.logs)
        ),
        Text.assemble(
            ("from another terminal: ", "dim"),
            footer.status_command,
            *((("   console ", "dim"), footer.console_url) if footer.console_url else ()),
            ("   Ctrl-C to stop", "bold"),
        ),
    ]
    for process in processes:
        if process.restarts and process.last_line:
            lines.append(
                Text(
                    f"{process.name} restarted {process.restarts} times; its last log line: "
                    f"{process.last_line}",
                    style="red",
                )
            )
    return Group(*lines)


def render(
    topology: Topology,
    now: dict[str, Any],
    before: dict[str, Any] | None,
    processes: list[ProcessView],
    footer: Footer | None = None,
) -> Group:
    """The live view (module docstring); ``footer`` is left out when None."""
    children = Table("process", "pid", "restarts", "alive")
    for process in processes:
        children.add_row(
            process.name,
            str(process.pid),
            str(process.restarts),
            "yes" if process.alive else "[red]no[/red]",
        )
    parts: list[RenderableType] = [
        _header(now["state"]),
        _regions(topology, now["reports"].get("controller", [])),
        _flow(topology, now, before),
        children,
    ]
    if footer is not None:
        parts.append(_footer(footer, processes))
    return Group(*parts)
