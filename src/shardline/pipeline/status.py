"""``shardline up``'s live view of the pipeline, drawn from one status snapshot.

:func:`render` turns two successive snapshots
(:func:`shardline.pipeline.snapshot.collect`, the collector ``shardline status`` and
the console share) into rich tables: regions and their health, the active region
and epoch, rates, replication and consumer lag (a row per region, the idle cold
standby included), sink outcomes, the supervised processes, and a footer saying
where data and logs are.

Region health comes from the *freshest* controller report, and a report older than
:data:`~shardline.stores.reports.STALE_AFTER_S` is marked with its age instead of
being shown as current (its component has stopped reporting).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shardline.pipeline.snapshot import StatusSnapshot, freshest
from shardline.stores.control import ControlState
from shardline.stores.reports import ConsumerReport, Published
from shardline.topology import Topology


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


def _rate(now: StatusSnapshot, before: StatusSnapshot | None, value: int, old: int) -> str:
    if before is None or now.at <= before.at:
        return "–"
    return f"{(value - old) / (now.at - before.at):.0f}/s"


def _header(state: ControlState | None) -> Text:
    if state is None:
        return Text("no control state yet", style="yellow")
    replication = state.replication
    return Text.assemble(
        ("active region ", "bold"),
        (state.active_region, "bold green"),
        f"  epoch {state.epoch}  ({state.reason})  replication: ",
        (f"{replication.source} → {replication.target}" if replication else "off", "cyan"),
    )


def _regions(topology: Topology, now: StatusSnapshot) -> Group:
    """Region health from the freshest controller report, marked when it is old."""
    controllers = now.reports.controller
    controller = freshest(controllers)
    table = Table("region", "role", "endpoint", "health", "error rate", "calls in window")
    stale = controller is not None and now.stale(controller)
    for region in topology.regions:
        verdict = controller.body.regions.get(region.name) if controller else None
        state = verdict.state.value if verdict and verdict.state else "?"
        table.add_row(
            region.name,
            region.role,
            region.endpoint_url or "AWS",
            f"[yellow]{state} ({now.age_s(controller):.0f} s ago)[/yellow]"
            if stale and controller
            else state,
            f"{(verdict.error_rate if verdict else 0) * 100:.2f}%",
            str(verdict.calls if verdict else 0),
        )
    notes = []
    if controller is None:
        notes.append(Text("no controller report: is the monitor running?", style="yellow"))
    elif stale:
        notes.append(
            Text(
                f"the newest controller report is {now.age_s(controller):.0f} s old: "
                "the monitor is not reporting",
                style="yellow",
            )
        )
    ignored = [r for r in controllers if r is not controller]
    if ignored:
        ages = ", ".join(f"{r.component} ({now.age_s(r):.0f} s old)" for r in ignored)
        notes.append(Text(f"older controller reports ignored: {ages}", style="dim"))
    return Group(table, *notes)


def _consumer_row(
    topology: Topology, now: StatusSnapshot, reports: list[Published[ConsumerReport]]
) -> str:
    report = freshest(reports)
    if report is None:
        return "no report yet"
    if now.stale(report):
        return f"[yellow]no report for {now.age_s(report):.0f} s (stopped?)[/yellow]"
    body = report.body
    if not body.running:
        mode = topology.failover.standby
        return f"idle: {mode} standby, starts on failover" if mode == "cold" else "idle"
    applied, duplicates = (body.sink.applied, body.sink.duplicates) if body.sink else (0, 0)
    return (
        f"g{body.generation}: lag {body.lag_ms} ms, sink applied "
        f"{applied} / duplicates absorbed {duplicates}"
    )


def _flow(topology: Topology, now: StatusSnapshot, before: StatusSnapshot | None) -> Table:
    reports = now.reports
    flow = Table("flow", "value")
    old_acked = before.acked if before else 0
    flow.add_row(
        "acknowledged (producer)", f"{now.acked}  ({_rate(now, before, now.acked, old_acked)})"
    )
    for region, count in sorted(now.sink.items()):
        old = before.sink.get(region, 0) if before else 0
        flow.add_row(f"applied in sink by {region}", f"{count}  ({_rate(now, before, count, old)})")
    replicator = freshest(reports.replicator)
    if replicator is not None and not now.stale(replicator):
        run = replicator.body
        flow.add_row(
            f"replication {run.source} → {run.target}", f"lag {run.lag_ms} ms, copied {run.copied}"
        )
    elif replicator is not None:
        flow.add_row("replication", f"[yellow]no report for {now.age_s(replicator):.0f} s[/yellow]")
    for spec in topology.regions:
        consumers = [r for r in reports.consumer if r.body.region == spec.name]
        flow.add_row(f"consumer in {spec.name}", _consumer_row(topology, now, consumers))
    producer = freshest(reports.producer)
    if producer is not None and not now.stale(producer):
        sent = producer.body
        flow.add_row(
            "producer",
            f"epoch {sent.epoch} → {sent.region}, pending {sent.pending},"
            f" held until replicated {sent.held}",
        )
    elif producer is not None:
        flow.add_row("producer", f"[yellow]no report for {now.age_s(producer):.0f} s[/yellow]")
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
    now: StatusSnapshot,
    before: StatusSnapshot | None,
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
    parts: list[RenderableType] = [_header(now.state)]
    if now.error is not None:
        parts.append(Text(f"control store: {now.error}", style="red"))
    parts += [
        _regions(topology, now),
        _flow(topology, now, before),
        children,
    ]
    if footer is not None:
        parts.append(_footer(footer, processes))
    return Group(*parts)
