"""The batcher's rules, driven by a hand-held clock: when calls go out and what they hold."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from shardline.framing.aggregation import AGGREGATE_PARTITION_KEY, deaggregate, hash_key_of
from shardline.producer.batching import Batcher
from shardline.producer.config import ProducerConfig
from shardline.producer.ratelimit import ShardRateLimiter
from shardline.producer.records import PendingRecord

_seq = itertools.count(1)


@pytest.fixture()
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def record(
    loop: asyncio.AbstractEventLoop,
    key: str = "k",
    size: int = 10,
    at: float = 0.0,
    deadline: float | None = None,
) -> PendingRecord:
    data = b"x" * size
    return PendingRecord(
        next(_seq),
        "00" * 16,
        data,
        key,
        None,
        hash_key_of(key),
        size + len(key),
        loop.create_future(),
        deadline,
        at,
        False,
    )


def config(**changes: object) -> ProducerConfig:
    return ProducerConfig(spool_path=None, rate_limit_percent=None, **changes)  # type: ignore[arg-type]


def test_nothing_goes_out_before_the_buffered_time_unless_flushed(
    loop: asyncio.AbstractEventLoop,
) -> None:
    batcher = Batcher(config(), None)
    batcher.add(record(loop, at=0.0), "s1")
    assert batcher.take(0.05) is None
    assert batcher.next_wakeup(0.05) == pytest.approx(0.1)
    assert batcher.take(0.05, force=True) is not None


def test_an_overdue_record_sends_everything_eligible(loop: asyncio.AbstractEventLoop) -> None:
    batcher = Batcher(config(), None)
    batcher.add(record(loop, at=0.0), "s1")
    batcher.add(record(loop, at=0.09), "s2")
    batch = batcher.take(0.1)
    assert batch is not None and len(batch.entries) == 2 and batch.shards == {"s1", "s2"}
    assert batcher.count == 0 and batcher.bytes == 0


def test_a_full_call_goes_out_at_once_and_holds_at_most_500(
    loop: asyncio.AbstractEventLoop,
) -> None:
    batcher = Batcher(config(), None)
    wakes = [batcher.add(record(loop), f"s{i % 3}") for i in range(700)]
    assert wakes[:3] == [True, True, True] and wakes.count(True) == 4  # 3 new shards + full
    batch = batcher.take(0.0)
    assert batch is not None and len(batch.entries) == 500
    assert batcher.count == 200


def test_a_call_holds_at_most_collection_max_size_bytes(loop: asyncio.AbstractEventLoop) -> None:
    batcher = Batcher(config(collection_max_size=1000, max_record_size=1000), None)
    for _ in range(30):
        batcher.add(record(loop, size=99), "s1")  # 100 bytes with the key
    batch = batcher.take(0.0, force=True)
    assert batch is not None and batch.size == 1000 and len(batch.entries) == 10


def test_aggregation_packs_a_shards_records_kpl_style(loop: asyncio.AbstractEventLoop) -> None:
    batcher = Batcher(config(aggregation=True, aggregation_max_size=1000), None)
    records = [record(loop, key=f"k{i}", size=90) for i in range(25)]
    for r in records:
        batcher.add(r, "s1")
    batch = batcher.take(0.0, force=True)
    assert batch is not None
    assert all(len(e.data) <= 1000 for e in batch.entries)
    assert len(batch.entries) == 3
    first = batch.entries[0]
    assert first.partition_key == AGGREGATE_PARTITION_KEY
    assert first.explicit_hash_key == str(records[0].hash_key)
    unpacked = [u for e in batch.entries for u in deaggregate(e.data, e.partition_key)]
    assert [u.partition_key for u in unpacked] == [r.partition_key for r in records]


def test_a_lone_record_and_an_oversized_one_travel_unaggregated(
    loop: asyncio.AbstractEventLoop,
) -> None:
    batcher = Batcher(config(aggregation=True, aggregation_max_size=500), None)
    big = record(loop, size=600)
    batcher.add(big, "s1")
    batcher.add(record(loop), "s2")
    batch = batcher.take(0.0, force=True)
    assert batch is not None
    assert sorted(e.data for e in batch.entries) == sorted([big.data, b"x" * 10])
    assert not any(e.aggregated for e in batch.entries)


def test_unknown_shard_records_are_never_aggregated(loop: asyncio.AbstractEventLoop) -> None:
    batcher = Batcher(config(aggregation=True), None)
    for _ in range(3):
        batcher.add(record(loop), None)
    batch = batcher.take(0.0, force=True)
    assert batch is not None and len(batch.entries) == 3


def test_ordered_mode_sends_one_record_per_key_and_one_call_per_shard(
    loop: asyncio.AbstractEventLoop,
) -> None:
    batcher = Batcher(config(ordering="per-key"), None)
    records = [record(loop, key=k) for k in "aabab"]
    for r in records:
        batcher.add(r, "s1")
    batch = batcher.take(0.0, force=True)
    assert batch is not None
    assert [e.records[0] for e in batch.entries] == [records[0], records[2]]
    assert batcher.take(0.0, force=True) is None  # the shard is in flight
    batcher.settle("s1", failed=False, pause_s=0, now=0.0)
    batcher.finished()
    batch = batcher.take(0.0, force=True)
    assert batch is not None and [e.records[0] for e in batch.entries] == [records[1], records[4]]


def test_ordered_mode_aggregates_every_key_into_one_atomic_entry(
    loop: asyncio.AbstractEventLoop,
) -> None:
    batcher = Batcher(config(ordering="per-key", aggregation=True), None)
    for k in "aabab":
        batcher.add(record(loop, key=k), "s1")
    batch = batcher.take(0.0, force=True)
    assert batch is not None and len(batch.entries) == 1 and len(batch.entries[0].records) == 5


def test_failed_records_return_in_put_order_after_the_pause(
    loop: asyncio.AbstractEventLoop,
) -> None:
    batcher = Batcher(config(ordering="per-key"), None)
    records = [record(loop, key=k) for k in "abc"]
    for r in records:
        batcher.add(r, "s1")
    batch = batcher.take(0.0, force=True)
    assert batch is not None
    batcher.add(record(loop, key="a"), "s1")  # younger, must stay behind
    batcher.requeue(list(reversed(records)), "s1")
    batcher.settle("s1", failed=True, pause_s=0.5, now=0.0)
    batcher.finished()
    assert batcher.take(0.2, force=True) is None
    assert batcher.next_wakeup(0.2) == pytest.approx(0.5)
    batch = batcher.take(0.5, force=True)
    assert batch is not None and [e.records[0] for e in batch.entries] == records


def test_the_rate_limiter_holds_a_shard_at_its_allowance(loop: asyncio.AbstractEventLoop) -> None:
    limiter = ShardRateLimiter(percent=1)  # 10 records/s
    batcher = Batcher(config(), limiter)
    for _ in range(25):
        batcher.add(record(loop), "s1")
    batch = batcher.take(0.0, force=True)
    assert batch is not None and len(batch.entries) == 10
    batcher.settle("s1", failed=False, pause_s=0, now=0.0)
    batcher.finished()
    assert batcher.take(0.0, force=True) is None
    assert batcher.next_wakeup(0.0) == pytest.approx(0.1)
    batch = batcher.take(0.5, force=True)
    assert batch is not None and len(batch.entries) == 5


def test_expired_records_are_removed(loop: asyncio.AbstractEventLoop) -> None:
    batcher = Batcher(config(), None)
    old, young = record(loop, deadline=1.0), record(loop, deadline=5.0)
    batcher.add(old, "s1")
    batcher.add(young, "s1")
    assert batcher.expire(2.0) == [old]
    assert batcher.count == 1 and batcher.bytes == young.size


def test_drain_returns_everything_in_put_order(loop: asyncio.AbstractEventLoop) -> None:
    batcher = Batcher(config(), None)
    records = [record(loop) for _ in range(6)]
    for i, r in enumerate(records):
        batcher.add(r, f"s{i % 2}")
    assert batcher.drain() == records
    assert batcher.count == 0
