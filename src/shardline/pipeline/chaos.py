"""``shardline drill --chaos-s``: many random faults over minutes, then the usual verdict.

A single-fault drill proves one failover. Real regional failures are partial and
come in clusters, and what they break is the order of things: an acknowledgement
arriving after the decision it raced, a failback interrupted by the next fault, a
component killed mid-switch. The chaos drill looks for those, as numbered steps:

1. Start the reference pipeline (or attach to a ``shardline up``), warm up.
2. For ``duration_s`` seconds, apply the seed's schedule
   (:func:`~shardline.pipeline.chaos_plan.plan`): outages, error rates and latency
   on the primary, SIGKILLs of any component (the monitor and both region servers
   included). Meanwhile:

   - a *failback driver* runs the failback procedure
     (:func:`~shardline.failover.failback.failback`) whenever the layout is not
     restored and no fault is in force on the primary; one that a fault interrupts
     is started again (it resumes where it stopped);
   - a *decision watcher* records every control state, for the report.

3. Clear every fault and wait until the failback driver has restored the layout.
4. Verify the sink against the acknowledged ledger
   (:mod:`~shardline.pipeline.verification`): nothing lost, nothing visibly
   duplicated, every item at its newest tick.
5. Report every fault, failover (with the fault it answers, detection and RTO) and
   failback, the RTO and detection spread, false failovers, and the seed to replay
   the schedule with.

It passes when step 4 passes, the layout was restored, and every failover's RTO is
within ``max_rto_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from shardline.errors import ShardlineError
from shardline.failover.decisions import next_failback_step
from shardline.failover.failback import failback, monitor_verdicts
from shardline.pipeline.chaos_plan import (
    AppliedFault,
    ChaosShape,
    PlannedFault,
    attribute,
    plan,
    spread,
)
from shardline.pipeline.drill import (
    REPORT_FILE,
    admin_of,
    drill_topology,
    first_processed_after,
    render_sink,
    warm_up,
)
from shardline.pipeline.handle import PipelineHandle, Timeline, attached_pipeline, own_pipeline
from shardline.pipeline.verification import SinkVerdict, acknowledged_records, verify_sink
from shardline.settings import setting, validate
from shardline.stores.control import ControlState, ControlStore, ControlStoreError
from shardline.stores.factory import control_store_for
from shardline.stores.reports import HealthState

#: Pause before a failback that a fault interrupted is started again.
FAILBACK_RETRY_S = 3.0
#: How often the decision watcher reads the control state (failovers are at least
#: ``min_switch_interval_s`` apart, so none is missed).
WATCH_INTERVAL_S = 0.25


@dataclass(frozen=True)
class ChaosOptions:
    duration_s: float = setting(gt=0)
    seed: int = setting(ge=0)
    standby: Literal["cold", "warm"] = "cold"
    #: The failover policy's window (drills shorten the reference 300 s).
    window_s: float = setting(10.0, gt=0)
    rate: float = setting(100.0, gt=0)
    shape: ChaosShape = field(default_factory=ChaosShape)
    #: A failover whose RTO exceeds this fails the drill.
    max_rto_s: float = setting(10.0, ge=0)
    step_timeout_s: float = setting(120.0, gt=0)
    #: How long step 3 may take.
    restore_timeout_s: float = setting(300.0, gt=0)

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class FailoverOutcome:
    """One failover of a chaos run; times are seconds from the chaos start."""

    epoch: int
    decided_s: float
    reason: str
    #: The fault it answers (None: a false failover).
    fault: str | None
    detection_s: float | None
    rto_s: float | None
    #: How long the standby stayed active (None: until the end of the chaos).
    standby_period_s: float | None


@dataclass(frozen=True)
class FailbackOutcome:
    started_s: float
    ended_s: float
    #: "complete", or "interrupted: <why>".
    outcome: str


@dataclass
class ChaosReport:
    seed: int
    duration_s: float
    standby: str
    window_s: float
    max_rto_s: float
    faults: list[dict[str, Any]] = field(default_factory=list)
    failovers: list[FailoverOutcome] = field(default_factory=list)
    failbacks: list[FailbackOutcome] = field(default_factory=list)
    sink: SinkVerdict | None = None
    #: Why the run could not complete (the layout not restored, say); None if it did.
    error: str | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def false_failovers(self) -> int:
        return sum(f.fault is None for f in self.failovers)

    @property
    def rto_exceeded(self) -> list[int]:
        """Epochs of failovers slower than ``max_rto_s`` (or with no recovery at all
        in a standby period longer than that)."""
        slow = []
        for f in self.failovers:
            if f.fault is None:
                continue
            if f.rto_s is None:
                if f.standby_period_s is None or f.standby_period_s > self.max_rto_s:
                    slow.append(f.epoch)
            elif f.rto_s > self.max_rto_s:
                slow.append(f.epoch)
        return slow

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.sink is not None
            and self.sink.passed
            and not self.rto_exceeded
        )

    def summary(self) -> dict[str, Any]:
        answered = [f for f in self.failovers if f.fault is not None]
        return {
            "rto_s": spread([f.rto_s for f in answered if f.rto_s is not None]),
            "detection_s": spread([f.detection_s for f in answered if f.detection_s is not None]),
            "false_failovers": self.false_failovers,
            "failbacks_completed": sum(f.outcome == "complete" for f in self.failbacks),
            "failbacks_interrupted": sum(f.outcome != "complete" for f in self.failbacks),
        }

    def to_doc(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc.update(doc.pop("sink") or {})
        return {**doc, **self.summary(), "passed": self.passed}

    def render(self) -> str:
        summary = self.summary()

        def figures(name: str) -> str:
            values = summary[name]
            return " / ".join("n/a" if values[k] is None else f"{values[k]:.1f}" for k in values)

        lines = [
            f"chaos drill: {self.duration_s:g} s, seed {self.seed}, {self.standby} standby, "
            f"{self.window_s:g} s detection window",
            "",
            *render_sink(self.sink),
            f"  faults: {len(self.faults)}; failovers: {len(self.failovers)} "
            f"(false: {self.false_failovers}); failbacks: "
            f"{summary['failbacks_completed']} completed, "
            f"{summary['failbacks_interrupted']} interrupted",
            f"  RTO p50 / p99 / max       : {figures('rto_s')} s (limit {self.max_rto_s:g} s)",
            f"  detection p50 / p99 / max : {figures('detection_s')} s",
            "",
            "  failovers (seconds from the chaos start):",
        ]
        for f in self.failovers:
            rto = "n/a" if f.rto_s is None else f"{f.rto_s:.1f} s"
            detection = "n/a" if f.detection_s is None else f"{f.detection_s:.1f} s"
            lines.append(
                f"    {f.decided_s:+7.1f}  epoch {f.epoch}: answers {f.fault or 'NO FAULT'}; "
                f"detection {detection}, RTO {rto}"
            )
        lines += ["", "  timeline (seconds from the chaos start):"]
        lines += [f"    {e['t']:+7.1f}  {e['event']}" for e in self.timeline]
        if self.error:
            lines += ["", f"  error: {self.error}"]
        lines += [
            "",
            f"  replay: shardline drill --chaos-s {self.duration_s:g} --seed {self.seed} "
            f"--standby {self.standby}",
            "",
            "PASSED" if self.passed else "FAILED",
        ]
        return "\n".join(lines)


async def run_chaos(
    options: ChaosOptions, data_dir: Path, say: Callable[[str], None] = print
) -> ChaosReport:
    """The chaos drill on a pipeline of its own in ``data_dir`` (stopped afterwards)."""
    path = drill_topology(data_dir, options.standby, options.window_s, options.rate)
    async with own_pipeline(path, data_dir) as pipeline:
        return await _chaos(options, pipeline, Timeline(say))


async def attach_chaos(
    options: ChaosOptions, data_dir: Path, say: Callable[[str], None] = print
) -> ChaosReport:
    """The chaos drill on the pipeline a ``shardline up`` runs in ``data_dir``.

    Its own failover policy applies; the producer keeps running, so the sink is
    verified against every record acknowledged until the layout was restored.
    """
    pipeline = attached_pipeline(data_dir)
    policy = pipeline.topology.failover
    own = dataclasses.replace(options, standby=policy.standby, window_s=policy.window_s)
    report = await _chaos(own, pipeline, Timeline(say))
    (data_dir / REPORT_FILE).write_text(json.dumps(report.to_doc(), indent=2))
    return report


async def _chaos(
    options: ChaosOptions, pipeline: PipelineHandle, timeline: Timeline
) -> ChaosReport:
    """Steps 1–5 of the module docstring."""
    topology = pipeline.topology
    report = ChaosReport(
        options.seed, options.duration_s, options.standby, options.window_s, options.max_rto_s
    )
    timeline.say(
        f"chaos seed {options.seed} (replay: shardline drill --chaos-s {options.duration_s:g} "
        f"--seed {options.seed} --standby {options.standby})"
    )
    schedule = plan(
        options.seed,
        options.duration_s,
        topology.primary.name,
        topology.standby.name,
        options.shape,
    )
    async with control_store_for(topology.stores) as store:
        await warm_up(pipeline, store, options.step_timeout_s, timeline)
        run = _ChaosRun(options, pipeline, store, timeline, schedule)
        try:
            await run.execute()
        except TimeoutError as exc:
            report.error = str(exc)
        acked = await acknowledged_records(pipeline, timeline)
        report.sink = await verify_sink(pipeline, store, acked)
        timeline.mark("verification done")
        report.faults = [
            {"t": round(a.began_at - run.began, 2), "fault": a.planned.describe()}
            for a in run.applied
        ]
        report.failovers = await run.failovers()
        report.failbacks = run.failbacks
        report.timeline = timeline.relative_to(run.began)
    return report


class _ChaosRun:
    """Step 2 and 3: the schedule, the failback driver and the decision watcher."""

    def __init__(
        self,
        options: ChaosOptions,
        pipeline: PipelineHandle,
        store: ControlStore,
        timeline: Timeline,
        schedule: list[PlannedFault],
    ) -> None:
        self.options = options
        self.pipeline = pipeline
        self.topology = pipeline.topology
        self.store = store
        self.timeline = timeline
        self.schedule = schedule
        self.began = time.time()
        self.applied: list[AppliedFault] = []
        self.states: list[ControlState] = []
        self.failbacks: list[FailbackOutcome] = []
        #: The network fault in force on the primary now (None: none).
        self.in_force: PlannedFault | None = None
        self._failing_back = False

    async def execute(self) -> None:
        self.began = time.time()
        self.timeline.mark(f"chaos begins: {len(self.schedule)} faults planned")
        tasks = [
            asyncio.create_task(self._watch_decisions(), name="chaos-decisions"),
            asyncio.create_task(self._drive_failbacks(), name="chaos-failbacks"),
        ]
        try:
            await self._apply_schedule()
            self.timeline.mark("chaos ends: every fault cleared; restoring the layout")
            await self._clear_all()
            await self._restored()
            self.timeline.mark("layout restored: primary active, replicating")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- step 2: the schedule ---------------------------------------------------------

    async def _apply_schedule(self) -> None:
        actions: list[tuple[float, int, PlannedFault]] = []
        for fault in self.schedule:
            actions.append((fault.at_s, 1, fault))
            if fault.kind != "kill":
                actions.append((fault.at_s + fault.duration_s, 0, fault))
        for at, starts, fault in sorted(actions, key=lambda a: (a[0], a[1])):
            await self._sleep_until(at)
            if starts:
                await self._apply(fault)
            elif self.in_force is fault:
                await self._set_network_fault(None)
                self.timeline.mark(f"cleared: {fault.kind} in {fault.target}")
        await self._sleep_until(self.options.duration_s)

    async def _sleep_until(self, offset_s: float) -> None:
        delay = self.began + offset_s - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _apply(self, fault: PlannedFault) -> None:
        if fault.kind == "kill":
            pid = await asyncio.to_thread(self.pipeline.kill, fault.target)
            what = f"(pid {pid})" if pid is not None else "(not running)"
            began = self.timeline.mark(f"fault: {fault.describe()} {what}")
        else:
            if not await self._set_network_fault(fault):
                return
            began = self.timeline.mark(f"fault: {fault.describe()}")
        self.applied.append(AppliedFault(fault, began))

    async def _set_network_fault(self, fault: PlannedFault | None) -> bool:
        """Set (or clear) the primary's fault; False when its server did not answer."""
        try:
            await admin_of(self.topology.primary).set_fault(
                fault.body() if fault is not None else None
            )
        except OSError as exc:
            self.timeline.mark(f"could not set the primary's fault ({exc}); skipped")
            self.in_force = None
            return False
        self.in_force = fault
        return True

    async def _clear_all(self) -> None:
        for region in self.topology.regions:
            if region.endpoint_url is not None:
                with contextlib.suppress(OSError):
                    await admin_of(region).set_fault(None)
        self.in_force = None

    # -- the failback driver ------------------------------------------------------------

    async def _drive_failbacks(self) -> None:
        while True:
            state = await self._state()
            due = state is not None and next_failback_step(state, self.topology) is not None
            if due and self.in_force is None and not await self._failback():
                await asyncio.sleep(FAILBACK_RETRY_S)
            await asyncio.sleep(1.0)

    async def _failback(self) -> bool:
        """One failback attempt; True when it completed."""
        self._failing_back = True
        started = self.timeline.mark("failback started")
        try:
            async with asyncio.timeout(self.options.step_timeout_s * 3):
                await failback(
                    self.topology,
                    self.store,
                    say=lambda line: self.timeline.note(f"failback: {line}"),
                    drain_timeout_s=self.options.step_timeout_s,
                )
            outcome = "complete"
        except (ShardlineError, TimeoutError, BotoCoreError, ClientError, OSError) as exc:
            outcome = f"interrupted: {type(exc).__name__}: {exc}"
            self.timeline.mark(f"failback {outcome}")
        finally:
            self._failing_back = False
        self.failbacks.append(
            FailbackOutcome(
                round(started - self.began, 2), round(time.time() - self.began, 2), outcome
            )
        )
        return outcome == "complete"

    async def _state(self) -> ControlState | None:
        try:
            return await self.store.get_state()
        except ControlStoreError:
            return None

    # -- step 3 -----------------------------------------------------------------------

    async def _restored(self) -> None:
        """Wait until the layout is restored and the monitor sees the primary healthy.

        Checked only once the last fault's effect is older than a detection (window
        and checks): a fault late in the chaos may still cause a failover, which
        the failback driver must then undo before the verification.
        """
        policy = self.topology.failover
        detection = policy.window_s + policy.consecutive_checks * policy.check_interval_s
        last = max((a.began_at + a.planned.effect_s() for a in self.applied), default=0.0)
        await asyncio.sleep(max(0.0, last + detection - time.time()))
        deadline = time.monotonic() + self.options.restore_timeout_s
        while not await self._is_restored():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the layout was not restored within {self.options.restore_timeout_s:g}s "
                    "after the chaos ended"
                )
            await asyncio.sleep(0.5)

    async def _is_restored(self) -> bool:
        state = await self._state()
        if state is None or next_failback_step(state, self.topology) is not None:
            return False
        if self._failing_back:
            return False
        try:
            verdicts = await monitor_verdicts(self.topology, self.store)
        except ControlStoreError:
            return False
        return bool(verdicts) and all(v is HealthState.HEALTHY for v in verdicts)

    # -- the decision watcher and step 5 ----------------------------------------------------

    async def _watch_decisions(self) -> None:
        while True:
            state = await self._state()
            if state is not None and (not self.states or state.epoch > self.states[-1].epoch):
                self.states.append(state)
                self.timeline.mark(
                    f"epoch {state.epoch}: {state.active_region} active ({state.reason})",
                    at=state.changed_at,
                )
            await asyncio.sleep(WATCH_INTERVAL_S)

    async def failovers(self) -> list[FailoverOutcome]:
        """Every failover seen, with the fault it answers, its detection and RTO."""
        primary, standby = self.topology.primary.name, self.topology.standby.name
        policy = self.topology.failover
        window = policy.window_s + policy.consecutive_checks * policy.check_interval_s + 5.0
        outcomes = []
        for index, state in enumerate(self.states):
            previous = self.states[index - 1] if index else None
            if state.active_region != standby or (
                previous is not None and previous.active_region == standby
            ):
                continue
            back = next((s for s in self.states[index:] if s.active_region == primary), None)
            until = back.changed_at if back is not None else None
            fault = attribute(self.applied, state.changed_at, primary, window)
            rto = None
            if fault is not None:
                recovered = await first_processed_after(
                    self.pipeline, standby, fault.began_at, until
                )
                rto = None if recovered is None else round(recovered - fault.began_at, 2)
            outcomes.append(
                FailoverOutcome(
                    state.epoch,
                    round(state.changed_at - self.began, 2),
                    state.reason,
                    fault.planned.describe() if fault is not None else None,
                    round(state.changed_at - fault.began_at, 2) if fault is not None else None,
                    rto,
                    round(until - state.changed_at, 2) if until is not None else None,
                )
            )
        return outcomes
