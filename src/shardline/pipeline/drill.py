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
   report (:mod:`~shardline.pipeline.verification`).

The randomised drill, many faults over minutes, is :mod:`~shardline.pipeline.chaos`.

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
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from shardline.admin import AdminClient
from shardline.errors import ConfigError
from shardline.failover.failback import failback
from shardline.pipeline.handle import (
    DrillError,
    PipelineHandle,
    Timeline,
    attached_pipeline,
    own_pipeline,
    until,
)
from shardline.pipeline.launch import default_topology
from shardline.pipeline.verification import (
    LEDGER,
    SinkVerdict,
    acknowledged_records,
    query,
    verify_sink,
)
from shardline.settings import setting, validate
from shardline.stores.control import ControlStore
from shardline.stores.factory import control_store_for
from shardline.stores.reports import ReplicatorReport
from shardline.topology import RegionSpec

Fault = Literal["outage", "error-rate"]

__all__ = ["KILLABLE", "DrillError", "DrillOptions", "DrillReport", "attach_drill", "run_drill"]

KILLABLE = ("replicator", "consumer", "producer", "monitor")
#: An attached drill leaves its report here, in the pipeline's data directory,
#: where the web console shows it.
REPORT_FILE = "drill-report.json"


@dataclass(frozen=True)
class DrillOptions:
    #: The standby mode of the drill's pipeline.
    standby: Literal["cold", "warm"] = "cold"
    #: "outage": every call to the primary refused; "error-rate": half of them fail.
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
    #: Fail back to the primary after the failover (and verify after it).
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
    rto_s: float | None = None
    detection_s: float | None = None
    replication_lag_at_fault_ms: int | None = None
    sink: SinkVerdict | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Nothing acknowledged lost, nothing duplicated visibly, items correct."""
        return self.sink is not None and self.sink.passed

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.update(doc.pop("sink") or {})
        return {**doc, "passed": self.passed}

    def render(self) -> str:
        def seconds(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} s"

        lines = [
            f"drill: {self.fault} of the primary, {self.standby} standby, "
            f"{self.window_s:g} s detection window",
            "",
            *render_sink(self.sink),
            f"  RTO (fault -> new records processed in standby) : {seconds(self.rto_s)}",
            f"  detection (fault -> failover decision)          : {seconds(self.detection_s)}",
            f"  replication lag at the fault : {self.replication_lag_at_fault_ms} ms",
            "",
            "  timeline (seconds from the fault):",
        ]
        lines += [f"    {e['t']:+7.1f}  {e['event']}" for e in self.timeline]
        lines += ["", "PASSED" if self.passed else "FAILED"]
        return "\n".join(lines)


def render_sink(sink: SinkVerdict | None) -> list[str]:
    """The verification lines of a report (shared by the drill and the chaos drill)."""
    if sink is None:
        return ["  verification: not reached"]
    lines = [
        f"  RPO (acknowledged records lost) : {sink.rpo_records}  "
        f"({sink.in_sink} of {sink.acknowledged} acknowledged records in the sink)",
        f"  duplicate deliveries absorbed by the sink : {sink.duplicate_deliveries_absorbed}",
        f"  duplicates visible in the sink            : {sink.visible_duplicates}",
        "  every item at its newest tick             : " + ("yes" if sink.items_correct else "NO"),
    ]
    if sink.lost:
        lines.append(f"  lost record ids (first {len(sink.lost)}): {', '.join(sink.lost)}")
    return lines


def admin_of(region: RegionSpec) -> AdminClient:
    """The admin endpoint of a topology region, its calls signed with that region's
    credentials (a region started with ``--credentials`` answers admin keys only)."""
    assert region.endpoint_url is not None, "drills inject faults into local regions"
    return AdminClient(region.endpoint_url, region.credentials(), region.region_name)


def drill_topology(
    data_dir: Path, standby: str, window_s: float, rate: float, **failover: object
) -> Path:
    """The embedded default topology with a drill's (shortened) failover policy."""
    return default_topology(
        data_dir,
        failover={
            "standby": standby,
            "window_s": window_s,
            "threshold": 0.01,
            "check_interval_s": 1.0,
            "consecutive_checks": 3,
            "canary_interval_s": 0.5,
            "min_switch_interval_s": 5.0,
            "start_buffer_s": 2.0,
            "poll_interval_s": 0.5,
            **failover,
        },
        pipeline={"rate": rate, "lease_failover_s": 3.0},
    )


async def run_drill(
    options: DrillOptions, data_dir: Path, say: Callable[[str], None] = print
) -> DrillReport:
    """Run the drill on a pipeline of its own in ``data_dir``; stops it afterwards."""
    report = DrillReport(options.standby, options.fault, options.window_s)
    timeline = Timeline(say)
    path = drill_topology(data_dir, options.standby, options.window_s, options.rate)
    async with own_pipeline(path, data_dir) as pipeline:
        timeline.mark("pipeline started")
        await _exercise(options, pipeline, timeline, report)
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
    pipeline = attached_pipeline(data_dir)
    failover = pipeline.topology.failover
    report = DrillReport(failover.standby, options.fault, failover.window_s)
    await _exercise(options, pipeline, Timeline(say), report)
    (data_dir / REPORT_FILE).write_text(json.dumps(report.to_doc(), indent=2))
    return report


async def _exercise(
    options: DrillOptions, pipeline: PipelineHandle, timeline: Timeline, report: DrillReport
) -> None:
    async with control_store_for(pipeline.topology.stores) as store:
        await warm_up(pipeline, store, options.step_timeout_s, timeline)
        await asyncio.sleep(options.warmup_s)
        fault_at = await _fault_and_recovery(options, pipeline, store, timeline, report)
        acked = await acknowledged_records(pipeline, timeline)
        report.sink = await verify_sink(pipeline, store, acked)
        timeline.mark("verification done")
        report.timeline = timeline.relative_to(fault_at)


async def warm_up(
    pipeline: PipelineHandle, store: ControlStore, timeout: float, timeline: Timeline
) -> None:
    """Step 1: wait until records flow through the primary and the replicator."""
    sink = pipeline.topology.pipeline.sink_path

    async def copied() -> bool:
        return any(r.body.copied > 0 for r in await store.get_reports(ReplicatorReport))

    await until(lambda: query(sink, f"SELECT 1 FROM {LEDGER} LIMIT 1"), timeout, "first records")
    await until(copied, timeout, "replication to start")
    timeline.mark("records flow through the primary and the replicator")


async def first_processed_after(
    pipeline: PipelineHandle, region: str, instant: float, before: float | None = None
) -> float | None:
    """When ``region``'s consumers first applied a record produced after ``instant``.

    ``before`` bounds the application time (None: any time); None when there is none.
    """
    rows = await query(
        pipeline.topology.pipeline.sink_path,
        f"SELECT min(applied_at) FROM {LEDGER} WHERE region = ? AND event_time > ?"
        " AND applied_at < ?",
        region,
        int(instant * 1000),
        int((before or 1e12) * 1000),
    )
    return rows[0][0] / 1000 if rows and rows[0][0] is not None else None


async def _fault_and_recovery(
    options: DrillOptions,
    pipeline: PipelineHandle,
    store: ControlStore,
    timeline: Timeline,
    report: DrillReport,
) -> float:
    """Steps 2–5; returns when the fault was injected."""
    topology = pipeline.topology
    primary, standby = topology.primary, topology.standby
    wait = options.step_timeout_s
    for kill in options.kills:
        name = f"consumer-{primary.name}" if kill == "consumer" else kill
        pid = await asyncio.to_thread(pipeline.kill, name)
        timeline.mark(f"SIGKILL {name} (pid {pid}); the supervisor restarts it")
        await asyncio.sleep(1.0)
    lags = [r.body.lag_ms for r in await store.get_reports(ReplicatorReport)]
    report.replication_lag_at_fault_ms = max(lags, default=0)
    fault = {"outage": True} if options.fault == "outage" else {"error_rate": 0.5, "status": 500}
    await admin_of(primary).set_fault(fault)
    fault_at = timeline.mark(f"fault injected in {primary.name}: {options.fault}")

    async def failed_over() -> bool:
        state = await store.get_state()
        return state is not None and state.active_region == standby.name

    await until(failed_over, wait, "the failover decision")
    state = await store.get_state()
    assert state is not None
    report.detection_s = state.changed_at - fault_at
    timeline.mark(f"failover decided: epoch {state.epoch}", at=state.changed_at)
    recovered_at = await until(
        lambda: first_processed_after(pipeline, standby.name, fault_at),
        wait,
        "new records processed in the standby",
    )
    report.rto_s = recovered_at - fault_at
    timeline.mark(f"first new record processed in {standby.name}", at=recovered_at)
    await asyncio.sleep(options.hold_s)
    await admin_of(primary).set_fault(None)
    timeline.mark(f"fault cleared in {primary.name}")
    if options.failback:
        await failback(topology, store, say=timeline.note)
        await asyncio.sleep(3.0)
    return fault_at
