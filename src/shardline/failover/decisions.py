"""The decisions of the failover authority, as pure functions of state and topology.

Each function returns the *next* control state (epoch + 1); the caller writes it
with :meth:`~shardline.stores.control.ControlStore.transition`, which fences it.

Who runs where (:func:`consumer_generation`): a region's consumers run while it is
the active region, while it drains after a failback, and always for the standby
region in warm standby. A new *generation* (a fresh lease table) starts wherever a
region's consumers must begin at a new position.

Failover (:func:`failover`), from the primary P to the standby S:

1. Replication P → S stops (its run is fenced).
2. S becomes active: producers follow and re-send what they hold unreplicated.
3. Cold standby: S's consumers start as a new generation at AT_TIMESTAMP = (the
   oldest instant up to which P's consumers had processed every record of a shard,
   i.e. "answer time − MillisBehindLatest" of the last batch they finished) − buffer:
   every record they had not processed arrived in P after that instant, and its copy
   in S after it too. Without such an instant: where P's generation started. Warm
   standby: S's consumers have been processing all along and keep going.
4. P's consumers stop (never two active consumer groups).

Failback (the reference runbook's steps; each a separate decision, so an
interrupted failback resumes where it stopped — :func:`next_failback_step`):

1. ``switch``: P active again; P's consumers start a new generation at
   AT_TIMESTAMP(now − buffer) (the runbook's "LATEST", but immune to when the
   consumer actually starts); S's consumers keep running as *draining*.
2. ``drain``: wait until producers left S and S's consumers processed all it stored
   (done by the caller, :func:`shardline.failover.failback.drain`).
3. ``stop-standby``: S's consumers stop (unless warm).
4. ``resume-replication``: replication P → S restarts where P's consumers started
   (switch time − buffer), so what producers wrote to P since the switch is copied.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Literal

from shardline.stores.control import ControlState, Generation, Replication, StartPosition
from shardline.stores.reports import ConsumerReport, Published
from shardline.topology import Topology

FailbackStep = Literal["switch", "drain", "stop-standby", "resume-replication"]


def initial_state(topology: Topology) -> ControlState:
    """Epoch 1: primary active, replicating to the standby, everything from the start."""
    primary, standby = topology.primary.name, topology.standby.name
    first = Generation(1, StartPosition("TRIM_HORIZON"))
    consumers = {primary: first}
    if topology.failover.standby == "warm":
        consumers[standby] = first
    return ControlState(
        epoch=1,
        active_region=primary,
        changed_at=time.time(),
        reason="initial",
        consumers=consumers,
        replication=Replication(primary, standby, first),
    )


def consumer_generation(state: ControlState, region: str, topology: Topology) -> Generation | None:
    """The generation ``region``'s consumers should run now, or None for "stopped"."""
    warm_standby = topology.failover.standby == "warm" and region == topology.standby.name
    if region == state.active_region or region in state.draining or warm_standby:
        return state.consumers.get(region)
    return None


def standby_start(
    reports: Iterable[Published[ConsumerReport]],
    region: str,
    generation: Generation,
    buffer_s: float,
) -> StartPosition:
    """Failover step 3's position from ``region``'s consumer reports.

    The oldest ``processed_through`` instant over every shard of every report of the
    generation, minus the buffer. A shard that has not finished a batch yet has no
    such instant: then the generation's own start is the only safe answer, and so
    it is without any report.
    """
    instants: list[float] = []
    for report in reports:
        body = report.body
        if body.region != region or body.generation != generation.epoch:
            continue
        for shard in body.shards.values():
            if shard.processed_through is None:
                return generation.start
            instants.append(shard.processed_through)
    if not instants:
        return generation.start
    return StartPosition.at(min(instants) - buffer_s)


def failover(
    state: ControlState,
    topology: Topology,
    to_region: str,
    reason: str,
    consumer_reports: Iterable[Published[ConsumerReport]],
) -> ControlState:
    """The failover decision (module docstring, steps 1–4)."""
    from_region = state.active_region
    if to_region == from_region:
        raise ValueError(f"{to_region} is already the active region")
    topology.region(to_region)
    consumers = dict(state.consumers)
    running = consumer_generation(state, to_region, topology)
    if running is None:
        current = state.consumers.get(from_region)
        start = (
            standby_start(consumer_reports, from_region, current, topology.failover.start_buffer_s)
            if current is not None
            else StartPosition("TRIM_HORIZON")
        )
        consumers[to_region] = Generation(state.epoch + 1, start)
    return state.successor(
        reason, active_region=to_region, consumers=consumers, replication=None, draining=()
    )


def next_failback_step(state: ControlState, topology: Topology) -> FailbackStep | None:
    """Which failback step comes next from ``state``; None when the layout is restored."""
    primary = topology.primary.name
    if state.active_region != primary:
        return "switch"
    if state.draining:
        return "drain"
    if state.replication is None:
        return "resume-replication"
    return None


def failback_switch(state: ControlState, topology: Topology, reason: str) -> ControlState:
    """Failback step 1."""
    primary, standby = topology.primary.name, topology.standby.name
    now = time.time()
    consumers = {
        **state.consumers,
        primary: Generation(
            state.epoch + 1, StartPosition.at(now - topology.failover.start_buffer_s)
        ),
    }
    draining = (standby,) if consumer_generation(state, standby, topology) else ()
    return state.successor(
        reason, active_region=primary, consumers=consumers, draining=draining, replication=None
    )


def stop_draining(state: ControlState, reason: str) -> ControlState:
    """Failback step 3."""
    return state.successor(reason, draining=())


def resume_replication(state: ControlState, topology: Topology) -> ControlState:
    """Failback step 4: replicate again from where the primary's consumers started.

    That start is the switch time minus the buffer, so everything producers wrote to
    the primary since the switch reaches the standby too.
    """
    primary = topology.primary.name
    start = state.consumers[primary].start
    replication = Replication(primary, topology.standby.name, Generation(state.epoch + 1, start))
    return state.successor("failback: resume replication", replication=replication)
