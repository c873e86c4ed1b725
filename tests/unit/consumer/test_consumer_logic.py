"""Pure consumer logic: position order, checkpoint bounds, lease balancing."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from shardline.consumer.balance import plan
from shardline.consumer.checkpoint import Checkpointer
from shardline.consumer.exceptions import InvalidCheckpointError
from shardline.consumer.positions import (
    LATEST_POSITION,
    SHARD_END_POSITION,
    TRIM_HORIZON_POSITION,
    Position,
)
from shardline.consumer.records import ConsumerRecord
from shardline.consumer.shard_consumer import undelivered
from shardline.stores.leases import Lease


def test_positions_follow_the_kcl_order() -> None:
    ordered = [
        Position("AT_TIMESTAMP"),
        TRIM_HORIZON_POSITION,
        LATEST_POSITION,
        Position("5"),
        Position("5", 3),
        Position("40"),
        SHARD_END_POSITION,
    ]
    assert sorted(reversed(ordered)) == ordered


class _Recorder:
    def __init__(self) -> None:
        self.written: list[Position] = []

    async def write_checkpoint(self, shard_id: str, token: str, position: Position) -> None:
        self.written.append(position)

    async def write_pending(
        self, shard_id: str, token: str, position: Position, state: bytes | None
    ) -> None:
        self.written.append(position)


def test_checkpoint_bounds_are_enforced() -> None:
    writer = _Recorder()
    checkpointer = Checkpointer("shardId-0", "token", writer, Position("10"))
    checkpointer.delivered(Position("20", 2))

    async def scenario() -> None:
        with pytest.raises(InvalidCheckpointError):
            await checkpointer.checkpoint("9")  # before the last checkpoint
        with pytest.raises(InvalidCheckpointError):
            await checkpointer.checkpoint("21")  # beyond what was delivered
        with pytest.raises(InvalidCheckpointError):
            await checkpointer.checkpoint("SHARD_END")  # not at shard end
        await checkpointer.checkpoint("15")
        await checkpointer.checkpoint()  # the largest delivered
        checkpointer.reached_shard_end()
        await checkpointer.checkpoint()

    asyncio.run(scenario())
    assert writer.written == [Position("15"), Position("20", 2), SHARD_END_POSITION]


def _lease(key: str, owner: str | None, finished: bool = False) -> Lease:
    return Lease(key=key, owner=owner, checkpoint="SHARD_END" if finished else "TRIM_HORIZON")


def test_new_worker_takes_free_and_expired_leases_up_to_target() -> None:
    leases = [_lease("a", None), _lease("b", "w1"), _lease("c", "w1"), _lease("d", "dead")]
    decided = plan(leases, {"d": 25.0}, "w2", 100, 1)
    # 4 active leases, live workers w1 and w2 → target 2: take the expired one first.
    assert [lease.key for lease in decided.take] == ["d", "a"]
    assert decided.steal == []


def test_steals_one_from_the_most_loaded_when_nothing_is_free() -> None:
    leases = [_lease(k, "w1") for k in "abcd"]
    decided = plan(leases, {}, "w2", 100, 1)
    assert len(decided.steal) == 1 and decided.take == []


def test_balanced_workers_take_nothing_and_finished_leases_do_not_count() -> None:
    leases = [_lease("a", "w1"), _lease("b", "w2"), _lease("c", None, finished=True)]
    decided = plan(leases, {}, "w2", 100, 1)
    assert decided.take == [] and decided.steal == []


def test_max_leases_per_worker_caps_the_target() -> None:
    leases = [_lease(k, None) for k in "abcdef"]
    decided = plan(leases, {}, "w1", 2, 1)
    assert len(decided.take) == 2


def _record(sequence: str, sub: int = 0) -> ConsumerRecord:
    arrival = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return ConsumerRecord(sequence, sub, "k", b"", arrival)


def test_a_batch_drops_only_the_head_already_delivered() -> None:
    batch = [_record("10", 0), _record("10", 1), _record("10", 2), _record("11")]
    assert undelivered(batch, Position("10", 1)) == batch[2:]
    assert undelivered(batch, Position("9")) == batch
    assert undelivered(batch, Position("11")) == []
    assert undelivered(batch, TRIM_HORIZON_POSITION) == batch
