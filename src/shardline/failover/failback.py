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
from collections.abc import Callable

from aiobotocore.session import get_session

from shardline.errors import ShardlineError
from shardline.failover.decisions import (
    failback_switch,
    next_failback_step,
    resume_replication,
    stop_draining,
)
from shardline.failover.monitor import canary_client_config, canary_round, ensure_canary_stream
from shardline.stores.control import ControlState, ControlStore, Report
from shardline.topology import Topology

#: Consecutive canary rounds the primary must pass before traffic moves back.
HEALTHY_ROUNDS = 3


class FailbackError(ShardlineError):
    """The failback cannot proceed (the message says why and what to do)."""


async def check_primary(topology: Topology) -> None:
    """Raise :class:`FailbackError` unless the primary passes a few canary rounds."""
    primary = topology.primary
    async with get_session().create_client(
        "kinesis", config=canary_client_config(), **primary.client_kwargs()
    ) as client:
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
    fresh_s = max(5.0, 5 * topology.failover.check_interval_s)
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        reports = [
            r for r in await store.get_reports("controller") if time.time() - r.updated_at < fresh_s
        ]
        states = [r.body.get("regions", {}).get(primary, {}).get("state") for r in reports]
        if all(state == "HEALTHY" for state in states):
            return
        if not announced:
            say(f"step 0: waiting for the monitor to see {primary} healthy ({states[0]})")
            announced = True
        if time.monotonic() > deadline:
            raise FailbackError(
                f"the monitor still sees {primary} as {states[0]} after {timeout_s:g}s; "
                "run failback again once it is healthy"
            )
        await asyncio.sleep(topology.failover.check_interval_s)


def drained(reports: list[Report], state: ControlState, region: str, settle_s: float) -> bool:
    """True when every running consumer of ``region`` reported lag 0 after the switch.

    Reports must be newer than the switch by ``settle_s`` (producers need a poll
    interval or two to move, and their last records must be read too).
    """
    generation = state.consumers.get(region)
    relevant = [
        r
        for r in reports
        if r.body.get("region") == region
        and generation is not None
        and r.body.get("generation") == generation.epoch
        and r.body.get("running")
    ]
    fresh = [r for r in relevant if r.updated_at >= state.changed_at + settle_s]
    return (
        bool(fresh)
        and len(fresh) == len(relevant)
        and all(r.body.get("shards") and r.body.get("lag_ms") == 0 for r in fresh)
    )


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
    settle_s = 3 * topology.failover.poll_interval_s + 1.0
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
            say(f"step 2: waiting for {standby} consumers to reach lag 0")
            deadline = time.monotonic() + drain_timeout_s
            while not drained(await store.get_reports("consumer"), state, standby, settle_s):
                if time.monotonic() > deadline:
                    raise FailbackError(
                        f"{standby} consumers did not drain within {drain_timeout_s:g}s; "
                        "run failback again to keep waiting"
                    )
                await asyncio.sleep(topology.failover.poll_interval_s)
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
