"""One SQLite file used by an embedded store: a connection on a dedicated thread.

Why a dedicated thread: sqlite3 calls block, and a store is used from the event
loop. One thread per store also serialises the store's statements, so a store needs
no locks of its own. SQLite's file locking makes conditional writes atomic between
the processes of one machine; WAL lets readers work while a writer commits, and
``synchronous=FULL`` makes a commit durable before the call returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from shardline.errors import ShardlineError

T = TypeVar("T")


class SQLiteFile:
    """Runs functions of a connection to ``path`` on the file's own thread.

    Errors from SQLite become ``error_type`` (the store's own error class), so
    callers see one hierarchy whatever the backend.
    """

    def __init__(self, path: Path | str, error_type: type[ShardlineError], name: str) -> None:
        self.path = Path(path)
        self._error_type = error_type
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"shardline-{name}")
        self._conn: sqlite3.Connection | None = None

    def connection(self) -> sqlite3.Connection:
        """The connection (opened on first use; call only on the file's thread)."""
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Call ``fn(connection)`` on the file's thread."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(self.connection()))
        except sqlite3.Error as exc:
            raise self._error_type(f"{self.path}: {exc}") from exc

    async def close(self) -> None:
        def shut(_: sqlite3.Connection) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if self._conn is not None:
            await self.run(shut)
        self._executor.shutdown(wait=True)
