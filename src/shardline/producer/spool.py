"""The durable spool: records accepted by put() but not yet acknowledged by a stream.

One SQLite file (WAL) per producer, written by one dedicated thread so the event
loop never waits on the disk. Protocol for one record:

1. put() hands the record to the writer thread and waits. The writer commits every
   record that arrived meanwhile in one transaction (group commit); with
   ``durability="fsync"`` the commit is fsynced. Only then does put() return.
2. The record is sent. When the stream acknowledges it, its row is queued for
   deletion; deletions ride along with the next commit and are not waited for.
   When the producer gives it up (a non-retriable error), the row is kept as a
   dead letter with the reason (:mod:`shardline.producer.spool_file`).
3. After a crash, a new producer on the same file re-sends every live row still
   there, in put order, before any record put after the restart. Rows are bound to
   their destination: a producer for another destination refuses the spool
   instead of sending them there (:class:`~shardline.producer.SpoolBoundError`).

So a record leaves the spool only after the stream acknowledged it ("safe"), or
when a person discards it. The price is at-least-once: a record acknowledged just
before a crash (row not yet deleted) is sent again.

Resource handling: an exclusive ``flock`` on ``<path>.lock`` keeps a second process
off the spool (it would send the same rows); the kernel drops the lock when the
process dies, even by SIGKILL. :meth:`Spool.close` commits pending deletions.

Error handling: a failed commit fails the put() calls waiting on it with
:class:`SpoolError` (those records were not accepted); a failed deletion is logged
and its rows are simply sent again after the next restart.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from shardline.producer import spool_file
from shardline.producer.config import SpoolDurability
from shardline.producer.destination import SpoolBinding
from shardline.producer.exceptions import SpoolError

log = logging.getLogger(__name__)

# Python's sqlite3 releases and retakes the GIL around every statement step, and
# retaking it can wait for the event loop's thread (up to the 5 ms switch interval).
# So a whole commit's rows go in with one step: the data of all rows as one blob,
# cut apart by substr() along a JSON index of [id, record id, key, hash key, offset,
# length], and deletions go as one JSON array of ids.
_INSERT = """
INSERT INTO records (id, record_id, partition_key, explicit_hash_key, data, binding)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, substr(?1, value ->> 4, value ->> 5), ?3
FROM json_each(?2)
"""
_DELETE = "DELETE FROM records WHERE id IN (SELECT value FROM json_each(?))"
_BURY = "UPDATE records SET dead = ?, dead_at = ? WHERE id IN (SELECT value FROM json_each(?))"
_REBIND = "UPDATE records SET binding = ? WHERE binding = ? AND dead IS NULL"


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    row_id: int
    record_id: str
    partition_key: str
    explicit_hash_key: str | None
    data: bytes


@dataclass(slots=True)
class _Append:
    count: int
    blob: bytes
    index: bytes
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _Bury:
    """Keep rows as dead letters, with the reason they were given up."""

    row_ids: list[int]
    reason: str
    at: float


@dataclass(slots=True)
class _Rebind:
    binding: SpoolBinding
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class _Read:
    after: int
    limit: int
    future: asyncio.Future[list[SpooledRecord]]
    loop: asyncio.AbstractEventLoop


_CLOSE = object()


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Spool:
    """A SQLite spool file owned by this process (see the module docstring)."""

    def __init__(
        self, path: Path, binding: SpoolBinding, durability: SpoolDurability = "fsync"
    ) -> None:
        self.path = path
        self._lock_file: IO[str] = spool_file.lock(path)
        try:
            opened = spool_file.open_bound(
                path, binding, "FULL" if durability == "fsync" else "NORMAL"
            )
        except BaseException:
            self._lock_file.close()
            raise
        self._db, self._binding = opened.db, opened.binding
        #: Records waiting to be sent (committed appends minus committed deletions
        #: and dead letters).
        self.depth = opened.live
        self._next_row = opened.last_row + 1
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"spool:{path.name}", daemon=True)
        self._thread.start()

    # -- the event loop's side ------------------------------------------------------

    def allocate(self, count: int) -> range:
        """Row ids for ``count`` new records (they also order records by put)."""
        first = self._next_row
        self._next_row += count
        return range(first, first + count)

    def append(self, rows: list[tuple[int, str, str, str | None, bytes]]) -> asyncio.Future[None]:
        """Commit rows (row id, record id, partition key, explicit hash key, data).

        The future resolves once they are committed (or fails with SpoolError).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        index = []
        offset = 1  # substr() counts from 1
        for row_id, record_id, key, explicit, data in rows:
            index.append((row_id, record_id, key, explicit, offset, len(data)))
            offset += len(data)
        blob = b"".join(row[4] for row in rows)
        self._queue.put(_Append(len(rows), blob, orjson.dumps(index), future, loop))
        return future

    def remove(self, row_ids: Iterable[int]) -> None:
        """Queue rows for deletion with the next commit (not waited for)."""
        ids = list(row_ids)
        if ids:
            self._queue.put(ids)

    def bury(self, row_ids: Iterable[int], reason: str) -> None:
        """Keep rows as dead letters with the next commit (not waited for)."""
        ids = list(row_ids)
        if ids:
            self._queue.put(_Bury(ids, reason, time.time()))

    async def rebind(self, binding: SpoolBinding) -> None:
        """Bind the records waiting here to ``binding`` from now on (a new destination)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Rebind(binding, future, loop))
        await future

    async def pending(self, after: int, limit: int) -> list[SpooledRecord]:
        """Up to ``limit`` spooled records with row id > ``after``, in put order."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[SpooledRecord]] = loop.create_future()
        self._queue.put(_Read(after, limit, future, loop))
        return await future

    async def close(self) -> None:
        """Commit queued deletions, stop the writer thread, release the lock."""
        self._queue.put(_CLOSE)
        await asyncio.to_thread(self._thread.join)
        self._lock_file.close()

    # -- the writer thread --------------------------------------------------------

    def _run(self) -> None:
        closing = False
        while not closing:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = any(item is _CLOSE for item in items)
            self._commit(items)
        self._db.close()

    def _commit(self, items: list[object]) -> None:
        appends = [item for item in items if isinstance(item, _Append)]
        deletes = [row for item in items if isinstance(item, list) for row in item]
        burials = [item for item in items if isinstance(item, _Bury)]
        error: BaseException | None = None
        if appends or deletes or burials:
            try:
                self._db.execute("BEGIN")
                for append in appends:
                    self._db.execute(_INSERT, (append.blob, append.index, self._binding))
                removed = 0
                if deletes:
                    removed = self._db.execute(_DELETE, (orjson.dumps(deletes),)).rowcount
                for burial in burials:
                    ids = orjson.dumps(burial.row_ids)
                    removed += self._db.execute(_BURY, (burial.reason, burial.at, ids)).rowcount
                self._db.execute("COMMIT")
                self.depth += sum(a.count for a in appends) - removed
            except sqlite3.Error as exc:
                log.error("spool %s: commit failed: %s", self.path, exc)
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                error = SpoolError(f"spool {self.path}: {exc}")
        for append in appends:
            append.loop.call_soon_threadsafe(_resolve, append.future, None, error)
        for item in items:
            if isinstance(item, _Rebind):
                self._rebind(item)
            elif isinstance(item, _Read):
                self._read(item)

    def _rebind(self, rebind: _Rebind) -> None:
        try:
            new = spool_file.binding_id(self._db, rebind.binding)
            self._db.execute(_REBIND, (new, self._binding))
            self._binding = new
            rebind.loop.call_soon_threadsafe(_resolve, rebind.future, None, None)
        except sqlite3.Error as exc:
            error = SpoolError(f"spool {self.path}: {exc}")
            rebind.loop.call_soon_threadsafe(_resolve, rebind.future, None, error)

    def _read(self, read: _Read) -> None:
        try:
            rows = self._db.execute(
                "SELECT id, record_id, partition_key, explicit_hash_key, data FROM records "
                "WHERE id > ? AND binding = ? AND dead IS NULL ORDER BY id LIMIT ?",
                (read.after, self._binding, read.limit),
            ).fetchall()
            result = [SpooledRecord(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]
            read.loop.call_soon_threadsafe(_resolve, read.future, result, None)
        except sqlite3.Error as exc:
            error = SpoolError(f"spool {self.path}: {exc}")
            read.loop.call_soon_threadsafe(_resolve, read.future, None, error)
