"""``shardline failback``: return to the primary region, one resumable step at a time.

The steps are those of :mod:`shardline.failover.decisions` (switch, drain,
stop-standby, resume-replication), preceded by a health check of the primary: its
canary must pass, and the monitor must see it HEALTHY again (otherwise the
controller would fail over again as soon as traffic moved back).
Each step is read off the control state itself
(:func:`~shardline.failover.decisions.next_failback_step`), so running the command
again after an interruption (Ctrl-C, a crash, a lost race) continues where the
previous run stopped, and running it on a restored layout does nothing.

Error handling: an unhealthy primary stops the procedure before any change
(:class:`FailbackError`); a drain that does not finish within ``drain_timeout_s``
stops it after the switch, with the standby's consumers still running (run it
again to keep waiting).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from botocore.exceptions import BotoCoreError, ClientError

from shardline.errors import ShardlineError
from shardline.failover.decisions import (
    failback_switch,
    next_failback_step,
    resume_replication,
    stop_draining,
)
from shardline.failover.monitor import canary_client_config, canary_round, ensure_canary_stream
from shardline.kinesis import connect, list_all_shards
from shardline.stores.control import ControlState, ControlStore
from shardline.stores.reports import (
    ConsumerReport,
    HealthState,
    MonitorReport,
    ProducerReport,
    Published,
)
from shardline.topology import Topology

#: Consecutive canary rounds the primary must pass before traffic moves back.
HEALTHY_ROUNDS = 3


class FailbackError(ShardlineError):
    """The failback cannot proceed (the message says why and what to do)."""


async def check_primary(topology: Topology) -> None:
    """Raise :class:`FailbackError` unless the primary passes a few canary rounds."""
    primary = topology.primary
    async with connect(primary.endpoint(), config=canary_client_config()) as client:
        try:
            await ensure_canary_stream(client)
            for _ in range(HEALTHY_ROUNDS):
                await canary_round(client)
        except Exception as exc:
            raise FailbackError(
                f"primary {primary.name} is not healthy ({exc}); fix it and run failback again"
            ) from exc


async def wait_monitor_healthy(
    topology: Topology, store: ControlStore, timeout_s: float, say: Callable[[str], None]
) -> None:
    """Wait until every fresh monitor report calls the primary HEALTHY.

    The monitor is the failover authority: moving traffic back while it still
    counts the primary as failed would make it fail over again at once. Its verdict
    recovers only after the window's error rate falls below the threshold and
    ``consecutive_checks`` healthy checks (the hysteresis), so this can take about a
    window. Without any fresh monitor report, the canary check stands alone.
    """
    primary = topology.primary.name
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        states = await monitor_verdicts(topology, store)
        if all(state is HealthState.HEALTHY for state in states):
            return
        seen = _state_name(states[0])
        if not announced:
            say(
                f"step 0: {primary} passes the canary; waiting until the monitor's verdict"
                f" turns HEALTHY too (still {seen} from the outage's window)"
            )
            announced = True
        if time.monotonic() > deadline:
            raise FailbackError(
                f"the monitor still sees {primary} as {seen} after {timeout_s:g}s; "
                "run failback again once it is healthy"
            )
        await asyncio.sleep(topology.failover.check_interval_s)


def _state_name(state: HealthState | None) -> str:
    return "unknown" if state is None else state.value


async def monitor_verdicts(topology: Topology, store: ControlStore) -> list[HealthState | None]:
    """The primary's health state in every fresh monitor report (none: no monitor runs;
    None: a report that does not name the primary).

    Fresh: newer than five checks (a live monitor reports every check).
    """
    primary = topology.primary.name
    fresh_s = max(5.0, 5 * topology.failover.check_interval_s)
    now = time.time()
    return [
        verdict.state if (verdict := r.body.regions.get(primary)) is not None else None
        for r in await store.get_reports(MonitorReport)
        if r.age_s(now) < fresh_s
    ]


def producers_moved(
    reports: list[Published[ProducerReport]], state: ControlState, now: float
) -> bool:
    """True when every live producer has carried out ``state`` (or a newer decision).

    A producer reports the newest decision it has carried out, which it does only
    once no call to the old region is in flight. A producer silent for
    :data:`~shardline.stores.reports.STALE_AFTER_S` is gone: it can store nothing
    anywhere any more.
    """
    live = [r for r in reports if not r.stale(now)]
    return all((r.body.epoch or 0) >= state.epoch for r in live)


def drained(
    reports: list[Published[ConsumerReport]],
    state: ControlState,
    region: str,
    shards: dict[str, list[str]],
    cutoff: float,
) -> bool:
    """True when ``region``'s consumers processed every record that arrived before
    ``cutoff``: every application that reported for the current generation, in
    every open shard of its stream (``shards``: stream → open shard ids).

    Each consumer report says, per shard, up to which instant every record is
    processed (``processed_through``); a shard counts with the best any worker of
    that application reported, whether the worker still runs or not (what it
    processed stays processed).
    """
    generation = state.consumers.get(region)
    if generation is None:
        return True
    through: dict[tuple[str, str], dict[str, float]] = {}
    for report in reports:
        body = report.body
        if body.region != region or body.generation != generation.epoch:
            continue
        by_shard = through.setdefault((body.application, body.stream), {})
        for shard, figures in body.shards.items():
            instant = figures.processed_through
            if instant is not None:
                by_shard[shard] = max(instant, by_shard.get(shard, 0.0))
    return bool(through) and all(
        stream in shards and all(by_shard.get(s, 0.0) >= cutoff for s in shards[stream])
        for (_, stream), by_shard in through.items()
    )


async def open_shards(topology: Topology, region: str, stream: str) -> list[str]:
    """The ids of ``stream``'s open shards in ``region``: the ones a drain must cover."""
    try:
        async with connect(topology.region(region).endpoint()) as client:
            shards = await list_all_shards(client, stream, {"Type": "AT_LATEST"})
    except (BotoCoreError, ClientError) as exc:
        raise FailbackError(
            f"cannot list the shards of {stream} in {region} ({exc}); run failback again"
        ) from exc
    return [shard.shard_id for shard in shards]


async def drain(
    topology: Topology,
    store: ControlStore,
    state: ControlState,
    deadline: float,
    say: Callable[[str], None],
) -> None:
    """Step 2: wait until nothing the standby stored can be left unprocessed.

    First every live producer must have moved to the primary; the instant that is
    seen is the *cutoff*: the standby stores nothing after it. Then the standby's
    consumers must have processed every shard through the cutoff. A drain judged
    by a lag-0 report a fixed time after the switch lost records on a loaded
    machine: a producer still finishing a call to the standby had it stored after
    that report. The cutoff is this host's clock and ``processed_through`` the
    consumers' hosts' clocks: like every AT_TIMESTAMP position in a failover, this
    assumes clocks kept in step (NTP).
    """
    standby = topology.standby.name

    async def wait(condition: Callable[[], Awaitable[bool]], what: str) -> None:
        while not await condition():
            if time.monotonic() > deadline:
                raise FailbackError(
                    f"{what} did not happen in time; run failback again to keep waiting"
                )
            await asyncio.sleep(topology.failover.poll_interval_s)

    async def moved() -> bool:
        return producers_moved(await store.get_reports(ProducerReport), state, time.time())

    await wait(moved, "producers moving to the primary")
    cutoff = time.time()
    say(f"step 2: producers moved; waiting for {standby} consumers to process what they stored")
    shards = {
        stream.name: await open_shards(topology, standby, stream.name)
        for stream in topology.streams
    }

    async def processed() -> bool:
        return drained(await store.get_reports(ConsumerReport), state, standby, shards, cutoff)

    await wait(processed, f"{standby} consumers processing through the switch")


async def failback(
    topology: Topology,
    store: ControlStore,
    say: Callable[[str], None] = print,
    drain_timeout_s: float = 600.0,
) -> ControlState:
    """Run the failback to completion (module docstring); returns the final state."""
    state = await store.get_state()
    if state is None:
        raise FailbackError("no control state yet: start `shardline monitor` first")
    primary, standby = topology.primary.name, topology.standby.name
    if next_failback_step(state, topology) is None:
        say(f"nothing to do: {primary} is active and replicating to {standby}")
        return state
    say(f"step 0: checking that {primary} is healthy")
    await check_primary(topology)
    health_timeout_s = max(60.0, 2 * topology.failover.window_s)
    await wait_monitor_healthy(topology, store, health_timeout_s, say)
    while (step := next_failback_step(state, topology)) is not None:
        if step == "switch":
            new = failback_switch(state, topology, "failback: producers and consumers to primary")
            state = await store.transition(state, new)
            start = state.consumers[primary].start
            say(
                f"step 1 (epoch {state.epoch}): {primary} active; its consumers start at "
                f"{start}; producers move back; {standby} consumers drain"
            )
        elif step == "drain":
            say(f"step 2: waiting for producers to leave {standby}")
            await drain(topology, store, state, time.monotonic() + drain_timeout_s, say)
            state = await store.transition(state, stop_draining(state, "failback: standby drained"))
            if topology.failover.standby == "warm":
                say(
                    f"step 3 (epoch {state.epoch}): {standby} drained; its consumers keep "
                    "running (warm standby)"
                )
            else:
                say(f"step 3 (epoch {state.epoch}): {standby} consumers stopped")
        else:
            state = await store.transition(state, resume_replication(state, topology))
            assert state.replication is not None
            say(
                f"step 4 (epoch {state.epoch}): replication {primary} -> {standby} resumes "
                f"at {state.replication.generation.start}"
            )
    say(f"failback complete: {primary} active, replicating to {standby}")
    return state
