"""Records given up in one step of the event loop are reported together: one log
line per reason, and the spooled ones kept as dead letters in one burial."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from shardline.producer import Destination
from shardline.producer.dead_letters import inspect
from shardline.producer.destination import SpoolBinding
from shardline.producer.giving_up import GiveUps
from shardline.producer.spool import Spool

HERE = SpoolBinding.of(Destination("s", "http://127.0.0.1:1"))
GONE = "ResourceNotFoundException: Stream s under account 000000000000 not found."


def test_one_step_gives_one_line_per_reason_and_buries_only_spooled_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        spool = Spool(tmp_path / "s.sqlite", HERE)
        rows: list[tuple[int, str, str, str | None, bytes]] = [
            (row, f"{row:032x}", f"k{row}", None, b"d") for row in spool.allocate(3)
        ]
        await spool.append(rows)
        give_ups = GiveUps()
        give_ups.add(GONE, spool, 1)
        give_ups.add(GONE, spool, 2)
        give_ups.add(GONE, spool, None)  # not spooled: counted, nothing to bury
        give_ups.add("RecordExpired: ttl", spool, None)
        assert caplog.records == []  # reported once the step is done, not before
        await asyncio.sleep(0)
        await spool.close()

    with caplog.at_level(logging.ERROR, logger="shardline.producer"):
        asyncio.run(run())
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith(f"gave up 3 records: {GONE}; 2 kept as dead letters in spool")
    assert lines[1] == "gave up 1 records: RecordExpired: ttl"
    contents = inspect(tmp_path / "s.sqlite")
    assert [(letter.row_id, letter.reason) for letter in contents.dead_letters] == [
        (1, GONE),
        (2, GONE),
    ]


def test_without_a_spool_records_are_only_counted(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        give_ups = GiveUps()
        give_ups.add(GONE, None, 7)
        await asyncio.sleep(0)
        give_ups.add(GONE, None, 8)  # a later step starts a new report
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="shardline.producer"):
        asyncio.run(run())
    assert [record.getMessage() for record in caplog.records] == [f"gave up 1 records: {GONE}"] * 2
