"""The failover authority's decisions: who consumes where, from where, and the way back."""

from __future__ import annotations

import time

import pytest

from shardline.failover.decisions import (
    consumer_generation,
    failback_switch,
    failover,
    initial_state,
    next_failback_step,
    resume_replication,
    standby_start,
    stop_draining,
)
from shardline.stores.control import ControlState, Generation, Replication, StartPosition
from shardline.stores.reports import ConsumerReport, Published, ShardProgress
from shardline.topology import FailoverSpec, RegionSpec, StandbyMode, StreamSpec, Topology

BUFFER = 10.0


def topology(standby: StandbyMode = "cold") -> Topology:
    return Topology(
        regions=(RegionSpec("east", "primary"), RegionSpec("west", "standby")),
        streams=(StreamSpec("ticker"),),
        failover=FailoverSpec(standby=standby, start_buffer_s=BUFFER),
    )


def consumer_report(
    region: str, generation: int, shards: dict[str, float | None], component: str = "w1"
) -> Published[ConsumerReport]:
    report = ConsumerReport(
        region=region,
        generation=generation,
        shards={shard: ShardProgress(processed_through=at) for shard, at in shards.items()},
    )
    return Published(f"{component}@{region}", report, 0.0)


# -- the initial state ---------------------------------------------------------------------


def test_initially_the_primary_is_active_and_replicates_to_the_standby() -> None:
    state = initial_state(topology())
    first = Generation(1, StartPosition("TRIM_HORIZON"))
    assert (state.epoch, state.active_region, state.draining) == (1, "east", ())
    assert state.replication == Replication("east", "west", first)
    assert state.consumers["east"] == first


def test_a_cold_standby_starts_with_no_consumers() -> None:
    assert "west" not in initial_state(topology("cold")).consumers


def test_a_warm_standby_consumes_from_the_start() -> None:
    state = initial_state(topology("warm"))
    assert state.consumers["west"] == Generation(1, StartPosition("TRIM_HORIZON"))


# -- who runs ------------------------------------------------------------------------------


def test_the_active_region_runs_its_generation() -> None:
    state = initial_state(topology())
    assert consumer_generation(state, "east", topology()) == state.consumers["east"]


def test_a_cold_standby_region_is_stopped() -> None:
    state = initial_state(topology())
    assert consumer_generation(state, "west", topology()) is None


def test_a_warm_standby_region_runs_while_not_active() -> None:
    warm = topology("warm")
    state = initial_state(warm)
    assert consumer_generation(state, "west", warm) == state.consumers["west"]


def test_a_draining_region_runs_until_draining_ends() -> None:
    gen = Generation(2, StartPosition.at(1000.0))
    state = ControlState(
        3, "east", 0.0, "failback", consumers={"east": gen, "west": gen}, draining=("west",)
    )
    assert consumer_generation(state, "west", topology()) == gen
    assert consumer_generation(stop_draining(state, "drained"), "west", topology()) is None


def test_the_former_primary_stops_after_a_failover() -> None:
    state = failover(initial_state(topology()), topology(), "west", "outage", [])
    assert consumer_generation(state, "east", topology()) is None


# -- where a cold standby starts -----------------------------------------------------------

GEN = Generation(1, StartPosition.at(500.0))


def test_the_standby_starts_at_the_oldest_processed_instant_minus_the_buffer() -> None:
    reports = [
        consumer_report("east", 1, {"shard-0": 1000.0, "shard-1": 990.0}),
        consumer_report("east", 1, {"shard-2": 995.0}, component="w2"),
    ]
    assert standby_start(reports, "east", GEN, BUFFER) == StartPosition.at(980.0)


def test_a_shard_without_a_processed_instant_falls_back_to_the_generation_start() -> None:
    reports = [consumer_report("east", 1, {"shard-0": 1000.0, "shard-1": None})]
    assert standby_start(reports, "east", GEN, BUFFER) == GEN.start


def test_reports_of_other_regions_and_generations_are_ignored() -> None:
    reports = [
        consumer_report("east", 1, {"shard-0": 1000.0}),
        consumer_report("west", 1, {"shard-0": 100.0, "shard-1": None}),
        consumer_report("east", 2, {"shard-0": 200.0, "shard-1": None}),
    ]
    assert standby_start(reports, "east", GEN, BUFFER) == StartPosition.at(990.0)


def test_without_reports_the_standby_starts_where_the_generation_started() -> None:
    assert standby_start([], "east", GEN, BUFFER) == GEN.start


# -- failover ------------------------------------------------------------------------------


def test_failover_makes_the_standby_active_under_the_next_epoch() -> None:
    before = initial_state(topology())
    after = failover(before, topology(), "west", "outage", [])
    assert (after.epoch, after.active_region, after.reason) == (2, "west", "outage")


def test_failover_stops_replication() -> None:
    after = failover(initial_state(topology()), topology(), "west", "outage", [])
    assert after.replication is None and after.replication_generation == 0


def test_a_cold_standby_gets_a_new_generation_at_the_computed_start() -> None:
    reports = [consumer_report("east", 1, {"shard-0": 2000.0, "shard-1": 1500.0})]
    after = failover(initial_state(topology()), topology(), "west", "outage", reports)
    assert after.consumers["west"] == Generation(2, StartPosition.at(1500.0 - BUFFER))


def test_a_warm_standby_keeps_its_running_generation() -> None:
    warm = topology("warm")
    before = initial_state(warm)
    reports = [consumer_report("east", 1, {"shard-0": 2000.0})]
    after = failover(before, warm, "west", "outage", reports)
    assert after.consumers["west"] == before.consumers["west"]


def test_failing_over_to_the_active_region_is_refused() -> None:
    with pytest.raises(ValueError, match="already the active region"):
        failover(initial_state(topology()), topology(), "east", "oops", [])


# -- failback ------------------------------------------------------------------------------


def failed_over(standby: StandbyMode = "cold") -> tuple[Topology, ControlState]:
    layout = topology(standby)
    reports = [consumer_report("east", 1, {"shard-0": 2000.0})]
    return layout, failover(initial_state(layout), layout, "west", "outage", reports)


def test_failback_starts_with_the_switch() -> None:
    layout, state = failed_over()
    assert next_failback_step(state, layout) == "switch"


def test_the_switch_makes_the_primary_active_with_a_new_generation_and_drains_the_standby() -> None:
    layout, state = failed_over()
    before = time.time()
    switched = failback_switch(state, layout, "failback")
    assert (switched.epoch, switched.active_region) == (state.epoch + 1, "east")
    primary = switched.consumers["east"]
    assert primary.epoch == switched.epoch and primary.start.kind == "AT_TIMESTAMP"
    assert primary.start.timestamp is not None
    assert before - BUFFER <= primary.start.timestamp <= time.time() - BUFFER
    assert switched.draining == ("west",)
    assert switched.consumers["west"] == state.consumers["west"]  # keeps running, draining
    assert switched.replication is None
    assert next_failback_step(switched, layout) == "drain"


def test_stopping_the_drain_leaves_replication_to_resume() -> None:
    layout, state = failed_over()
    drained = stop_draining(failback_switch(state, layout, "failback"), "drained")
    assert drained.draining == ()
    assert consumer_generation(drained, "west", layout) is None
    assert next_failback_step(drained, layout) == "resume-replication"


def test_replication_resumes_where_the_primary_consumers_started() -> None:
    layout, state = failed_over()
    drained = stop_draining(failback_switch(state, layout, "failback"), "drained")
    resumed = resume_replication(drained, layout)
    assert resumed.epoch == drained.epoch + 1
    assert resumed.replication == Replication(
        "east", "west", Generation(resumed.epoch, drained.consumers["east"].start)
    )


def test_failback_ends_in_the_original_layout() -> None:
    layout, state = failed_over()
    switched = failback_switch(state, layout, "failback")
    restored = resume_replication(stop_draining(switched, "drained"), layout)
    assert next_failback_step(restored, layout) is None
    assert restored.active_region == "east" and restored.draining == ()
    assert restored.replication is not None
    assert (restored.replication.source, restored.replication.target) == ("east", "west")
    assert consumer_generation(restored, "east", layout) == switched.consumers["east"]
    assert consumer_generation(restored, "west", layout) is None


def test_a_warm_standby_keeps_consuming_after_failback() -> None:
    layout, state = failed_over("warm")
    restored = resume_replication(
        stop_draining(failback_switch(state, layout, "failback"), "drained"), layout
    )
    assert consumer_generation(restored, "west", layout) == state.consumers["west"]


def test_a_state_never_failed_over_needs_no_failback() -> None:
    assert next_failback_step(initial_state(topology()), topology()) is None


def test_the_flap_guard_counts_from_the_last_switch_of_the_active_region() -> None:
    """A failback's later steps switch nothing: the guard does not restart at them."""
    topo = topology()
    first = initial_state(topo)
    assert first.switched_at == first.changed_at
    over = failover(first, topo, "west", "test", [])
    back = failback_switch(over, topo, "failback")
    assert back.switched_at == back.changed_at
    resumed = resume_replication(stop_draining(back, "drained"), topo)
    assert resumed.switched_at == back.changed_at < resumed.changed_at
    # ... and it survives the store's documents (an older one has no field: changed_at).
    assert ControlState.from_doc(resumed.to_doc()) == resumed
    legacy = resumed.to_doc()
    del legacy["active_since"]
    assert ControlState.from_doc(legacy).switched_at == resumed.changed_at
