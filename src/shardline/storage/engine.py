"""The SQLite engine: one writer thread with group commit, and reader threads.

Why this shape:

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

Resource handling: ``close()`` drains the queue, commits, and closes every connection.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

from shardline.errors import InternalFailure
from shardline.storage.metrics import CommitStats

Durability = Literal["fsync", "process"]
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS streams (name TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    shard_uid INTEGER NOT NULL,
    last_key INTEGER NOT NULL,
    first_key INTEGER NOT NULL,
    key_ref INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (shard_uid, last_key)
);
CREATE TABLE IF NOT EXISTS kms_keys (ref INTEGER PRIMARY KEY, key_id TEXT NOT NULL UNIQUE);
"""

_STOP = object()


class _Job:
    __slots__ = ("fn", "future", "loop")

    def __init__(
        self, fn: Callable[[sqlite3.Connection], Any], future: asyncio.Future[Any]
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = future.get_loop()


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class StorageEngine:
    """Owns one SQLite database file in WAL mode."""

    def __init__(self, path: Path, durability: Durability = "fsync", readers: int = 4) -> None:
        self.path = path
        self.durability = durability
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_conn = self._connect()
        self._writer_conn.executescript(_SCHEMA)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="shardline-reader")
        self._writer = threading.Thread(
            target=self._write_loop, name="shardline-writer", daemon=True
        )
        self._closed = False
        #: Duration and size of each commit, written by the writer thread only.
        self.commits = CommitStats()
        self._writer.start()

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
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Job(fn, future))
        return await future

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

    # -- the writer thread ---------------------------------------------------------------

    def _write_loop(self) -> None:
        conn = self._writer_conn
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs = [first]
            stop = False
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                jobs.append(item)
            self._commit_group(conn, jobs)
            if stop:
                return

    def _commit_group(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                conn.execute("SAVEPOINT job")
                try:
                    result = job.fn(conn)
                except Exception as exc:  # the job's own failure, reported to its caller
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((None, exc))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((result, None))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = InternalFailure(f"Storage commit failed: {exc}")
            outcomes = [(None, failure) for _ in jobs]
        self.commits.observe(time.perf_counter() - started, len(jobs))
        for job, (result, error) in zip(jobs, outcomes, strict=True):
            job.loop.call_soon_threadsafe(_resolve, job.future, result, error)

    def close(self) -> None:
        """Commit what is queued, stop the writer and close every connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join()
        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
        self._writer_conn.close()
