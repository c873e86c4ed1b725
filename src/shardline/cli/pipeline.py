"""``shardline up``, ``shardline drill`` and the ticker example's processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast, get_args

import click
from rich.console import Console
from rich.live import Live

from shardline import logs
from shardline.cli.common import config_default, fail, seconds_option
from shardline.cli.ha import topology_option
from shardline.console import serving_console, supervised
from shardline.console.processes import ProcessSource
from shardline.pipeline import ticker
from shardline.pipeline.chaos import ChaosOptions, ChaosReport, attach_chaos, run_chaos
from shardline.pipeline.drill import (
    KILLABLE,
    DrillError,
    DrillOptions,
    DrillReport,
    Fault,
    attach_drill,
    run_drill,
)
from shardline.pipeline.folder import FolderInUseError, StaleProcessesError, clear_stale
from shardline.pipeline.launch import LaunchError, default_topology, launch
from shardline.pipeline.metrics import SupervisorCollector
from shardline.pipeline.snapshot import collect
from shardline.pipeline.status import Footer, render
from shardline.pipeline.supervisor import Supervisor
from shardline.stores.control import ControlStore
from shardline.stores.factory import control_store_for
from shardline.topology import PipelineSpec, StandbyMode, Topology, TopologyError, load_topology

log = logging.getLogger(__name__)


def _until_signal(
    main: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Run ``main(stop)``; each of ``signals`` sets ``stop``."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def _say(console: Console, text: str) -> None:
    """Print, unless the terminal is gone (after SIGHUP, writing to it fails)."""
    with contextlib.suppress(OSError):
        console.print(text)


def _status_command(path: Path) -> str:
    """How to see this pipeline's state from another terminal."""
    if path.resolve() == (Path(".shardline") / "shardline.toml").resolve():
        return "shardline status"
    return f"shardline status -t {path}"


async def _show_status(
    topology: Topology,
    store: ControlStore,
    processes: ProcessSource,
    footer: Footer,
    console: Console,
    stop: asyncio.Event,
    until: float,
) -> None:
    """The live view, refreshed every second until ``stop`` (or the ``until`` time)."""
    before = None
    with Live(console=console, refresh_per_second=2, transient=False) as live:
        while not stop.is_set() and time.monotonic() < until:
            now = await collect(topology, store)
            live.update(render(topology, now, before, processes(), footer))
            before = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


async def _run_up(
    path: Path,
    topology: Topology,
    supervisor: Supervisor,
    stop: asyncio.Event,
    duration_s: float | None,
    stop_stale: bool,
) -> None:
    console = Console()
    try:
        await clear_stale(topology.pipeline.data_dir, stop_stale)
        _say(console, f"starting the pipeline of {path} …")
        await launch(path, supervisor)
        until = float("inf") if duration_s is None else time.monotonic() + duration_s
        ports = topology.metrics
        processes = supervised(supervisor)
        async with (
            control_store_for(topology.stores) as store,
            serving_console(
                topology,
                store,
                processes,
                ports.host,
                ports.console,
                [SupervisorCollector(supervisor)],
            ) as console_url,
        ):
            _say(console, f"console at {console_url}")
            footer = Footer(
                topology.pipeline.data_dir, supervisor.logs, _status_command(path), console_url
            )
            with contextlib.suppress(OSError):  # the terminal went away: stop all the same
                await _show_status(topology, store, processes, footer, console, stop, until)
    finally:
        _say(console, "\nstopping every process …")
        await supervisor.stop()
        _say(console, "stopped.")


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--data-dir",
    default=str(config_default(PipelineSpec, "data_dir")),
    show_default=True,
    type=click.Path(file_okay=False),
    help="Without CONFIG: where the default topology, regions, sink and logs live.",
)
@seconds_option(
    "--duration-s", default=None, help="Stop after this many seconds.", aliases=("--duration",)
)
@click.option(
    "--stop-stale",
    is_flag=True,
    help="Stop processes an earlier run in this folder left behind, instead of refusing.",
)
@logs.log_format_option
def up(config: str | None, data_dir: str, duration_s: float | None, stop_stale: bool) -> None:
    """Run the whole pipeline locally: regions, replicator, monitor, producer, consumers.

    Without CONFIG it runs the stock-ticker reference pipeline on embedded defaults
    (two regions on free ports, cold standby). Processes that crash are restarted.
    Ctrl-C, SIGTERM or closing the terminal (SIGHUP) stops everything cleanly; the
    children also die with `up` if it is killed. One `up` per folder. The web
    console is served on 127.0.0.1 (the topology's [metrics] console port, else a
    free one) and its URL printed.
    """
    logs.configure(logging.WARNING)
    if config is not None:
        path = Path(config)
    else:
        existing = Path(data_dir) / "shardline.toml"
        path = existing if existing.exists() else default_topology(Path(data_dir))
    try:
        topology = load_topology(path)
        supervisor = Supervisor(topology.pipeline.data_dir)
    except (TopologyError, FolderInUseError) as exc:
        fail(str(exc))

    async def main(stop: asyncio.Event) -> None:
        await _run_up(path, topology, supervisor, stop, duration_s, stop_stale)

    try:
        _until_signal(main, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    except (StaleProcessesError, LaunchError) as exc:
        fail(str(exc))


def _drill_default(name: str) -> Any:
    return config_default(DrillOptions, name)


@click.command()
@click.option(
    "--standby",
    type=click.Choice(["cold", "warm", "both"]),
    default="both",
    show_default=True,
    help="Standby mode to drill (both: one drill each).",
)
@click.option(
    "--fault",
    type=click.Choice(get_args(Fault)),
    default=None,
    help="The fault injected into the primary: every call refused (outage, the default) "
    "or 50% of calls failed (error-rate). Not with --chaos-s.",
)
@click.option(
    "--kill",
    "kills",
    multiple=True,
    type=click.Choice(KILLABLE),
    help="SIGKILL this component before the fault (repeatable). Not with --chaos-s.",
)
@seconds_option(
    "--chaos-s",
    default=None,
    minimum=1.0,
    help="Instead of one fault: random faults for this long (outages, error rates, "
    "latency, SIGKILLs of any component), failing back whenever the primary is healthy.",
    aliases=("--chaos",),
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="With --chaos-s: the schedule's seed (printed, so a failing run can be replayed). "
    "Default: a random one.",
)
@seconds_option(
    "--max-rto-s",
    default=10.0,
    help="With --chaos-s: a failover slower than this fails the drill.",
    aliases=("--max-rto",),
)
@seconds_option(
    "--window-s",
    default=_drill_default("window_s"),
    help="The failover policy's error-rate window (the reference policy uses 300 s).",
    aliases=("--window",),
)
@seconds_option(
    "--warmup-s",
    default=_drill_default("warmup_s"),
    help="How long records flow before the kills and the fault.",
    aliases=("--warmup",),
)
@seconds_option(
    "--hold-s",
    default=_drill_default("hold_s"),
    help="How long the standby serves after the failover before the fault is cleared.",
    aliases=("--hold",),
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=_drill_default("rate"),
    show_default=True,
    help="Records the producer puts per second.",
)
@click.option("--no-failback", is_flag=True, help="Stop after the failover. Not with --chaos-s.")
@click.option("--json", "as_json", is_flag=True, help="Print the report(s) as JSON.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the drill's files here (default: a temporary directory, removed).",
)
@click.option(
    "--attach",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Drill the pipeline a running `shardline up` keeps in this data directory "
    "(its own standby mode and failover policy apply).",
)
def drill(
    standby: str,
    fault: str | None,
    kills: tuple[str, ...],
    chaos_s: float | None,
    seed: int | None,
    max_rto_s: float,
    window_s: float,
    warmup_s: float,
    hold_s: float,
    rate: float,
    no_failback: bool,
    as_json: bool,
    data_dir: str | None,
    attach: str | None,
) -> None:
    """Inject a region outage into a pipeline; report RPO, RTO, duplicates.

    By default the drill starts a pipeline of its own (once per standby mode);
    with --attach it drills the one a `shardline up` is running. With --chaos-s it
    injects random faults for that long instead of one.

    Exits with status 1 when an acknowledged record was lost, a duplicate became
    visible in the sink, or an item did not end at its newest tick (with --chaos-s
    also: a failover slower than --max-rto, or a layout that was not restored).
    """
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    _check_drill_options(fault, kills, chaos_s, seed, no_failback)
    modes: list[StandbyMode] = (
        ["cold", "warm"] if standby == "both" and attach is None else [cast(StandbyMode, standby)]
    )
    say = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    chosen_seed = seed if seed is not None else secrets.randbelow(1_000_000)

    def run_one(mode: StandbyMode, root: Path) -> DrillReport | ChaosReport:
        if chaos_s is not None:
            chaos = ChaosOptions(chaos_s, chosen_seed, mode, window_s, rate, max_rto_s=max_rto_s)
            return _drive("chaos drill", chaos, (run_chaos, attach_chaos), root, attach, say)
        options = DrillOptions(
            standby=mode,
            fault=cast(Fault, fault or "outage"),
            kills=kills,
            window_s=window_s,
            warmup_s=warmup_s,
            hold_s=hold_s,
            rate=rate,
            failback=not no_failback,
        )
        return _drive("drill", options, (run_drill, attach_drill), root, attach, say)

    reports = [_drill_in_root(mode, data_dir, run_one) for mode in modes]
    _print_reports(reports, as_json)
    if not all(r.passed for r in reports):
        sys.exit(1)


def _check_drill_options(
    fault: str | None,
    kills: tuple[str, ...],
    chaos_s: float | None,
    seed: int | None,
    no_failback: bool,
) -> None:
    """Refuse options that do not go together, before anything starts."""
    if chaos_s is not None and (fault or kills or no_failback):
        raise click.UsageError(
            "--chaos-s draws its own faults: drop --fault, --kill, --no-failback"
        )
    if chaos_s is None and seed is not None:
        raise click.UsageError("--seed goes with --chaos-s")


def _drill_in_root(
    mode: StandbyMode,
    data_dir: str | None,
    run: Callable[[StandbyMode, Path], DrillReport | ChaosReport],
) -> DrillReport | ChaosReport:
    """Run one standby mode's drill in DATA_DIR/MODE, or in a temporary directory
    that is removed afterwards, also when the drill fails."""
    root = Path(data_dir) / mode if data_dir else Path(tempfile.mkdtemp(prefix="drill-"))
    try:
        return run(mode, root)
    finally:
        if data_dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _print_reports(reports: list[DrillReport | ChaosReport], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([r.to_doc() for r in reports], indent=2))
    else:
        for report in reports:
            click.echo("\n" + report.render())


_Options = TypeVar("_Options", DrillOptions, ChaosOptions)
_Report = TypeVar("_Report", DrillReport, ChaosReport)
_Drill = Callable[[_Options, Path, Callable[[str], None]], Coroutine[Any, Any, _Report]]


def _drive(
    name: str,
    options: _Options,
    runs: tuple[_Drill[_Options, _Report], _Drill[_Options, _Report]],
    root: Path,
    attach: str | None,
    say: Callable[[str], None],
) -> _Report:
    """One drill called ``name``: ``runs[0]`` on a pipeline of its own in ``root``, or
    ``runs[1]`` on the one running in ``attach``. A :class:`DrillError` ends the
    command with its message."""
    own, attached = runs
    try:
        if attach is not None:
            say(f"== {name} of the running pipeline in {attach}")
            return asyncio.run(attached(options, Path(attach), say))
        say(f"== {options.standby} standby {name} in {root}")
        return asyncio.run(own(options, root, say))
    except DrillError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def ticker_group() -> None:
    """The stock-ticker example's processes (``shardline up`` starts them)."""


@ticker_group.command("produce")
@topology_option
@logs.log_format_option
def ticker_produce(topology_path: str) -> None:
    """Put ticker prices into the active region until SIGTERM."""
    logs.configure(logging.INFO)
    topology = load_topology(topology_path)
    spec = topology.pipeline

    async def main(stop: asyncio.Event) -> None:
        async with control_store_for(topology.stores) as store:
            await ticker.produce(
                topology, store, stop, spool=spec.spool_path, acked=spec.acked_path
            )

    _until_signal(main)


@ticker_group.command("consume")
@topology_option
@logs.log_format_option
@click.option("--region", required=True, help="The region (of the topology) to consume in.")
def ticker_consume(topology_path: str, region: str) -> None:
    """Write ticker prices to the sink whenever REGION's consumers should run."""
    logs.configure(logging.INFO)
    topology = load_topology(topology_path)

    async def main(stop: asyncio.Event) -> None:
        async with control_store_for(topology.stores) as store:
            await ticker.consume(topology, store, region, topology.pipeline.sink_path, stop)

    _until_signal(main)
