"""``shardline monitor``: the health monitor and the failover controller in one process.

Every ``check_interval_s``:

1. **Canary.** Every ``canary_interval_s`` each region gets a synthetic put and a
   get of that record on a dedicated one-shard stream (``shardline-canary``,
   created when missing), so an idle pipeline still yields samples. Each call
   counts as one sample; a timeout or error counts as a failure.
2. **Window.** The monitor sums every ``health`` report of a region (producers'
   puts, replicators' puts, consumers' reads, its own canary) over the last
   ``window_s`` seconds and turns the error rate into a verdict
   (:func:`~shardline.failover.health.verdict`), which drives the region's
   hysteresis state machine.
3. **Decision.** When the *active* region is the primary and its state is FAILED,
   the standby is not FAILED, automatic failover is on, and the last switch (if
   there was one) of the active region is at least ``min_switch_interval_s`` old
   (a failback's later steps, which switch nothing, do not count), the controller writes
   the failover decision (:func:`~shardline.failover.decisions.failover`). The
   epoch fences it: if another controller decided first, this one loses the write
   and re-reads.
4. **Heartbeat.** A ``controller`` report with each region's state, window and the
   decisions taken, which ``shardline status`` and ``shardline up`` show.

Automatic failover goes one way, primary → standby. Going back is the failback
procedure (``shardline failback``), which a person starts once the primary is
healthy again, as in the reference runbook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.config import AioConfig

from shardline.failover.decisions import failover, initial_state
from shardline.failover.health import (
    HealthCounts,
    RegionHealth,
    WindowStats,
    health_report,
    verdict,
    window_totals,
)
from shardline.kinesis import connect, quick_config, wait_stream_active
from shardline.stores.control import ControlState, ControlStore, ControlStoreError, StaleEpochError
from shardline.stores.reports import (
    ConsumerReport,
    DecisionTaken,
    HealthReport,
    HealthState,
    MonitorReport,
    RegionVerdict,
    ReportFormatError,
)
from shardline.topology import RegionSpec, Topology

log = logging.getLogger(__name__)

CANARY_STREAM = "shardline-canary"
#: A canary call slower than this counts as failed (the AWS sample alarms at 1 s).
CANARY_TIMEOUT_S = 2.0


@dataclass
class _RegionWatch:
    spec: RegionSpec
    health: RegionHealth
    canary: HealthCounts = field(default_factory=HealthCounts)
    stats: WindowStats = field(default_factory=lambda: WindowStats(0, 0))
    client: Any = None
    canary_ready: bool = False
    #: Canary rounds so far, and the last one's outcome and wall-clock time.
    canary_rounds: dict[str, int] = field(default_factory=lambda: {"ok": 0, "error": 0})
    canary_last_ok: bool | None = None
    canary_last_at: float | None = None

    def canary_done(self, ok: bool) -> None:
        self.canary_rounds["ok" if ok else "error"] += 1
        self.canary_last_ok, self.canary_last_at = ok, time.time()

    def verdict(self) -> RegionVerdict:
        """The region as the heartbeat reports it (the error rate to four places)."""
        stats = self.stats
        return RegionVerdict(
            self.health.state,
            stats.ok,
            stats.errors,
            round(stats.error_rate, 4),
            self.canary_last_ok,
            self.canary_last_at,
        )


class Monitor:
    """Health monitor and failover controller (module docstring)."""

    def __init__(
        self, topology: Topology, store: ControlStore, component: str | None = None
    ) -> None:
        self.topology = topology
        self.store = store
        self.policy = topology.failover
        self.component = component or f"monitor-{socket.gethostname()}-{os.getpid()}"
        self.regions = {
            r.name: _RegionWatch(r, RegionHealth(self.policy.consecutive_checks))
            for r in topology.regions
        }
        #: The failovers this monitor decided, oldest first.
        self.decisions: list[DecisionTaken] = []
        #: The control state as of the last check (None before the first).
        self.state: ControlState | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Monitor (and decide) until :meth:`stop`."""
        state = await self.store.initialize(initial_state(self.topology))
        log.info("control state: epoch %d, active %s", state.epoch, state.active_region)
        config = canary_client_config()
        async with contextlib.AsyncExitStack() as stack:
            for watch in self.regions.values():
                watch.client = await stack.enter_async_context(
                    connect(watch.spec.endpoint(), config=config)
                )
            canary = asyncio.create_task(self._canary_loop())
            try:
                # A fixed cadence: a slow check (a busy store, a loaded machine) must
                # not stretch the hysteresis, which counts checks, and so detection.
                due = time.monotonic()
                while not self._stop.is_set():
                    await self.check()
                    due = max(due + self.policy.check_interval_s, time.monotonic())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), due - time.monotonic())
            finally:
                canary.cancel()
                await asyncio.gather(canary, return_exceptions=True)

    # -- step 1: canary -----------------------------------------------------------------

    async def _canary_loop(self) -> None:
        while True:
            await asyncio.gather(*(self.probe(w) for w in self.regions.values()))
            await asyncio.sleep(self.policy.canary_interval_s)

    async def probe(self, watch: _RegionWatch) -> bool:
        """One canary round on one region; True when both calls succeeded."""
        try:
            if not watch.canary_ready:
                await ensure_canary_stream(watch.client)
                watch.canary_ready = True
            await canary_round(watch.client, watch.canary)
            watch.canary_done(True)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("canary on %s failed: %s", watch.spec.name, exc)
            watch.canary.record(errors=1)
            watch.canary_done(False)
            return False

    # -- steps 2–4 ----------------------------------------------------------------------

    async def check(self) -> ControlState | None:
        """One evaluation of every region, and a decision if one is due."""
        now = time.time()
        since = now - self.policy.window_s
        try:
            for watch in self.regions.values():
                await self.store.put_report(
                    *health_report(f"canary-{self.component}", watch.spec.name, watch.canary, since)
                )
            reports = await self.store.get_reports(HealthReport)
            state = await self.store.get_state()
        except ControlStoreError as exc:
            log.warning("control store unreadable: %s", exc)
            return None
        except ReportFormatError as exc:
            log.error("cannot judge region health: %s", exc)
            return None
        for name, watch in self.regions.items():
            calls = [r.body.calls for r in reports if r.body.region == name]
            ok, errors = window_totals(calls, since)
            watch.stats = WindowStats(ok, errors)
            before = watch.health.state
            after = watch.health.observe(
                verdict(watch.stats, self.policy.threshold, self.policy.min_samples), now
            )
            if after is not before:
                log.warning(
                    "region %s: %s -> %s (error rate %.2f%% of %d calls over %gs)",
                    name,
                    before.value,
                    after.value,
                    watch.stats.error_rate * 100,
                    watch.stats.samples,
                    self.policy.window_s,
                )
        if state is not None:
            try:
                state = await self._decide(state, now)
            except ReportFormatError as exc:
                # A newer component's consumer report: deciding without its start
                # position could skip records, so no decision this check; the
                # heartbeat goes on, and the log says what to upgrade.
                log.error("cannot decide a failover: %s", exc)
        self.state = state
        await self._heartbeat(state)
        return state

    async def _decide(self, state: ControlState, now: float) -> ControlState:
        primary, standby = self.topology.primary.name, self.topology.standby.name
        active = self.regions[state.active_region]
        due = (
            self.policy.automatic
            and state.active_region == primary
            and active.health.state is HealthState.FAILED
            and self.regions[standby].health.state is not HealthState.FAILED
            and (state.epoch == 1 or now - state.switched_at >= self.policy.min_switch_interval_s)
        )
        if not due:
            return state
        reason = (
            f"automatic: {primary} error rate {active.stats.error_rate:.2%} over "
            f"{self.policy.window_s:g}s (threshold {self.policy.threshold:.2%})"
        )
        return await self.fail_over(state, standby, reason)

    async def fail_over(self, state: ControlState, to_region: str, reason: str) -> ControlState:
        """Write the failover decision; on a lost race, return the winner's state."""
        reports = await self.store.get_reports(ConsumerReport)
        decided = failover(state, self.topology, to_region, reason, reports)
        try:
            await self.store.transition(state, decided)
        except StaleEpochError:
            log.warning("another controller decided first; following its decision")
            return await self.store.get_state() or state
        log.warning("FAILOVER epoch %d: %s active (%s)", decided.epoch, to_region, reason)
        self.decisions.append(DecisionTaken(decided.epoch, decided.changed_at, to_region, reason))
        return decided

    async def _heartbeat(self, state: ControlState | None) -> None:
        report = MonitorReport(
            epoch=state.epoch if state else None,
            active_region=state.active_region if state else None,
            regions={name: w.verdict() for name, w in self.regions.items()},
            decisions=tuple(self.decisions[-20:]),
        )
        with contextlib.suppress(ControlStoreError):
            await self.store.put_report(self.component, report)


async def manual_failover(
    topology: Topology, store: ControlStore, to_region: str | None, reason: str, component: str
) -> ControlState:
    """A manual failover decision, as ``shardline failover`` and the console make it.

    ``to_region`` None means the region that is not active. Returns the new state.
    Raises ValueError when ``to_region`` is already active, and StaleEpochError
    when another decision won the race (read the state and decide again).
    """
    state = await store.initialize(initial_state(topology))
    target = to_region or topology.other(state.active_region).name
    decided = await Monitor(topology, store, component=component).fail_over(state, target, reason)
    if decided.active_region != target:
        raise StaleEpochError(f"another decision won: {decided.active_region} is active")
    return decided


def canary_client_config() -> AioConfig:
    """One attempt, short timeouts: a slow answer is a failed sample."""
    return quick_config(CANARY_TIMEOUT_S)


async def ensure_canary_stream(client: Any) -> None:
    """Create the one-shard canary stream if missing and wait until it is ACTIVE."""
    async with asyncio.timeout(CANARY_TIMEOUT_S * 5):
        with contextlib.suppress(client.exceptions.ResourceInUseException):
            await client.create_stream(StreamName=CANARY_STREAM, ShardCount=1)
        await wait_stream_active(client, CANARY_STREAM, timeout_s=CANARY_TIMEOUT_S * 5)


async def canary_round(client: Any, counts: HealthCounts | None = None) -> None:
    """Put a record on the canary stream and read it back; raises on any failure.

    Each call that succeeds is counted in ``counts`` as it happens.
    """
    async with asyncio.timeout(CANARY_TIMEOUT_S * 2):
        put = await client.put_record(
            StreamName=CANARY_STREAM, Data=str(time.time()).encode(), PartitionKey="canary"
        )
        if counts is not None:
            counts.record(ok=1)
        iterator = await client.get_shard_iterator(
            StreamName=CANARY_STREAM,
            ShardId=put["ShardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=put["SequenceNumber"],
        )
        await client.get_records(ShardIterator=iterator["ShardIterator"], Limit=1)
        if counts is not None:
            counts.record(ok=1)
