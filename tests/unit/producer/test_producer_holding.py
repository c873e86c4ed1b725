"""Holding acknowledged records until replicated: each leaves by exactly one way."""

from __future__ import annotations

import asyncio
import itertools

from shardline.producer.destination import Destination
from shardline.producer.holding import Holds
from shardline.producer.records import PendingRecord

PRIMARY = Destination("orders", "http://127.0.0.1:1", "eu-west-1")
STANDBY = Destination("orders", "http://127.0.0.1:2", "eu-central-1")
_seq = itertools.count(1)


def records(count: int) -> list[PendingRecord]:
    loop = asyncio.new_event_loop()
    try:
        return [
            PendingRecord.create(
                next(_seq), "id", b"x", "k", None, loop.create_future(), None, 0, True
            )
            for _ in range(count)
        ]
    finally:
        loop.close()


def test_a_destination_not_held_holds_nothing() -> None:
    holds = Holds()
    holds.hold_acknowledged_by([STANDBY])
    assert not holds.hold(records(2), PRIMARY, "shardId-0", "100", 1.0)
    assert len(holds) == 0


def test_release_drops_only_that_destinations_records_at_or_below_the_watermark() -> None:
    holds = Holds()
    holds.hold_acknowledged_by([PRIMARY, STANDBY])
    at_mark, above, other_shard, other_region = (records(1) for _ in range(4))
    assert holds.hold(at_mark, PRIMARY, "shardId-0", "100", 1.0)
    holds.hold(above, PRIMARY, "shardId-0", "101", 1.0)
    holds.hold(other_shard, PRIMARY, "shardId-1", "5", 1.0)
    holds.hold(other_region, STANDBY, "shardId-0", "1", 1.0)
    released = holds.release(PRIMARY, {"shardId-0": "100"})
    assert released == [at_mark[0].seq]
    assert len(holds) == 3
    assert holds.release(PRIMARY, {"shardId-0": "100"}) == []


def test_a_switch_takes_back_what_other_destinations_acknowledged_in_hold_order() -> None:
    holds = Holds()
    holds.hold_acknowledged_by([PRIMARY, STANDBY])
    first, on_standby, second = records(2), records(1), records(1)
    holds.hold(first, PRIMARY, "shardId-0", "1", 1.0)
    holds.hold(on_standby, STANDBY, "shardId-0", "1", 1.0)
    holds.hold(second, PRIMARY, "shardId-0", "2", 1.0)
    assert holds.take_not_from(STANDBY) == [*first, *second]
    assert len(holds) == 1
    assert holds.take_not_from(STANDBY) == []


def test_records_sent_before_a_replication_run_began_are_taken_back() -> None:
    holds = Holds()
    holds.hold_acknowledged_by([PRIMARY])
    old, new = records(1), records(1)
    holds.hold(old, PRIMARY, "shardId-0", "1", 10.0)
    holds.hold(new, PRIMARY, "shardId-0", "2", 20.0)
    assert holds.take_sent_before(20.0) == old
    assert len(holds) == 1


def test_narrowing_the_held_destinations_releases_nothing_already_held() -> None:
    holds = Holds()
    holds.hold_acknowledged_by([PRIMARY])
    holds.hold(records(3), PRIMARY, "shardId-0", "1", 1.0)
    holds.hold_acknowledged_by([])
    assert len(holds) == 3
    assert not holds.hold(records(1), PRIMARY, "shardId-0", "2", 1.0)
