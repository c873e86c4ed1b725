"""The embedded default sink: two tables in one SQLite file.

One transaction per batch (``BEGIN IMMEDIATE``, so concurrent writers on the same file
queue instead of failing half-way), WAL so readers never block the writer, and
``synchronous=FULL`` so a batch is on disk before :meth:`write` returns: a consumer
checkpoints only after the sink acknowledged, and that order is what makes
"acknowledged" mean "stored". All file work runs on the sink's own thread (a
:class:`~shardline.stores.sqlite_file.SQLiteFile`, as in the embedded stores), so the
event loop never waits for the disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import orjson

from shardline.sinks.base import (
    IdempotentSink,
    SinkItem,
    SinkRecord,
    WriteOutcome,
    now_ms,
    quoted_table_name,
)
from shardline.sinks.exceptions import SinkUnavailableError
from shardline.stores.sqlite_file import SQLiteFile

_T = TypeVar("_T")


class SQLiteSink(IdempotentSink):
    """Items in table ``table`` and the ledger in ``ledger_table`` (default
    ``"<table>-ledger"``) of the SQLite file at ``path``; the file and its directory are
    created when absent. Several sinks, in one process or several, may share a file.
    """

    def __init__(self, path: Path | str, table: str, ledger_table: str | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.table = table
        self.ledger_table = ledger_table or f"{table}-ledger"
        self._items = quoted_table_name(self.table)
        self._ledger = quoted_table_name(self.ledger_table)
        self._file: SQLiteFile | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        assert self._file is not None
        return await self._file.run(fn)

    async def _open(self) -> None:
        self._file = SQLiteFile(self.path, SinkUnavailableError, "sink")

        def create_tables(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._items} ("
                "item_key TEXT PRIMARY KEY, event_time INTEGER NOT NULL, "
                "record_id TEXT NOT NULL, last_updated_region TEXT NOT NULL, "
                "attributes TEXT NOT NULL)"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self._ledger} ("
                "record_id TEXT PRIMARY KEY, item_key TEXT NOT NULL, "
                "event_time INTEGER NOT NULL, region TEXT NOT NULL, "
                "applied_at INTEGER NOT NULL)"
            )

        try:
            await self._file.run(create_tables)
        except (SinkUnavailableError, OSError) as exc:
            await self._file.close()
            raise SinkUnavailableError(f"cannot open SQLite sink: {exc}") from exc

    async def _close(self) -> None:
        assert self._file is not None
        await self._file.close()
        self._file = None

    async def _write(self, batch: Sequence[SinkRecord]) -> list[WriteOutcome]:
        applied_at = now_ms()
        ledger_sql = (
            f"INSERT INTO {self._ledger} (record_id, item_key, event_time, region, applied_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (record_id) DO NOTHING"
        )
        # Row values compare lexicographically: a later event wins, and on equal event
        # times the greater record id (BINARY collation: code point order, as in Python).
        item_sql = (
            f"INSERT INTO {self._items} AS item "
            "(item_key, event_time, record_id, last_updated_region, attributes) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (item_key) DO UPDATE SET "
            "event_time = excluded.event_time, record_id = excluded.record_id, "
            "last_updated_region = excluded.last_updated_region, "
            "attributes = excluded.attributes "
            "WHERE (item.event_time, item.record_id) < (excluded.event_time, excluded.record_id)"
        )

        def transaction(conn: sqlite3.Connection) -> list[WriteOutcome]:
            outcomes = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for record in batch:
                    ledger = conn.execute(
                        ledger_sql,
                        (
                            record.record_id,
                            record.item_key,
                            record.event_time,
                            record.region,
                            applied_at,
                        ),
                    )
                    if ledger.rowcount == 0:
                        outcomes.append(WriteOutcome.DUPLICATE)
                        continue
                    item = conn.execute(
                        item_sql,
                        (
                            record.item_key,
                            record.event_time,
                            record.record_id,
                            record.region,
                            orjson.dumps(dict(record.attributes)).decode(),
                        ),
                    )
                    outcomes.append(WriteOutcome.APPLIED if item.rowcount else WriteOutcome.STALE)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (disk full)
                    conn.execute("ROLLBACK")
                raise
            return outcomes

        return await self._run(transaction)

    async def _get_item(self, item_key: str) -> SinkItem | None:
        def read(conn: sqlite3.Connection) -> SinkItem | None:
            row = conn.execute(
                "SELECT event_time, record_id, last_updated_region, attributes "
                f"FROM {self._items} WHERE item_key = ?",
                (item_key,),
            ).fetchone()
            if row is None:
                return None
            event_time, record_id, region, attributes = row
            return SinkItem(item_key, orjson.loads(attributes), event_time, record_id, region)

        return await self._run(read)

    async def _ledger_ids(self) -> set[str]:
        def read(conn: sqlite3.Connection) -> set[str]:
            return {row[0] for row in conn.execute(f"SELECT record_id FROM {self._ledger}")}

        return await self._run(read)
