"""When a failback may stop the standby's consumers: producers gone, records processed."""

from __future__ import annotations

from shardline.failover.decisions import failback_switch, failover, initial_state
from shardline.failover.failback import drained, producers_moved
from shardline.stores.control import ControlState
from shardline.stores.reports import (
    STALE_AFTER_S,
    ConsumerReport,
    ProducerReport,
    Published,
    ShardProgress,
)
from shardline.topology import FailoverSpec, RegionSpec, StreamSpec, Topology

NOW = 10_000.0
CUTOFF = 5_000.0
SHARDS = {"ticker": ["shard-0", "shard-1"]}


def switched() -> ControlState:
    """The layout after a failover to west and a failback's switch back to east."""
    layout = Topology(
        regions=(RegionSpec("east", "primary"), RegionSpec("west", "standby")),
        streams=(StreamSpec("ticker"),),
        failover=FailoverSpec(),
    )
    state = failover(initial_state(layout), layout, "west", "outage", [])
    return failback_switch(state, layout, "failback")


def producer(
    epoch: int | None, updated_at: float = NOW, name: str = "p1"
) -> Published[ProducerReport]:
    return Published(name, ProducerReport(epoch=epoch, region="east"), updated_at)


def consumer(
    generation: int,
    through: dict[str, float | None],
    application: str = "ticker-app",
    stream: str = "ticker",
    region: str = "west",
) -> Published[ConsumerReport]:
    report = ConsumerReport(
        application=application,
        stream=stream,
        region=region,
        generation=generation,
        shards={shard: ShardProgress(processed_through=at) for shard, at in through.items()},
    )
    return Published(f"{application}@west", report, NOW)


def test_producers_have_moved_once_each_live_one_carried_out_the_switch() -> None:
    state = switched()
    assert producers_moved(
        [producer(state.epoch), producer(state.epoch + 1, name="p2")], state, NOW
    )
    assert not producers_moved(
        [producer(state.epoch), producer(state.epoch - 1, name="p2")], state, NOW
    )
    assert not producers_moved([producer(None)], state, NOW)


def test_a_silent_producer_is_gone_and_does_not_hold_the_failback() -> None:
    state = switched()
    gone = producer(state.epoch - 1, updated_at=NOW - STALE_AFTER_S - 1)
    assert producers_moved([gone, producer(state.epoch, name="p2")], state, NOW)
    almost = producer(state.epoch - 1, updated_at=NOW - STALE_AFTER_S + 1)
    assert not producers_moved([almost], state, NOW)


def test_drained_when_every_open_shard_is_processed_through_the_cutoff() -> None:
    state = switched()
    west = state.consumers["west"].epoch
    done = consumer(west, {"shard-0": CUTOFF + 1, "shard-1": CUTOFF})
    assert drained([done], state, "west", SHARDS, CUTOFF)
    behind = consumer(west, {"shard-0": CUTOFF + 1, "shard-1": CUTOFF - 0.001})
    assert not drained([behind], state, "west", SHARDS, CUTOFF)
    never_read = consumer(west, {"shard-0": CUTOFF + 1, "shard-1": None})
    assert not drained([never_read], state, "west", SHARDS, CUTOFF)


def test_a_shard_no_report_covers_is_not_drained() -> None:
    state = switched()
    one_shard = consumer(state.consumers["west"].epoch, {"shard-0": CUTOFF + 1})
    assert not drained([one_shard], state, "west", SHARDS, CUTOFF)


def test_workers_of_one_application_share_shards_and_the_best_figure_counts() -> None:
    """A lease that moved: the worker that processed through the cutoff settles it."""
    state = switched()
    west = state.consumers["west"].epoch
    before_move = consumer(west, {"shard-0": CUTOFF + 1, "shard-1": CUTOFF + 1})
    after_move = consumer(west, {"shard-1": CUTOFF - 10})
    assert drained([before_move, after_move], state, "west", SHARDS, CUTOFF)


def test_every_application_must_drain_on_its_own() -> None:
    state = switched()
    west = state.consumers["west"].epoch
    ahead = consumer(west, {"shard-0": CUTOFF + 1, "shard-1": CUTOFF + 1})
    behind = consumer(west, {"shard-0": CUTOFF - 1, "shard-1": CUTOFF + 1}, application="audit")
    assert not drained([ahead, behind], state, "west", SHARDS, CUTOFF)


def test_reports_of_an_older_generation_or_another_region_do_not_count() -> None:
    state = switched()
    west = state.consumers["west"].epoch
    old = consumer(west - 1, {"shard-0": CUTOFF + 1, "shard-1": CUTOFF + 1})
    assert not drained([old], state, "west", SHARDS, CUTOFF)
    east = consumer(west, {"shard-0": CUTOFF + 1, "shard-1": CUTOFF + 1}, region="east")
    assert not drained([east], state, "west", SHARDS, CUTOFF)
    assert not drained([], state, "west", SHARDS, CUTOFF)
