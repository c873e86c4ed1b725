"""The SQLite engine: one writer thread with group commit, and reader threads.

The writer thread is a :class:`shardline.sqlite_writer.GroupCommitWriter` (the
producer's spool uses the same one); the engine chooses its durability, its commit
error and its checkpoints. Why this shape:

- **Durability before acknowledgement.** A write's future resolves only after the
  transaction holding it has committed. With ``durability="fsync"`` (the default) a
  commit fsyncs the write-ahead log, so an acknowledged record survives ``kill -9``
  and power loss; with ``"process"`` it survives a process crash only (the OS still
  holds it), for users who trade that for latency.
- **Group commit.** Every job waiting when the writer wakes goes into one
  transaction and one fsync. Concurrent producers share the disk's cost; a single
  producer pays one fsync per request, not per record.
- **One job cannot spoil another.** Each job runs inside its own SAVEPOINT, so a
  job that raises is rolled back alone and only its caller sees the error.
- **Readers never block the writer** (WAL mode) and never run on the event loop.
- **A bounded window in the write-ahead log** (``WalPolicy``). Committed data that
  lives only in the log is lost if the log is damaged before a checkpoint copies it
  into the database file, so the writer checkpoints once the log holds
  ``autocheckpoint_pages`` pages and, when writes pause, once the oldest
  un-copied commit is ``checkpoint_after_s`` old. ``bench/wal_bench.py`` measured
  what each setting costs and how long data stays exposed.

Resource handling: ``close()`` drains the queue, commits, and closes every connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from shardline.errors import InternalFailure
from shardline.settings import setting, validate
from shardline.sqlite_writer import GroupCommitWriter
from shardline.storage.metrics import CommitStats
from shardline.storage.schema import SCHEMA

log = logging.getLogger(__name__)

Durability = Literal["fsync", "process"]
T = TypeVar("T")


@dataclass(frozen=True)
class WalPolicy:
    """How long committed data may live only in the write-ahead log.

    Example::

        WalPolicy(autocheckpoint_pages=1000, checkpoint_after_s=1.0)
    """

    #: Checkpoint once the log holds this many pages (0: never by size). SQLite's
    #: default is 1000 (4 MiB of commits at risk); 250 bounds it to 1 MiB, and
    #: bench/integrity_bench.py saw no throughput difference from 100 to 4000 pages.
    autocheckpoint_pages: int = setting(250, ge=0)
    #: Checkpoint once the oldest commit not yet copied into the database is this
    #: old and no write is waiting, so data does not sit in the log alone while
    #: writes pause (without it: all of the idle time; with 1 s: about 1/6 of a
    #: 3 s pause). None: only by page count.
    checkpoint_after_s: float | None = setting(1.0, gt=0)
    #: After a checkpoint restarts the log, its file is cut back to this size, so a
    #: burst does not leave a large file of stale frames behind.
    size_limit_bytes: int = setting(64 * 1024 * 1024, ge=0)

    def __post_init__(self) -> None:
        validate(self)


class StorageEngine:
    """Owns one SQLite database file in WAL mode."""

    def __init__(
        self,
        path: Path,
        durability: Durability = "fsync",
        readers: int = 4,
        wal: WalPolicy | None = None,
    ) -> None:
        self.path = path
        self.durability = durability
        self.wal = wal or WalPolicy()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_conn = self._connect()
        self._writer_conn.execute(f"PRAGMA wal_autocheckpoint={int(self.wal.autocheckpoint_pages)}")
        self._writer_conn.execute(f"PRAGMA journal_size_limit={int(self.wal.size_limit_bytes)}")
        self._writer_conn.executescript(SCHEMA)
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="shardline-reader")
        self._closed = False
        #: Duration and size of each commit, written by the writer thread only.
        self.commits = CommitStats()
        self._writer = GroupCommitWriter(
            self._writer_conn,
            "shardline-writer",
            failure=lambda exc: InternalFailure(f"Storage commit failed: {exc}"),
            on_commit=self.commits.observe,
            on_idle=self._checkpoint,
            idle_after_s=self.wal.checkpoint_after_s,
        )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        sync = "FULL" if self.durability == "fsync" else "NORMAL"
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    # -- synchronous access, for start-up before the event loop serves requests ----------

    def run_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one transaction on the calling thread (start-up only, before
        the writer has work), committing what it wrote."""
        conn = self._writer_conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # -- asynchronous access -------------------------------------------------------------

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the writer's next transaction; resolves once it is committed.

        Error handling: an exception from ``fn`` rolls back ``fn``'s own changes and is
        raised here; a failed commit raises ``InternalFailure`` for every job in it.
        """
        if self._closed:
            raise InternalFailure("The storage engine is closed.")
        return await self._writer.write(fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a reader connection in a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return fn(conn)

    # -- the writer thread, once writes pause --------------------------------------------

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Copy committed frames into the database file (PASSIVE: never waits on
        readers). A failure is left to the next checkpoint: the log still holds it all."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("checkpoint of %s failed: %s; the log keeps the data", self.path, exc)

    def close(self) -> None:
        """Commit what is queued, stop the writer and close every connection."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
        self._writer_conn.close()
