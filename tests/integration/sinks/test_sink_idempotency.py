"""The idempotency contract, which every sink backend must keep."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from shardline.sinks import IdempotentSink, SinkClosedError, SinkRecord, WriteOutcome

APPLIED, STALE, DUPLICATE = WriteOutcome.APPLIED, WriteOutcome.STALE, WriteOutcome.DUPLICATE
T0 = 1_700_000_000_000


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def record(key: str, at: int, price: float, region: str = "us-east-1", **kw: Any) -> SinkRecord:
    record_id = kw.pop("record_id", uuid.uuid4().hex)
    return SinkRecord(key, record_id, T0 + at, {"price": price, **kw}, region)


def ticks(count: int, keys: int = 5) -> list[SinkRecord]:
    """A ticker stream: ``count`` prices over ``keys`` symbols, event times increasing."""
    return [record(f"SYM{i % keys}", i, 100 + i / 4) for i in range(count)]


async def snapshot(sink: IdempotentSink, keys: set[str]) -> dict[str, Any]:
    return {key: await sink.get_item(key) for key in sorted(keys)}


def test_replaying_a_batch_changes_nothing(make_sink: Callable[[], IdempotentSink]) -> None:
    batch = ticks(40)

    async def scenario() -> None:
        async with make_sink() as sink:
            assert await sink.write(batch) == [APPLIED] * 40
            before = await snapshot(sink, {r.item_key for r in batch})
            assert await sink.write(batch) == [DUPLICATE] * 40
            assert await sink.write(batch[10:25]) == [DUPLICATE] * 15
            assert await snapshot(sink, {r.item_key for r in batch}) == before
            assert await sink.ledger_ids() == {r.record_id for r in batch}
            assert (sink.counts.applied, sink.counts.stale, sink.counts.duplicates) == (40, 0, 55)
            last = before["SYM4"]
            assert (last.event_time, last.record_id) == (T0 + 39, batch[39].record_id)
            assert last.attributes == {"price": 100 + 39 / 4}

    run(scenario())


def test_an_older_event_never_overwrites_a_newer_one(
    make_sink: Callable[[], IdempotentSink],
) -> None:
    newer, older = record("AMZN", 200, 180.0), record("AMZN", 100, 170.0)

    async def scenario() -> None:
        async with make_sink() as sink:
            assert await sink.write([newer]) == [APPLIED]
            assert await sink.write([older]) == [STALE]
            item = await sink.get_item("AMZN")
            assert item is not None
            assert (item.record_id, item.attributes) == (newer.record_id, {"price": 180.0})
            # The stale record is in the ledger: a replay of it is a duplicate.
            assert await sink.ledger_ids() == {newer.record_id, older.record_id}
            assert await sink.write([older]) == [DUPLICATE]

    run(scenario())


def test_equal_event_times_are_decided_by_record_id_in_any_order(
    make_sink: Callable[[], IdempotentSink],
) -> None:
    async def scenario() -> None:
        async with make_sink() as sink:
            low = record("A", 5, 1.0, record_id="0" * 32)
            high = record("A", 5, 2.0, record_id="f" * 32)
            assert await sink.write([low, high]) == [APPLIED, APPLIED]
            low_b = record("B", 5, 1.0, record_id="0" * 32 + "b")
            high_b = record("B", 5, 2.0, record_id="f" * 32 + "b")
            assert await sink.write([high_b, low_b]) == [APPLIED, STALE]
            for key in "AB":
                item = await sink.get_item(key)
                assert item is not None and item.attributes == {"price": 2.0}

    run(scenario())


def test_records_of_one_batch_take_effect_in_batch_order(
    make_sink: Callable[[], IdempotentSink],
) -> None:
    a1, a3, a2 = record("A", 1, 1.0), record("A", 3, 3.0), record("A", 2, 2.0)
    b1 = record("B", 1, 9.0)

    async def scenario() -> None:
        async with make_sink() as sink:
            outcomes = await sink.write([a1, b1, a3, a1, a2])
            assert outcomes == [APPLIED, APPLIED, APPLIED, DUPLICATE, STALE]
            item = await sink.get_item("A")
            assert item is not None and item.record_id == a3.record_id

    run(scenario())


def test_concurrent_sinks_apply_each_record_exactly_once(
    make_sink: Callable[[], IdempotentSink],
) -> None:
    """Two workers (e.g. a lease moved mid-batch) deliver the same records at once."""
    records = ticks(60, keys=6)
    shuffled = random.Random(7).sample(records, len(records))

    async def deliver(sink: IdempotentSink, stream: list[SinkRecord]) -> None:
        for start in range(0, len(stream), 10):
            await sink.write(stream[start : start + 10])

    async def scenario() -> None:
        async with make_sink() as first, make_sink() as second:
            await asyncio.gather(
                deliver(first, records), deliver(second, shuffled), deliver(first, records)
            )
            counts = [first.counts, second.counts]
            assert sum(c.applied + c.stale for c in counts) == len(records)
            assert sum(c.duplicates for c in counts) == 2 * len(records)
            assert await first.ledger_ids() == {r.record_id for r in records}
            for offset in range(6):  # the newest event of each symbol won
                item = await second.get_item(f"SYM{offset}")
                assert item is not None and item.event_time == T0 + 54 + offset

    run(scenario())


def test_last_updated_region_is_recorded(make_sink: Callable[[], IdempotentSink]) -> None:
    async def scenario() -> None:
        async with make_sink() as sink:
            await sink.write([record("AMZN", 1, 1.0, region="us-east-1")])
            item = await sink.get_item("AMZN")
            assert item is not None and item.last_updated_region == "us-east-1"
            await sink.write([record("AMZN", 2, 2.0, region="eu-west-1")])
            item = await sink.get_item("AMZN")
            assert item is not None and item.last_updated_region == "eu-west-1"

    run(scenario())


def test_a_resend_from_another_region_is_a_duplicate(
    make_sink: Callable[[], IdempotentSink],
) -> None:
    """After failover the standby re-reads records the primary already applied."""
    primary = [record("AMZN", i, 100.0 + i, region="us-east-1") for i in range(5)]
    standby = [
        SinkRecord(r.item_key, r.record_id, r.event_time, r.attributes, "us-west-2")
        for r in primary
    ]
    fresh = record("AMZN", 10, 200.0, region="us-west-2")

    async def scenario() -> None:
        async with make_sink() as sink:
            await sink.write(primary)
            assert await sink.write([*standby, fresh]) == [DUPLICATE] * 5 + [APPLIED]
            item = await sink.get_item("AMZN")
            assert item is not None and item.last_updated_region == "us-west-2"
            assert item.record_id == fresh.record_id

    run(scenario())


def test_attributes_round_trip(make_sink: Callable[[], IdempotentSink]) -> None:
    attributes = {
        "price": 178.25,
        "volume": 1_200_000,
        "halted": False,
        "note": None,
        "venue": "XNAS",
        "levels": [{"bid": 178.2, "ask": 178.3}, []],
        "meta": {"source": "feed-a", "tags": ["x", "y"]},
    }

    async def scenario() -> None:
        async with make_sink() as sink:
            await sink.write([SinkRecord("AMZN", "r1", T0, attributes, "us-east-1")])
            item = await sink.get_item("AMZN")
            assert item is not None and item.attributes == attributes
            assert await sink.get_item("MSFT") is None

    run(scenario())


def test_a_sink_must_be_open_to_be_used(make_sink: Callable[[], IdempotentSink]) -> None:
    async def scenario() -> None:
        sink = make_sink()
        with pytest.raises(SinkClosedError):
            await sink.write([record("A", 1, 1.0)])
        async with sink:
            assert await sink.write([]) == []
        await sink.close()  # a second close is harmless
        with pytest.raises(SinkClosedError):
            await sink.get_item("A")

    run(scenario())


def test_a_reopened_sink_still_recognises_replays(
    make_sink: Callable[[], IdempotentSink],
) -> None:
    """A restarted worker re-reads from its last checkpoint: what it wrote is durable."""
    batch = ticks(10)

    async def scenario() -> None:
        async with make_sink() as sink:
            await sink.write(batch)
        async with make_sink() as restarted:
            assert await restarted.write(batch) == [DUPLICATE] * 10
            assert await restarted.ledger_ids() == {r.record_id for r in batch}

    run(scenario())
