"""The group-commit writer under the storage engine and the spool (sqlite_writer)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shardline.sqlite_writer import GroupCommitWriter


class Failed(Exception):
    """The owner's error for a failed commit."""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    # Checked at COMMIT only: a way to make a whole commit fail.
    conn.execute(
        "CREATE TABLE t (v INTEGER, parent INTEGER REFERENCES parent (id) "
        "DEFERRABLE INITIALLY DEFERRED)"
    )
    return conn


class Writer:
    """A writer over a fresh database, recording the size of every commit."""

    def __init__(self, path: Path, **hooks: object) -> None:
        self.conn = _connect(path)
        self.path = path
        self.commits: list[int] = []
        self.writer = GroupCommitWriter(
            self.conn,
            "test-writer",
            failure=lambda exc: Failed(str(exc)),
            on_commit=lambda _seconds, jobs: self.commits.append(jobs),
            **hooks,  # type: ignore[arg-type]
        )

    def committed(self) -> list[int]:
        reader = sqlite3.connect(self.path)
        try:
            return sorted(v for (v,) in reader.execute("SELECT v FROM t"))
        finally:
            reader.close()


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    made = Writer(tmp_path / "w.db")
    yield made
    made.writer.close()
    made.conn.close()


def insert(value: int, parent: int | None = None) -> Callable[[sqlite3.Connection], int]:
    def job(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v, parent) VALUES (?, ?)", (value, parent))
        return value

    return job


class Gate:
    """A job that keeps the writer busy until opened, so that the jobs submitted
    meanwhile wait together for the next commit."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.opened = threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> None:
        self.started.set()
        assert self.opened.wait(30), "the test never opened the gate"

    def hold(self, writer: GroupCommitWriter) -> asyncio.Future[None]:
        """Submit the gate and wait until the writer runs it."""
        future = writer.submit(self)
        assert self.started.wait(30), "the writer never ran the gate"
        return future


def test_jobs_waiting_together_share_one_commit(writer: Writer) -> None:
    asyncio.run(_jobs_waiting_together_share_one_commit(writer))


async def _jobs_waiting_together_share_one_commit(writer: Writer) -> None:
    gate = Gate()
    first = gate.hold(writer.writer)
    waiting = [writer.writer.submit(insert(v)) for v in range(5)]
    gate.opened.set()
    assert await asyncio.gather(first, *waiting) == [None, 0, 1, 2, 3, 4]
    assert writer.commits == [1, 5]
    assert writer.committed() == [0, 1, 2, 3, 4]


def test_a_job_that_raises_is_rolled_back_alone(writer: Writer) -> None:
    asyncio.run(_a_job_that_raises_is_rolled_back_alone(writer))


async def _a_job_that_raises_is_rolled_back_alone(writer: Writer) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (v) VALUES (99)")
        raise ValueError("the job's own failure")

    gate = Gate()
    first = gate.hold(writer.writer)
    before, failing, after = (
        writer.writer.submit(insert(1)),
        writer.writer.submit(half_then_fail),
        writer.writer.submit(insert(2)),
    )
    gate.opened.set()
    await first
    assert await before == 1 and await after == 2
    with pytest.raises(ValueError, match="own failure"):
        await failing
    assert writer.committed() == [1, 2]


def test_a_failed_commit_fails_every_job_of_the_group_and_keeps_nothing(writer: Writer) -> None:
    asyncio.run(_a_failed_commit_fails_every_job_of_the_group_and_keeps_nothing(writer))


async def _a_failed_commit_fails_every_job_of_the_group_and_keeps_nothing(writer: Writer) -> None:
    seen: list[tuple[object, BaseException | None]] = []
    gate = Gate()
    first = gate.hold(writer.writer)
    good = writer.writer.submit(insert(1))
    writer.writer.post(insert(2), lambda result, error: seen.append((result, error)))
    orphan = writer.writer.submit(insert(3, parent=404))  # violates the key at COMMIT
    gate.opened.set()
    await first  # its own commit, before the others came
    for future in (good, orphan):
        with pytest.raises(Failed, match="FOREIGN KEY"):
            await future
    assert len(seen) == 1 and seen[0][0] is None and isinstance(seen[0][1], Failed)
    assert writer.committed() == []
    # The writer goes on: the next group commits.
    assert await writer.writer.write(insert(4)) == 4
    assert writer.committed() == [4]


def test_posted_work_reports_after_its_commit_on_the_writer_thread(writer: Writer) -> None:
    asyncio.run(_posted_work_reports_after_its_commit_on_the_writer_thread(writer))


async def _posted_work_reports_after_its_commit_on_the_writer_thread(writer: Writer) -> None:
    outcome: asyncio.Future[tuple[object, list[int], str]] = (
        asyncio.get_running_loop().create_future()
    )
    loop = asyncio.get_running_loop()

    def done(result: int | None, error: BaseException | None) -> None:
        report = (result, writer.committed(), threading.current_thread().name)
        loop.call_soon_threadsafe(outcome.set_result, report)

    writer.writer.post(insert(7), done)
    assert await outcome == (7, [7], "test-writer")


def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    made = Writer(tmp_path / "w.db")
    gate = Gate()
    made.writer.post(gate)
    for value in range(3):
        made.writer.post(insert(value))
    gate.opened.set()
    made.writer.close()
    made.conn.close()
    assert made.committed() == [0, 1, 2]


def test_the_idle_hook_runs_once_writes_pause(tmp_path: Path) -> None:
    idle = threading.Event()
    made = Writer(tmp_path / "w.db", on_idle=lambda conn: idle.set(), idle_after_s=0.05)
    try:
        assert not idle.wait(0.2), "idle before any commit"
        made.writer.post(insert(1))
        assert idle.wait(30)
    finally:
        made.writer.close()
        made.conn.close()
