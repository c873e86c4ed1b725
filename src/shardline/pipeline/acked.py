"""The producer's ledger of acknowledged records: what a drill verifies the sink against.

Every record whose put a region acknowledged is written here (record id, item key,
event time, region, time of the acknowledgement), in small batches from a
background task so the producer never waits on it. A record acknowledged in the
last batch before a SIGKILL may be missing from the ledger; a drill then simply
does not check it (the ledger under-reports, it never invents).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

from shardline.errors import ShardlineError
from shardline.stores.sqlite_file import SQLiteFile

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS acked (record_id TEXT PRIMARY KEY, item_key TEXT NOT NULL,"
    " event_time INTEGER NOT NULL, region TEXT NOT NULL, acked_at REAL NOT NULL)"
)
FLUSH_INTERVAL_S = 0.2


class AckedLedgerError(ShardlineError):
    """The acknowledged-records ledger could not be written or read."""


class AckedLedger:
    """Append-only record of acknowledged records in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._file = SQLiteFile(path, AckedLedgerError, "acked")
        self._pending: list[tuple[str, str, int, str, float]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> AckedLedger:
        await self._file.run(lambda conn: conn.execute(_SCHEMA))
        self._flusher = asyncio.create_task(self._flush_loop())
        return self

    def add(self, record_id: str, item_key: str, event_time: int, region: str) -> None:
        self._pending.append((record_id, item_key, event_time, region, time.time()))

    async def flush(self) -> None:
        rows, self._pending = self._pending, []
        if rows:

            def write(conn: sqlite3.Connection) -> None:
                conn.executemany("INSERT OR IGNORE INTO acked VALUES (?, ?, ?, ?, ?)", rows)

            await self._file.run(write)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self.flush()

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
        await self._file.close()


def read_acked(path: Path, until: float | None = None) -> dict[str, tuple[str, int]]:
    """Acknowledged records (up to wall time ``until``): id → (item key, event time ms).

    Empty if there is no ledger yet.
    """
    if not path.exists():
        return {}
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        rows = conn.execute(
            "SELECT record_id, item_key, event_time FROM acked WHERE acked_at <= ?",
            (until if until is not None else float("inf"),),
        ).fetchall()
    return {record_id: (key, event_time) for record_id, key, event_time in rows}
