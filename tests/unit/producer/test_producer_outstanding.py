"""Outstanding-records accounting: the bound put() waits on, release once, flushes."""

from __future__ import annotations

import asyncio
import itertools

from shardline.producer.outstanding import Outstanding
from shardline.producer.records import PendingRecord, PutOutcome

_seq = itertools.count(1)


def record(size: int = 10) -> PendingRecord:
    """A record of ``size`` counted bytes (data plus the one-byte key)."""
    future: asyncio.Future[PutOutcome] = asyncio.get_running_loop().create_future()
    return PendingRecord.create(
        next(_seq), "id", b"x" * (size - 1), "k", None, future, None, 0, False
    )


async def _settle() -> None:
    """Let every task that can run, run (nothing here waits on time or I/O)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_put_waits_for_room_until_a_release_frees_it() -> None:
    async def run() -> None:
        outstanding = Outstanding(max_records=2, max_bytes=1_000)
        first, second = record(), record()
        outstanding.reserve([first, second])
        waiting = asyncio.create_task(outstanding.wait_room(1, 10))
        await _settle()
        assert not waiting.done()
        assert outstanding.release(first)
        await asyncio.wait_for(waiting, 5)
        assert len(outstanding) == 1

    asyncio.run(run())


def test_the_byte_bound_holds_puts_back_too() -> None:
    async def run() -> None:
        outstanding = Outstanding(max_records=100, max_bytes=25)
        big = record(20)
        outstanding.reserve([big])
        waiting = asyncio.create_task(outstanding.wait_room(1, 10))
        await _settle()
        assert not waiting.done()
        outstanding.release(big)
        await asyncio.wait_for(waiting, 5)

    asyncio.run(run())


def test_a_put_larger_than_the_bound_is_accepted_when_nothing_is_outstanding() -> None:
    async def run() -> None:
        outstanding = Outstanding(max_records=2, max_bytes=10)
        await asyncio.wait_for(outstanding.wait_room(5, 500), 5)

    asyncio.run(run())


def test_a_record_is_released_once_and_unreserve_releases_never_accepted_ones() -> None:
    async def run() -> None:
        outstanding = Outstanding(max_records=10, max_bytes=1_000)
        a, b, c = record(), record(), record()
        outstanding.reserve([a, b, c])
        assert outstanding.release(a)
        assert not outstanding.release(a)
        outstanding.unreserve([b, c])
        assert len(outstanding) == 0
        assert outstanding.records() == []

    asyncio.run(run())


def test_a_flush_waits_only_for_the_records_outstanding_when_it_began() -> None:
    async def run() -> None:
        outstanding = Outstanding(max_records=10, max_bytes=1_000)
        a, b = record(), record()
        outstanding.reserve([a, b])
        woken: list[bool] = []
        flush = asyncio.create_task(outstanding.drained(lambda: woken.append(True)))
        await _settle()
        assert woken == [True] and outstanding.flushing
        later, still_later = record(), record()
        outstanding.reserve([later, still_later])
        outstanding.release(later)  # accepted after the flush began: it does not count
        outstanding.release(b)
        await _settle()
        assert not flush.done()
        outstanding.release(a)
        await asyncio.wait_for(flush, 5)
        assert not outstanding.flushing
        assert outstanding.records() == [still_later]

    asyncio.run(run())


def test_a_flush_with_nothing_outstanding_returns_without_waking() -> None:
    async def run() -> None:
        woken: list[bool] = []
        await asyncio.wait_for(Outstanding(10, 1_000).drained(lambda: woken.append(True)), 5)
        assert woken == []

    asyncio.run(run())
