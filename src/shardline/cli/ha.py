"""Cross-region commands: replicate, monitor, failover, failback, status.

All of them read the topology file (``--topology``; by default
``$SHARDLINE_TOPOLOGY``, else ``./shardline.toml``, else the one ``shardline up``
wrote, ``.shardline/shardline.toml``) and talk to the control store it names.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from shardline import logs
from shardline.admin import AdminError
from shardline.cli.common import config_default, fail, seconds_option
from shardline.consumer.config import ConsumerConfig
from shardline.failover.decisions import initial_state
from shardline.failover.failback import FailbackError, failback
from shardline.failover.metrics import MonitorCollector
from shardline.failover.monitor import Monitor, manual_failover
from shardline.metrics.http import serving_metrics
from shardline.pipeline.drill import admin_of
from shardline.pipeline.snapshot import StatusSnapshot, collect, freshest
from shardline.replication.metrics import ReplicationCollector
from shardline.replication.replicator import Replicator
from shardline.stores.control import ControlStore, StaleEpochError
from shardline.stores.factory import control_store_for
from shardline.stores.reports import Published
from shardline.topology import Topology, TopologyError, load_topology

_F = TypeVar("_F", bound=Callable[..., Any])
T = TypeVar("T")


#: Where a topology file is looked for when none is named, in order.
TOPOLOGY_CANDIDATES = ("shardline.toml", ".shardline/shardline.toml")


def _default_topology() -> str:
    for candidate in TOPOLOGY_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return TOPOLOGY_CANDIDATES[0]


def topology_option(command: _F) -> _F:
    return click.option(
        "--topology",
        "-t",
        "topology_path",
        default=_default_topology,
        envvar="SHARDLINE_TOPOLOGY",
        show_default="$SHARDLINE_TOPOLOGY, else ./shardline.toml, else .shardline/shardline.toml",
        type=click.Path(dir_okay=False),
        help="The topology file (regions, streams, stores, failover policy).",
    )(command)


def _load(path: str) -> Topology:
    """The topology at ``path``; a missing or invalid file ends the command in one line."""
    if not Path(path).is_file():
        fail(
            f"no topology file at {path}; pass -t FILE (looked for "
            f"{' and '.join(TOPOLOGY_CANDIDATES)}; `shardline up` writes the second)"
        )
    try:
        return load_topology(path)
    except TopologyError as exc:
        fail(str(exc))


def _announce(component: str) -> Callable[[str], None]:
    return lambda url: click.echo(f"{component} serves metrics at {url}", err=True)


async def _with_store(topology: Topology, work: Callable[[ControlStore], Awaitable[T]]) -> T:
    async with control_store_for(topology.stores) as store:
        return await work(store)


def _run_until_signal(
    main: Callable[[], Coroutine[Any, Any, None]], stop: Callable[[], None]
) -> None:
    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        await main()

    asyncio.run(runner())


@click.command()
@topology_option
@logs.log_format_option
@click.option("--stream", default=None, help="Stream to replicate (default: the first).")
@seconds_option(
    "--lease-failover-s",
    default=config_default(ConsumerConfig, "failover_time_s"),
    help="How long a dead replicator's shard leases take to expire (KCL failover time).",
)
def replicate(topology_path: str, stream: str | None, lease_failover_s: float) -> None:
    """Replicate a stream from the active region to the standby, as the control state says.

    Serves /metrics on the topology's [metrics] replicator port, if it names one.
    """
    logs.configure(logging.INFO)
    topology = _load(topology_path)
    store = control_store_for(topology.stores)
    replicator = Replicator(topology, store, stream, lease_failover_s=lease_failover_s)
    ports = topology.metrics

    async def main() -> None:
        collectors = [ReplicationCollector(replicator)]
        announce = _announce("replicator")
        async with store, serving_metrics(ports.host, ports.replicator, collectors, announce):
            await store.initialize(initial_state(topology))
            click.echo(f"replicator {replicator.component} following the control store", err=True)
            await replicator.run()

    _run_until_signal(main, replicator.stop)


@click.command()
@topology_option
@logs.log_format_option
def monitor(topology_path: str) -> None:
    """Watch region health and fail over automatically when the primary is unhealthy.

    Serves /metrics on the topology's [metrics] monitor port, if it names one.
    """
    logs.configure(logging.INFO)
    topology = _load(topology_path)
    store = control_store_for(topology.stores)
    watcher = Monitor(topology, store)
    ports = topology.metrics

    async def main() -> None:
        collectors = [MonitorCollector(watcher)]
        async with (
            store,
            serving_metrics(ports.host, ports.monitor, collectors, _announce("monitor")),
        ):
            click.echo(f"monitor {watcher.component} running", err=True)
            await watcher.run()

    _run_until_signal(main, watcher.stop)


@click.command("failover")
@topology_option
@click.option("--to", "to_region", default=None, help="Region to activate (default: the other).")
@click.option(
    "--reason",
    default="manual failover",
    show_default=True,
    help="Why, as recorded with the decision (shown by `shardline status`).",
)
def failover_command(topology_path: str, to_region: str | None, reason: str) -> None:
    """Make the other region active now (a manual failover decision)."""
    topology = _load(topology_path)

    async def work(store: ControlStore) -> str:
        decided = await manual_failover(topology, store, to_region, reason, "cli")
        target = decided.active_region
        start = decided.consumers.get(target)
        return f"epoch {decided.epoch}: {target} active; its consumers start at " + (
            str(start.start) if start else "their running position (warm standby)"
        )

    try:
        click.echo(asyncio.run(_with_store(topology, work)))
    except (StaleEpochError, TopologyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("fault")
@topology_option
@click.option("--region", "region_name", required=True, help="The region to break or mend.")
@click.option("--outage", is_flag=True, help="Refuse every call with 503.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=None, help="Fail this share.")
@click.option(
    "--status",
    type=click.Choice(["500", "503"]),
    default="503",
    show_default=True,
    help="With --error-rate: the HTTP status of the failed calls (InternalFailure or "
    "ServiceUnavailable).",
)
@seconds_option(
    "--latency-s",
    default=None,
    help="Delay every call this long (up to 600).",
    ms_aliases=("--latency-ms",),
)
@click.option("--operation", "operations", multiple=True, help="Only these operations.")
@click.option("--clear", is_flag=True, help="Remove the fault: back to normal.")
def fault_command(
    topology_path: str,
    region_name: str,
    outage: bool,
    error_rate: float | None,
    status: str,
    latency_s: float | None,
    operations: tuple[str, ...],
    clear: bool,
) -> None:
    """Inject a fault into a region that `shardline serve` runs (for drills), or --clear it.

    Uses the region's /_shardline/faults endpoint, as `shardline drill` and the
    console do, signed with the region's credentials from the topology (a region
    started with --credentials answers admin keys only).
    """
    region = _load(topology_path).region(region_name)
    if region.endpoint_url is None:
        raise click.ClickException(f"{region_name} is an AWS region: faults exist only locally")
    fault: dict[str, Any] = {"outage": outage} if outage else {}
    if error_rate is not None:
        fault |= {"error_rate": error_rate, "status": int(status)}
    if latency_s is not None:
        if latency_s > 600:
            fail(f"--latency-s {latency_s:g} is too long: at most 600")
        fault["latency_ms"] = round(latency_s * 1000)
    if operations:
        fault["operations"] = list(operations)
    if clear == bool(fault):
        raise click.UsageError("give --clear, or a fault (--outage, --error-rate, --latency-s)")
    try:
        asyncio.run(admin_of(region).set_fault(None if clear else fault))
    except (AdminError, OSError) as exc:
        raise click.ClickException(f"{region_name}: {exc}") from None
    click.echo(
        f"{region_name}: " + ("fault cleared" if clear else f"fault set {json.dumps(fault)}")
    )


@click.command("failback")
@topology_option
@seconds_option(
    "--drain-timeout-s",
    default=600.0,
    help="Longest wait for producers to move and the standby's consumers to drain; "
    "run the command again to resume after it.",
)
def failback_command(topology_path: str, drain_timeout_s: float) -> None:
    """Return to the primary region step by step (resumable: run it again to continue)."""
    topology = _load(topology_path)

    async def work(store: ControlStore) -> None:
        await failback(topology, store, say=click.echo, drain_timeout_s=drain_timeout_s)

    try:
        asyncio.run(_with_store(topology, work))
    except (FailbackError, StaleEpochError) as exc:
        raise click.ClickException(str(exc)) from exc


#: Report fields left out of ``shardline status``'s one-line summaries (long lists).
_DETAILED = ("shards", "calls", "decisions")


def _report_line(kind: str, snapshot: StatusSnapshot, report: Published[Any]) -> str:
    age = snapshot.age_s(report)
    summary = {k: v for k, v in report.body.fields().items() if k not in _DETAILED}
    when = f"STALE, {age:.0f} s old" if snapshot.stale(report) else f"{age:.1f} s ago"
    return f"{kind:10} {report.component} ({when}): {json.dumps(summary, default=str)}"


def _print_status(snapshot: StatusSnapshot) -> None:
    state = snapshot.state
    if state is None:
        click.echo("no control state yet (start `shardline monitor`)")
        return
    click.echo(f"epoch {state.epoch}: {state.active_region} active ({state.reason})")
    replication = state.replication
    click.echo(
        "replication: "
        + (f"{replication.source} -> {replication.target}" if replication else "off")
    )
    controller = freshest(snapshot.reports.controller)
    if controller is not None:
        health = ", ".join(
            f"{name} {verdict.state.value if verdict.state else '?'}"
            for name, verdict in controller.body.regions.items()
        )
        stale = " (STALE: the monitor is not reporting)" if snapshot.stale(controller) else ""
        click.echo(f"region health: {health}, from {controller.component}{stale}")
    for kind, reports in snapshot.reports.by_kind().items():
        for report in reports:
            click.echo(_report_line(kind, snapshot, report))


def _status_document(snapshot: StatusSnapshot) -> dict[str, Any]:
    """``shardline status --json``: the state, and each kind's reports by component."""
    return {
        "state": snapshot.state.to_doc() if snapshot.state else None,
        "reports": {
            kind: {r.component: {**r.body.fields(), "age_s": snapshot.age_s(r)} for r in reports}
            for kind, reports in snapshot.reports.by_kind().items()
        },
    }


@click.command()
@topology_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def status(topology_path: str, as_json: bool) -> None:
    """Show the control state and what every component last reported (freshest first).

    Region health comes from the freshest controller report; reports older than
    10 s are marked STALE with their age (their component has stopped reporting).
    """
    topology = _load(topology_path)
    snapshot = asyncio.run(_with_store(topology, lambda store: collect(topology, store)))
    if snapshot.error is not None:
        fail(f"cannot read the control store: {snapshot.error}")
    if as_json:
        click.echo(json.dumps(_status_document(snapshot), indent=2, default=str))
    else:
        _print_status(snapshot)
