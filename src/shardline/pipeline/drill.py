"""``shardline drill``: break the pipeline on purpose and measure what it costs.

The drill starts the reference pipeline (two local regions, replicator,
monitor/controller, a ticker consumer per region, the ticker producer) in a fresh
directory, or attaches to the one a ``shardline up`` runs (``--attach DIR``), then,
as numbered steps:

1. Warm up until records flow through the primary and the replicator.
2. Optionally SIGKILL components (``--kill replicator|consumer|producer|monitor``): the
   supervisor restarts them as an Auto Scaling group would.
3. Inject the fault into the primary: a full outage (every call refused with 503)
   or an error rate above the threshold (50% of calls fail with 500).
4. Wait for the controller's failover decision, then for the first record
   produced after the fault to be processed in the standby.
5. Keep the standby serving for ``hold_s``, clear the fault, and fail back with the
   same resumable procedure as ``shardline failback``.
6. Stop the producer (it flushes; attached: note the time instead), wait until the
   sink has every record the producer logged as acknowledged (until then), and
   report.

The report (human, or ``--json``):

- **RPO**: acknowledged records missing from the sink after recovery (target 0);
- **RTO**: fault → first record produced after the fault processed in the standby
  (what users feel as "new prices flow again"); **detection**: fault → failover
  decision;
- **duplicates**: deliveries the idempotent sink absorbed (expected: re-sends and
  the standby's overlap), and duplicates *visible* in the sink: the same tick
  (symbol, event time) stored under two record ids, which the sink could not
  recognise (target 0);
- whether every ``ticker-prices`` item ends at the newest acknowledged tick;
- replication lag at the fault, and the timeline of the whole drill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from shardline.errors import ConfigError, ShardlineError
from shardline.failover.failback import failback
from shardline.pipeline.acked import read_acked
from shardline.pipeline.launch import default_topology, launch
from shardline.pipeline.supervisor import Supervisor, running_children
from shardline.pipeline.ticker import TABLE
from shardline.settings import setting, validate
from shardline.stores.control import ControlStore
from shardline.stores.factory import control_store_for
from shardline.topology import Topology, load_topology

Fault = Literal["outage", "error-rate"]


class DrillError(ShardlineError):
    """The drill cannot run (the message says why)."""


KILLABLE = ("replicator", "consumer", "producer", "monitor")


@dataclass(frozen=True)
class DrillOptions:
    standby: Literal["cold", "warm"] = "cold"
    fault: Fault = "outage"
    #: Components to SIGKILL before the fault (each one of :data:`KILLABLE`).
    kills: tuple[str, ...] = ()
    #: The failover policy's window (the reference default is 300 s; drills shorten it).
    window_s: float = setting(10.0, gt=0)
    #: How long records flow before the kills and the fault.
    warmup_s: float = setting(5.0, ge=0)
    #: How long the standby runs after the failover before the fault is cleared.
    hold_s: float = setting(5.0, ge=0)
    #: Ticks produced per second.
    rate: float = setting(100.0, gt=0)
    failback: bool = True
    #: Longest wait for any one step before the drill gives up.
    step_timeout_s: float = setting(120.0, gt=0)

    def __post_init__(self) -> None:
        validate(self)
        for kill in self.kills:
            if kill not in KILLABLE:
                raise ConfigError.invalid("DrillOptions.", "kills", kill, f"one of {KILLABLE}")


@dataclass
class DrillReport:
    standby: str
    fault: str
    window_s: float
    acknowledged: int = 0
    in_sink: int = 0
    rpo_records: int = -1
    rto_s: float | None = None
    detection_s: float | None = None
    replication_lag_at_fault_ms: int | None = None
    duplicate_deliveries_absorbed: int = 0
    visible_duplicates: int = -1
    items_correct: bool = False
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Nothing acknowledged lost, nothing duplicated visibly, items correct."""
        return self.rpo_records == 0 and self.visible_duplicates == 0 and self.items_correct

    def to_doc(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def render(self) -> str:
        def seconds(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} s"

        lines = [
            f"drill: {self.fault} of the primary, {self.standby} standby, "
            f"{self.window_s:g} s detection window",
            "",
            f"  RPO (acknowledged records lost) : {self.rpo_records}  "
            f"({self.in_sink} of {self.acknowledged} acknowledged records in the sink)",
            f"  RTO (fault -> new records processed in standby) : {seconds(self.rto_s)}",
            f"  detection (fault -> failover decision)          : {seconds(self.detection_s)}",
            f"  replication lag at the fault : {self.replication_lag_at_fault_ms} ms",
            f"  duplicate deliveries absorbed by the sink : {self.duplicate_deliveries_absorbed}",
            f"  duplicates visible in the sink            : {self.visible_duplicates}",
            "  every item at its newest tick             : "
            + ("yes" if self.items_correct else "NO"),
            "",
            "  timeline (seconds from the fault):",
        ]
        lines += [f"    {e['t']:+7.1f}  {e['event']}" for e in self.timeline]
        lines += ["", "PASSED" if self.passed else "FAILED"]
        return "\n".join(lines)


class _Timeline:
    def __init__(self, say: Callable[[str], None]) -> None:
        self.events: list[tuple[float, str]] = []
        self.say = say

    def mark(self, event: str) -> float:
        now = time.time()
        self.events.append((now, event))
        self.say(event)
        return now

    def note(self, event: str) -> None:
        self.mark(event)

    def relative_to(self, origin: float) -> list[dict[str, Any]]:
        return [{"t": round(t - origin, 2), "event": e} for t, e in sorted(self.events)]


def _query(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []  # the consumer has not created the tables yet


def set_fault(endpoint: str, fault: dict[str, Any] | None) -> None:
    """Set (or with None clear) a region's injected fault via its admin endpoint."""
    body = json.dumps(fault).encode() if fault else None
    request = urllib.request.Request(
        f"{endpoint}/_shardline/faults", data=body, method="PUT" if fault else "DELETE"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


async def _until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"drill: gave up waiting for {what} after {timeout:g}s")


def drill_topology(data_dir: Path, options: DrillOptions) -> Path:
    """The embedded default topology with the drill's failover policy."""
    return default_topology(
        data_dir,
        failover={
            "standby": options.standby,
            "window_s": options.window_s,
            "threshold": 0.01,
            "check_interval_s": 1.0,
            "consecutive_checks": 3,
            "canary_interval_s": 0.5,
            "min_switch_interval_s": 5.0,
            "start_buffer_s": 2.0,
            "poll_interval_s": 0.5,
        },
        pipeline={"rate": options.rate, "lease_failover_s": 3.0},
    )


@dataclass
class _Pipeline:
    """How the drill acts on the pipeline it drills (its own, or a running one)."""

    topology: Topology
    #: SIGKILL a component by name; returns its pid.
    kill: Callable[[str], int | None]
    #: Stop the producer gracefully (None: leave it running, verify up to a cutoff).
    stop_producer: Callable[[], Awaitable[None]] | None


async def run_drill(
    options: DrillOptions, data_dir: Path, say: Callable[[str], None] = print
) -> DrillReport:
    """Run the drill on a pipeline of its own in ``data_dir``; stops it afterwards."""
    supervisor = Supervisor(data_dir)
    timeline = _Timeline(say)
    report = DrillReport(options.standby, options.fault, options.window_s)
    try:
        topology = await launch(drill_topology(data_dir, options), supervisor)
        timeline.mark("pipeline started")
        pipeline = _Pipeline(topology, supervisor.kill, lambda: supervisor.stop_child("producer"))
        await _exercise(options, pipeline, timeline, report)
    finally:
        await supervisor.stop()
    return report


async def attach_drill(
    options: DrillOptions, data_dir: Path, say: Callable[[str], None] = print
) -> DrillReport:
    """Run the drill on the pipeline ``shardline up`` runs in ``data_dir``.

    Components are SIGKILLed by pid (that ``up`` restarts them is part of the
    drill); the producer keeps running, so the sink is verified against every record
    acknowledged before the end of the failback. The topology's own failover policy
    applies (``options.standby`` and ``window_s`` are only reported).
    """
    topology = load_topology(data_dir / "shardline.toml")
    report = DrillReport(topology.failover.standby, options.fault, topology.failover.window_s)

    def kill(name: str) -> int | None:
        pid = running_children(data_dir).get(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pid

    if not running_children(data_dir):
        raise DrillError(f"no `shardline up` is running in {data_dir} (no up.json)")
    await _exercise(options, _Pipeline(topology, kill, None), _Timeline(say), report)
    return report


async def _exercise(
    options: DrillOptions, pipeline: _Pipeline, timeline: _Timeline, report: DrillReport
) -> None:
    async with control_store_for(pipeline.topology.stores) as store:
        await _steps(options, pipeline, store, timeline, report)


async def _steps(
    options: DrillOptions,
    pipeline: _Pipeline,
    store: ControlStore,
    timeline: _Timeline,
    report: DrillReport,
) -> None:
    topology = pipeline.topology
    primary, standby = topology.primary, topology.standby
    spec = topology.pipeline
    ledger = f'"{TABLE}-ledger"'
    wait = options.step_timeout_s

    async def copied() -> bool:
        return any(r.body.get("copied", 0) > 0 for r in await store.get_reports("replicator"))

    # 1. Warm up.
    await _until(
        lambda: _query(spec.sink_path, f"SELECT 1 FROM {ledger} LIMIT 1"), wait, "first records"
    )
    await _until(copied, wait, "replication to start")
    timeline.mark("records flow through the primary and the replicator")
    await asyncio.sleep(options.warmup_s)
    # 2. Kills.
    for kill in options.kills:
        name = f"consumer-{primary.name}" if kill == "consumer" else kill
        pid = pipeline.kill(name)
        timeline.mark(f"SIGKILL {name} (pid {pid}); the supervisor restarts it")
        await asyncio.sleep(1.0)
    # 3. The fault.
    lags = [r.body.get("lag_ms", 0) for r in await store.get_reports("replicator")]
    report.replication_lag_at_fault_ms = max(lags, default=0)
    assert primary.endpoint_url is not None
    fault = {"outage": True} if options.fault == "outage" else {"error_rate": 0.5, "status": 500}
    set_fault(primary.endpoint_url, fault)
    fault_at = timeline.mark(f"fault injected in {primary.name}: {options.fault}")
    # 4. Failover and recovery.

    async def failed_over() -> bool:
        state = await store.get_state()
        return state is not None and state.active_region == standby.name

    await _until(failed_over, wait, "the failover decision")
    state = await store.get_state()
    assert state is not None
    report.detection_s = state.changed_at - fault_at
    timeline.events.append((state.changed_at, f"failover decided: epoch {state.epoch}"))
    first = await _until(
        lambda: _query(
            spec.sink_path,
            f"SELECT min(applied_at) FROM {ledger} WHERE region = ? AND event_time > ?"
            " HAVING count(*) > 0",
            standby.name,
            int(fault_at * 1000),
        ),
        wait,
        "new records processed in the standby",
    )
    recovered_at = first[0][0] / 1000
    report.rto_s = recovered_at - fault_at
    timeline.events.append((recovered_at, f"first new record processed in {standby.name}"))
    await asyncio.sleep(options.hold_s)
    # 5. Failback.
    set_fault(primary.endpoint_url, None)
    timeline.mark(f"fault cleared in {primary.name}")
    if options.failback:
        await failback(topology, store, say=timeline.note)
        await asyncio.sleep(3.0)
    # 6. Verify.
    if pipeline.stop_producer is not None:
        await pipeline.stop_producer()
        timeline.mark("producer stopped (flushed)")
        acked = read_acked(spec.acked_path)
    else:
        cutoff = timeline.mark("verifying records acknowledged until now")
        await asyncio.sleep(2.0)  # the producer's ledger flushes every 0.2 s
        acked = read_acked(spec.acked_path, until=cutoff)
    report.acknowledged = len(acked)

    def in_sink() -> set[str]:
        return {row[0] for row in _query(spec.sink_path, f"SELECT record_id FROM {ledger}")}

    with contextlib.suppress(TimeoutError):
        await _until(lambda: not (set(acked) - in_sink()), 60.0, "the sink to catch up", 0.5)
    stored = in_sink()
    report.in_sink = len(stored & set(acked))
    report.rpo_records = len(set(acked) - stored)
    timeline.mark("verification done")
    ticks = _query(
        spec.sink_path,
        f"SELECT count(*), count(DISTINCT item_key || ':' || event_time) FROM {ledger}",
    )
    report.visible_duplicates = ticks[0][0] - ticks[0][1] if ticks else -1
    report.duplicate_deliveries_absorbed = sum(
        r.body.get("sink", {}).get("duplicates", 0) for r in await store.get_reports("consumer")
    )
    report.items_correct = _items_at_newest(spec.sink_path, acked)
    report.timeline = timeline.relative_to(fault_at)


def _items_at_newest(sink: Path, acked: dict[str, tuple[str, int]]) -> bool:
    """True when each item holds the newest acknowledged tick (by event time, then id)."""
    newest: dict[str, tuple[int, str]] = {}
    for record_id, (key, event_time) in acked.items():
        newest[key] = max(newest.get(key, (0, "")), (event_time, record_id))
    rows = _query(sink, f'SELECT item_key, event_time, record_id FROM "{TABLE}"')
    stored = {key: (event_time, record_id) for key, event_time, record_id in rows}
    # An item may also hold a newer tick whose acknowledgement was not logged.
    return bool(newest) and all(stored.get(key, (0, "")) >= want for key, want in newest.items())
