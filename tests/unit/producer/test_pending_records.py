"""A pending record rebuilt from the spool or for sending again keeps what identifies it."""

from __future__ import annotations

import asyncio

from shardline.framing.aggregation import hash_key_of
from shardline.producer.attempt import Attempt
from shardline.producer.destination import Destination
from shardline.producer.records import PendingRecord, PutOutcome
from shardline.producer.spool import SpooledRecord


def test_a_spooled_row_becomes_a_spooled_record_without_deadline() -> None:
    async def run() -> None:
        row = SpooledRecord(42, "ab" * 16, "customer-7", "12345", b"payload")
        record = PendingRecord.from_spooled(row, now=7.0)
        assert (record.seq, record.record_id, record.data) == (42, "ab" * 16, b"payload")
        assert (record.partition_key, record.explicit_hash_key) == ("customer-7", "12345")
        assert record.hash_key == hash_key_of("customer-7", "12345")
        assert record.size == len(b"payload") + len(b"customer-7")
        assert record.spooled and record.deadline is None and record.buffered_at == 7.0
        assert not record.future.done() and record.attempts == []

    asyncio.run(run())


def test_a_resent_record_is_the_same_record_with_a_fresh_outcome_and_history() -> None:
    async def run() -> None:
        future: asyncio.Future[PutOutcome] = asyncio.get_running_loop().create_future()
        old = PendingRecord.create(9, "id", b"data", "k", None, future, 5.0, 1.0, False)
        old.attempts.append(Attempt(Destination("s"), 0.0, 0.1, "shardId-0"))
        again = old.resent(now=3.0)
        assert (again.seq, again.record_id, again.data, again.partition_key) == (
            9,
            "id",
            b"data",
            "k",
        )
        assert (again.hash_key, again.size, again.spooled) == (old.hash_key, old.size, False)
        assert again.deadline is None and again.buffered_at == 3.0
        assert again.attempts == [] and len(old.attempts) == 1
        assert again.future is not old.future

    asyncio.run(run())
