"""The records a producer owns until their outcome is known: the bound and flushes.

Why a component of its own: three things hang on one count and must stay in step.

1. *Backpressure.* ``put()`` waits (:meth:`Outstanding.wait_room`) while adding its
   records would pass ``max_outstanding_records`` or ``max_outstanding_bytes``. A
   put with nothing outstanding is never held back, so a batch larger than the
   bound is accepted alone instead of waiting forever.
2. *Release.* A record stops counting once (:meth:`Outstanding.release` returns
   False the second time), when its outcome is known or its spool commit failed;
   each release wakes the puts waiting for room.
3. *Flush.* :meth:`Outstanding.drained` waits until every record outstanding when
   it was called has been released; records accepted later do not extend it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from shardline.producer.records import PendingRecord


@dataclass(slots=True, eq=False)
class _FlushWaiter:
    #: The newest seq outstanding when the flush began.
    newest: int
    #: Records with a seq up to ``newest`` still outstanding.
    remaining: int
    done: asyncio.Future[None]


class Outstanding:
    """Records accepted and not yet finished, by seq in the order they were reserved."""

    def __init__(self, max_records: int, max_bytes: int) -> None:
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._records: dict[int, PendingRecord] = {}
        self._bytes = 0
        self._room = asyncio.Event()
        self._waiters: list[_FlushWaiter] = []

    def __len__(self) -> int:
        return len(self._records)

    @property
    def flushing(self) -> bool:
        """Whether a flush is waiting (the dispatcher then sends batches not yet due)."""
        return bool(self._waiters)

    def records(self) -> list[PendingRecord]:
        """A copy of the outstanding records, oldest reservation first."""
        return list(self._records.values())

    async def wait_room(self, count: int, size: int) -> None:
        """Wait until ``count`` records of ``size`` bytes fit within the bound (step 1)."""
        while self._records and (
            len(self._records) + count > self._max_records or self._bytes + size > self._max_bytes
        ):
            self._room.clear()
            await self._room.wait()

    def reserve(self, records: list[PendingRecord]) -> None:
        for record in records:
            self._records[record.seq] = record
            self._bytes += record.size

    def unreserve(self, records: list[PendingRecord]) -> None:
        """Release records that were never accepted (their spool commit failed)."""
        for record in records:
            self.release(record)

    def release(self, record: PendingRecord) -> bool:
        """Stop counting a record as outstanding; False if it was not outstanding."""
        if self._records.pop(record.seq, None) is None:
            return False
        self._bytes -= record.size
        self._room.set()
        for waiter in self._waiters:
            if record.seq <= waiter.newest:
                waiter.remaining -= 1
                if waiter.remaining == 0 and not waiter.done.done():
                    waiter.done.set_result(None)
        return True

    async def drained(self, wake: Callable[[], None]) -> None:
        """Wait until every record outstanding now is released (step 3).

        ``wake`` is called once the flush is registered, so the dispatcher sees
        :attr:`flushing` and sends what it holds back.
        """
        if not self._records:
            return
        # Every record outstanding now has a seq up to the newest one's; the flush
        # is over when that many records with such seqs have been released.
        waiter = _FlushWaiter(
            next(reversed(self._records)),
            len(self._records),
            asyncio.get_running_loop().create_future(),
        )
        self._waiters.append(waiter)
        wake()
        try:
            await waiter.done
        finally:
            self._waiters.remove(waiter)
