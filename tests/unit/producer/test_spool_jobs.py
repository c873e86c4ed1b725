"""The spool's work as jobs of one GroupCommitWriter: appends, deletions, burials,
rebinding and reads that share a commit keep their order and the spool's depth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shardline.producer import Destination, SpoolBoundError
from shardline.producer.destination import SpoolBinding
from shardline.producer.spool import Spool

HERE = SpoolBinding.of(Destination("s", "http://127.0.0.1:1"))
THERE = SpoolBinding.of(Destination("s", "http://127.0.0.1:2"))


def _rows(spool: Spool, count: int) -> list[tuple[int, str, str, str | None, bytes]]:
    return [(row, f"{row:032x}", f"k{row}", None, b"d%d" % row) for row in spool.allocate(count)]


def test_work_queued_together_commits_in_order_and_keeps_the_depth(tmp_path: Path) -> None:
    async def run() -> None:
        spool = Spool(tmp_path / "s.sqlite", HERE)
        await spool.append(_rows(spool, 6))
        # One burst, as the producer queues it between two commits.
        spool.remove([1])
        spool.remove([2])
        spool.bury([3], "ValidationException: too big")
        appended = spool.append(_rows(spool, 2))
        pending = spool.pending(0, 100)
        await appended
        assert [r.row_id for r in await pending] == [4, 5, 6, 7, 8]
        assert spool.depth == 5
        await spool.close()
        again = Spool(tmp_path / "s.sqlite", HERE)
        assert again.depth == 5
        await again.close()

    asyncio.run(run())


def test_rows_appended_with_a_rebind_follow_it_to_the_new_destination(tmp_path: Path) -> None:
    async def run() -> None:
        spool = Spool(tmp_path / "s.sqlite", HERE)
        await spool.append(_rows(spool, 2))
        before = spool.append(_rows(spool, 1))
        rebound = asyncio.ensure_future(spool.rebind(THERE))
        await asyncio.sleep(0)  # let rebind() queue its job before the next append
        after = spool.append(_rows(spool, 1))
        await asyncio.gather(before, rebound, after)
        assert [r.row_id for r in await spool.pending(0, 10)] == [1, 2, 3, 4]
        await spool.close()
        with pytest.raises(SpoolBoundError):
            Spool(tmp_path / "s.sqlite", HERE)
        there = Spool(tmp_path / "s.sqlite", THERE)
        assert there.depth == 4
        await there.close()

    asyncio.run(run())
