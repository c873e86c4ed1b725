"""A spool is bound to its destination; given-up records stay as dead letters."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from shardline.producer import Destination, SpoolLockedError, dead_letters
from shardline.producer.destination import SpoolBinding
from shardline.producer.exceptions import SpoolBoundError
from shardline.producer.spool import Spool

W1 = Destination("w1", "http://127.0.0.1:45999")
TICKS = Destination("ticks", "http://127.0.0.1:4567")


def _rows(spool: Spool, count: int) -> list[tuple[int, str, str, str | None, bytes]]:
    return [(row, f"{row:032x}", f"k{row}", None, b"d%d" % row) for row in spool.allocate(count)]


async def _leave(path: Path, binding: SpoolBinding, count: int, bury: int = 0) -> None:
    """A producer that accepted ``count`` records and stopped before any was stored."""
    spool = Spool(path, binding)
    rows = _rows(spool, count)
    await spool.append(rows)
    spool.bury([row[0] for row in rows[:bury]], "ResourceNotFoundException: no stream w1")
    await spool.close()


def test_records_left_for_another_destination_are_refused_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    asyncio.run(_leave(path, SpoolBinding.of(W1), 3))

    with pytest.raises(SpoolBoundError) as refused:
        Spool(path, SpoolBinding.of(TICKS))
    message = str(refused.value)
    assert "3 records for w1@http://127.0.0.1:45999" in message
    assert "shardline spool resend" in message
    assert refused.value.leftovers == [(SpoolBinding.of(W1), 3)]

    async def reopen() -> list[int]:
        spool = Spool(path, SpoolBinding.of(W1))  # refused opening released the lock
        pending = await spool.pending(0, 10)
        await spool.close()
        return [p.row_id for p in pending]

    assert asyncio.run(reopen()) == [1, 2, 3]


def test_dead_letters_are_kept_listed_and_never_block_another_destination(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    asyncio.run(_leave(path, SpoolBinding.of(W1), 2, bury=2))

    async def other_destination() -> tuple[int, list[object]]:
        spool = Spool(path, SpoolBinding.of(TICKS))
        pending = await spool.pending(0, 10)
        await spool.close()
        return spool.depth, list(pending)

    assert asyncio.run(other_destination()) == (0, [])
    contents = dead_letters.inspect(path)
    assert (contents.waiting, contents.dead) == (0, 2)
    assert [(d.binding, d.reason) for d in contents.dead_letters] == [
        (SpoolBinding.of(W1), "ResourceNotFoundException: no stream w1")
    ] * 2

    assert dead_letters.revive(path, SpoolBinding.of(W1)) == 2
    assert dead_letters.inspect(path).waiting == 2
    with pytest.raises(SpoolBoundError):  # revived: they wait for w1 again
        Spool(path, SpoolBinding.of(TICKS))


def test_discard_drops_dead_letters_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    asyncio.run(_leave(path, SpoolBinding.of(W1), 3, bury=1))
    assert dead_letters.discard(path, dead_only=True) == 1
    assert (dead_letters.inspect(path).waiting, dead_letters.inspect(path).dead) == (2, 0)

    async def held() -> None:
        spool = Spool(path, SpoolBinding.of(W1))
        with pytest.raises(SpoolLockedError):  # never under a running producer
            dead_letters.discard(path)
        await spool.close()

    asyncio.run(held())
    assert dead_letters.discard(path) == 2


def test_a_switch_outside_the_binding_takes_the_waiting_records_along(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"

    async def switch() -> None:
        spool = Spool(path, SpoolBinding.of(W1))
        await spool.append(_rows(spool, 2))
        await spool.rebind(SpoolBinding.of(TICKS))
        await spool.append(_rows(spool, 1))
        await spool.close()

    asyncio.run(switch())
    (group,) = dead_letters.inspect(path).groups
    assert (group.binding, group.waiting) == (SpoolBinding.of(TICKS), 3)


def test_a_failover_binding_admits_each_region_in_any_order() -> None:
    east, west = Destination("t", "http://127.0.0.1:1"), Destination("t", "http://127.0.0.1:2")
    binding = SpoolBinding.of(west, east)
    assert binding == SpoolBinding.of(east, west)
    assert binding.admits(east) and binding.admits(west) and not binding.admits(W1)
    assert SpoolBinding.from_json(binding.to_json()) == binding


def test_records_of_an_older_spool_format_are_adopted(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE records (id INTEGER PRIMARY KEY, record_id TEXT NOT NULL, "
            "partition_key TEXT NOT NULL, explicit_hash_key TEXT, data BLOB NOT NULL)"
        )
        db.execute("INSERT INTO records VALUES (1, 'r1', 'k', NULL, x'00')")

    async def reopen() -> list[int]:
        spool = Spool(path, SpoolBinding.of(TICKS))
        pending = await spool.pending(0, 10)
        await spool.close()
        return [p.row_id for p in pending]

    assert asyncio.run(reopen()) == [1]
