"""The durable spool: records accepted by put() but not yet acknowledged by a stream.

One SQLite file (WAL) per producer, written by one dedicated thread (a
:class:`~shardline.sqlite_writer.GroupCommitWriter`) so the event loop never waits
on the disk. Protocol for one record:

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
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from shardline.producer import spool_file
from shardline.producer.config import SpoolDurability
from shardline.producer.destination import SpoolBinding
from shardline.producer.exceptions import SpoolError
from shardline.sqlite_writer import GroupCommitWriter

log = logging.getLogger(__name__)

# Python's sqlite3 releases and retakes the GIL around every statement step, and
# retaking it can wait for the event loop's thread (up to the 5 ms switch interval).
# So a whole commit's rows go in with one step: the data of all rows as one blob,
# cut apart by substr() along a JSON index of [id, record id, key, hash key, offset,
# length]; the deletions waiting for a commit go as one JSON array of ids, and so does
# a burial. Each is one job of the GroupCommitWriter, which commits every job waiting
# in one transaction.
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


def _shrink(statement: str, *params: object) -> Callable[[sqlite3.Connection], int]:
    """A job taking rows out of the live ones; its result is the change of depth."""

    def job(db: sqlite3.Connection) -> int:
        return -db.execute(statement, params).rowcount

    return job


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
        self._rebinding = asyncio.Lock()
        #: Rows removed but not yet taken by a deletion job (see remove()).
        self._doomed: list[int] = []
        self._doomed_lock = threading.Lock()
        self._writer = GroupCommitWriter(
            self._db, f"spool:{path.name}", lambda exc: SpoolError(f"spool {path}: {exc}")
        )

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
        index = []
        offset = 1  # substr() counts from 1
        for row_id, record_id, key, explicit, data in rows:
            index.append((row_id, record_id, key, explicit, offset, len(data)))
            offset += len(data)
        blob, packed = b"".join(row[4] for row in rows), orjson.dumps(index)

        def insert(db: sqlite3.Connection) -> None:
            db.execute(_INSERT, (blob, packed, self._binding))

        return self._writer.submit(insert, then=self._counted(len(rows)))

    def remove(self, row_ids: Iterable[int]) -> None:
        """Queue rows for deletion with the next commit (not waited for).

        Every row removed until that commit goes in one statement: one job is queued
        while rows wait (acknowledgements come often, one per shard and call).
        """
        ids = list(row_ids)
        if not ids:
            return
        with self._doomed_lock:
            queued = bool(self._doomed)
            self._doomed.extend(ids)
        if not queued:
            self._writer.post(self._delete_doomed, self._settled)

    def bury(self, row_ids: Iterable[int], reason: str) -> None:
        """Keep rows as dead letters with the next commit (not waited for)."""
        ids = list(row_ids)
        if ids:
            self._writer.post(_shrink(_BURY, reason, time.time(), orjson.dumps(ids)), self._settled)

    async def rebind(self, binding: SpoolBinding) -> None:
        """Bind the records waiting here to ``binding`` from now on (a new destination)."""
        before: list[int] = []  # set by the job; one rebind at a time, so undo is exact

        def rebind(db: sqlite3.Connection) -> None:
            before.append(self._binding)
            new = spool_file.binding_id(db, binding)
            db.execute(_REBIND, (new, self._binding))
            self._binding = new  # rows appended after this job, in this commit too

        def undo(_: None, error: BaseException | None) -> None:
            if error is not None and before:
                self._binding = before[0]  # the commit failed: the rows kept the old one

        async with self._rebinding:
            await self._writer.submit(rebind, then=undo)

    async def pending(self, after: int, limit: int) -> list[SpooledRecord]:
        """Up to ``limit`` spooled records with row id > ``after``, in put order."""

        def read(db: sqlite3.Connection) -> list[SpooledRecord]:
            rows = db.execute(
                "SELECT id, record_id, partition_key, explicit_hash_key, data FROM records "
                "WHERE id > ? AND binding = ? AND dead IS NULL ORDER BY id LIMIT ?",
                (after, self._binding, limit),
            ).fetchall()
            return [SpooledRecord(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

        return await self._writer.submit(read)

    async def close(self) -> None:
        """Commit queued deletions, stop the writer thread, release the lock."""
        await asyncio.to_thread(self._writer.close)
        self._db.close()
        self._lock_file.close()

    # -- on the writer thread -----------------------------------------------------

    def _delete_doomed(self, db: sqlite3.Connection) -> int:
        """The job of :meth:`remove`: every row removed since it was queued."""
        with self._doomed_lock:
            ids, self._doomed = self._doomed, []
        return -db.execute(_DELETE, (orjson.dumps(ids),)).rowcount

    def _counted(self, added: int) -> Callable[[None, BaseException | None], None]:
        def count(_: None, error: BaseException | None) -> None:
            if error is None:
                self.depth += added

        return count

    def _settled(self, delta: int | None, error: BaseException | None) -> None:
        """A deletion or burial committed (depth shrinks) or failed (logged: its rows
        are sent again after the next restart)."""
        if error is None:
            self.depth += delta or 0
        else:
            log.error("spool %s: %s; those rows are sent again after a restart", self.path, error)
