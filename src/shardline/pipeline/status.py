"""What the local pipeline is doing: read from the control store, the sink and ledgers.

:func:`collect` returns a plain dictionary (the ``--json`` form); :func:`render`
turns two successive ones into a rich table for ``shardline up``'s live view:
regions and their health, the active region and epoch, rates, replication and
consumer lag, sink outcomes, and the supervised processes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from shardline.pipeline.ticker import TABLE
from shardline.stores.control import ControlStore, ControlStoreError
from shardline.topology import Topology

#: Reports older than this are shown as stale (their component is probably down).
STALE_AFTER_S = 10.0


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
        for kind in ("controller", "replicator", "consumer", "producer"):
            snapshot["reports"][kind] = [
                {"component": r.component, "age_s": now - r.updated_at, **r.body}
                for r in await store.get_reports(kind)
            ]
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


def _rate(now: dict[str, Any], before: dict[str, Any] | None, value: int, old: int) -> str:
    if before is None or now["at"] <= before["at"]:
        return "–"
    return f"{(value - old) / (now['at'] - before['at']):.0f}/s"


def render(
    topology: Topology,
    now: dict[str, Any],
    before: dict[str, Any] | None,
    processes: dict[str, tuple[int | None, int, bool]],
) -> Group:
    """The live view: ``processes`` maps name → (pid, restarts, alive)."""
    state = now["state"]
    reports = now["reports"]
    header = Text("no control state yet", style="yellow")
    if state is not None:
        replication = state["replication"]
        header = Text.assemble(
            ("active region ", "bold"),
            (state["active_region"], "bold green"),
            f"  epoch {state['epoch']}  ({state['reason']})  replication: ",
            (
                f"{replication['source']} → {replication['target']}" if replication else "off",
                "cyan",
            ),
        )
    controller = next(iter(reports.get("controller", [])), None)
    regions = Table("region", "role", "endpoint", "health", "error rate", "calls in window")
    for region in topology.regions:
        health = (controller or {}).get("regions", {}).get(region.name, {})
        regions.add_row(
            region.name,
            region.role,
            region.endpoint_url or "AWS",
            health.get("state", "?"),
            f"{health.get('error_rate', 0) * 100:.2f}%",
            str(health.get("ok", 0) + health.get("errors", 0)),
        )
    flow = Table("flow", "value")
    old_acked = before["acked"] if before else 0
    flow.add_row(
        "acknowledged (producer)",
        f"{now['acked']}  ({_rate(now, before, now['acked'], old_acked)})",
    )
    for region, count in sorted(now["sink"].items()):
        old = (before or {}).get("sink", {}).get(region, 0)
        flow.add_row(f"applied in sink by {region}", f"{count}  ({_rate(now, before, count, old)})")
    for report in reports.get("replicator", []):
        if report["age_s"] < STALE_AFTER_S:
            flow.add_row(
                f"replication {report['source']} → {report['target']}",
                f"lag {report['lag_ms']} ms, copied {report['copied']}",
            )
    for report in reports.get("consumer", []):
        if report["age_s"] < STALE_AFTER_S and report.get("running"):
            sink = report.get("sink", {})
            flow.add_row(
                f"consumer in {report['region']} (g{report['generation']})",
                f"lag {report['lag_ms']} ms, sink applied {sink.get('applied', 0)}"
                f" / duplicates absorbed {sink.get('duplicates', 0)}",
            )
    for report in reports.get("producer", []):
        if report["age_s"] < STALE_AFTER_S:
            flow.add_row(
                "producer",
                f"epoch {report['epoch']} → {report['region']}, pending {report['pending']},"
                f" held until replicated {report['held']}",
            )
    children = Table("process", "pid", "restarts", "alive")
    for name, (pid, restarts, alive) in processes.items():
        children.add_row(name, str(pid), str(restarts), "yes" if alive else "[red]no[/red]")
    return Group(header, regions, flow, children)
