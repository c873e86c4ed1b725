"""One SQLite writer thread with group commit, shared by the region and the spool.

Why this shape (the region's :mod:`shardline.storage.engine` and the producer's
:mod:`shardline.producer.spool` both rest on it):

- **Durability before acknowledgement.** A job's outcome is reported only after the
  transaction holding it has committed (or failed). How durable a commit is, is the
  connection's ``PRAGMA synchronous``, which its owner chooses: ``FULL`` fsyncs the
  write-ahead log on every commit.
- **Group commit.** Every job waiting when the writer wakes goes into one
  transaction and one commit, so concurrent callers share the disk's cost. A job
  that writes many rows should do so in one statement (its own packing): Python's
  sqlite3 releases and retakes the GIL around every statement step, and retaking it
  can wait for the event loop's thread.
- **One job cannot spoil another.** Each job runs inside its own SAVEPOINT, so a
  job that raises is rolled back alone and only its caller sees that error.
- **A failed commit fails every job of the group** with the owner's error (made by
  ``failure``): nothing is reported done that was not committed.
- **The event loop never waits on the disk.** Callers submit from the event loop
  and get a future resolved on their loop, or post work whose outcome a callback
  receives on the writer thread.

Resource handling: :meth:`GroupCommitWriter.close` commits what is queued and stops
the thread; the connection stays its owner's to close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Receives a job's result, or the error that failed it, on the writer thread.
Done = Callable[[T | None, BaseException | None], None]

_STOP = object()


class _Job(Generic[T]):
    __slots__ = ("done", "fn")

    def __init__(self, fn: Callable[[sqlite3.Connection], T], done: Done[T] | None) -> None:
        self.fn = fn
        self.done = done


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the caller gave up waiting (cancelled)
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GroupCommitWriter:
    """Runs submitted jobs on one connection, in one dedicated thread, grouped into
    transactions (see the module docstring).

    ``failure`` makes the error every job of a failed commit receives. ``on_commit``
    (seconds, jobs) is told about every commit. ``on_idle`` runs once no job has
    come for ``idle_after_s`` after a commit (the engine checkpoints the log there).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        name: str,
        failure: Callable[[sqlite3.Error], BaseException],
        on_commit: Callable[[float, int], None] | None = None,
        on_idle: Callable[[sqlite3.Connection], None] | None = None,
        idle_after_s: float | None = None,
    ) -> None:
        self._conn = conn
        self._name = name
        self._failure = failure
        self._on_commit = on_commit
        self._on_idle = on_idle
        self._idle_after_s = idle_after_s if on_idle is not None else None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the callers' side ---------------------------------------------------------------

    def post(self, fn: Callable[[sqlite3.Connection], T], done: Done[T] | None = None) -> None:
        """Run ``fn`` in the next transaction; ``done(result, error)`` runs on the writer
        thread once that transaction committed or failed. Without ``done`` a failure is
        logged (for work nobody waits for)."""
        self._queue.put(_Job(fn, done))

    def submit(
        self, fn: Callable[[sqlite3.Connection], T], then: Done[T] | None = None
    ) -> asyncio.Future[T]:
        """Like :meth:`post`, with a future of the running loop that resolves after the
        commit (and after ``then``, which runs on the writer thread first)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        loop = future.get_loop()

        def done(result: T | None, error: BaseException | None) -> None:
            if then is not None:
                then(result, error)
            # RuntimeError: the caller's loop is closed, so nobody waits any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future, result, error)

        self.post(fn, done)
        return future

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the next transaction; returns its result once committed.

        Error handling: an exception from ``fn`` rolls back ``fn``'s own changes and is
        raised here; a failed commit raises the owner's ``failure`` error.
        """
        return await self.submit(fn)

    def close(self) -> None:
        """Commit what is queued and stop the thread (blocks until it has)."""
        self._queue.put(_STOP)
        self._thread.join()

    # -- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        uncopied_since: float | None = None  # the first commit the idle hook has not seen
        while True:
            timeout = None
            if uncopied_since is not None and self._idle_after_s is not None:
                timeout = max(0.0, uncopied_since + self._idle_after_s - time.monotonic())
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                assert self._on_idle is not None
                self._on_idle(self._conn)
                uncopied_since = None
                continue
            jobs, stop = self._gather(first)
            if jobs:
                self._commit(jobs)
                if uncopied_since is None:
                    uncopied_since = time.monotonic()
            if stop:
                return

    def _gather(self, first: Any) -> tuple[list[_Job[Any]], bool]:
        """Every job queued now, and whether the stop mark came among them."""
        jobs: list[_Job[Any]] = []
        item = first
        while item is not _STOP:
            jobs.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return jobs, False
        return jobs, True

    def _commit(self, jobs: list[_Job[Any]]) -> None:
        conn = self._conn
        outcomes: list[tuple[Any, BaseException | None]] = []
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                outcomes.append(self._run_job(conn, job))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("%s: commit of %d jobs failed: %s", self._name, len(jobs), exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = self._failure(exc)
            outcomes = [(None, failure) for _ in jobs]
        if self._on_commit is not None:
            self._on_commit(time.perf_counter() - started, len(jobs))
        for job, (result, error) in zip(jobs, outcomes, strict=True):
            self._report(job, result, error)

    @staticmethod
    def _run_job(conn: sqlite3.Connection, job: _Job[Any]) -> tuple[Any, BaseException | None]:
        conn.execute("SAVEPOINT job")
        try:
            result = job.fn(conn)
        except Exception as exc:  # the job's own failure, reported to its caller
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            return None, exc
        conn.execute("RELEASE job")
        return result, None

    def _report(self, job: _Job[Any], result: Any, error: BaseException | None) -> None:
        if job.done is None:
            if error is not None:
                log.warning("%s: a job nobody waits for failed: %s", self._name, error)
            return
        try:
            job.done(result, error)
        except Exception:  # a callback's bug must not stop the writer
            log.exception("%s: reporting a job's outcome failed", self._name)
