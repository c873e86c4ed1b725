"""The embedded control store: one SQLite file shared by the processes of a machine.

Fencing is a conditional UPDATE (``WHERE epoch = ?``) for transitions, and a
``BEGIN IMMEDIATE`` transaction that reads the replication generation before it
writes watermarks, so a fenced write and the decision that fences it are ordered by
SQLite's write lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from shardline.stores.control import (
    ControlState,
    ControlStore,
    ControlStoreError,
    ReportDocument,
    StaleEpochError,
    Watermark,
    sequence_key,
)
from shardline.stores.sqlite_file import SQLiteFile

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS control_state ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL,"
    " replication_generation INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS watermarks ("
    " source_region TEXT NOT NULL, stream TEXT NOT NULL, shard_id TEXT NOT NULL,"
    " doc TEXT NOT NULL, PRIMARY KEY (source_region, stream, shard_id))",
    "CREATE TABLE IF NOT EXISTS reports ("
    " kind TEXT NOT NULL, component TEXT NOT NULL, doc TEXT NOT NULL,"
    " PRIMARY KEY (kind, component))",
)


class SQLiteControlStore(ControlStore):
    """Control state, watermarks and reports in the SQLite file at ``path``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._file = SQLiteFile(path, ControlStoreError, "control")

    async def ensure_table(self) -> None:
        def create(conn: sqlite3.Connection) -> None:
            for statement in _SCHEMA:
                conn.execute(statement)

        await self._file.run(create)

    async def close(self) -> None:
        await self._file.close()

    async def get_state(self) -> ControlState | None:
        def read(conn: sqlite3.Connection) -> ControlState | None:
            row = conn.execute("SELECT doc FROM control_state WHERE id = 1").fetchone()
            return ControlState.from_doc(orjson.loads(row[0])) if row else None

        return await self._file.run(read)

    async def initialize(self, state: ControlState) -> ControlState:
        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO control_state VALUES (1, ?, ?, ?)",
                (state.epoch, state.replication_generation, orjson.dumps(state.to_doc())),
            )

        await self._file.run(insert)
        stored = await self.get_state()
        assert stored is not None
        return stored

    async def replace(self, expected_epoch: int, new: ControlState) -> None:
        def update(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE control_state SET epoch = ?, replication_generation = ?, doc = ?"
                " WHERE id = 1 AND epoch = ?",
                (new.epoch, new.replication_generation, orjson.dumps(new.to_doc()), expected_epoch),
            )
            return cursor.rowcount == 1

        if not await self._file.run(update):
            raise StaleEpochError(f"control state is no longer at epoch {expected_epoch}")

    async def put_watermarks(
        self, generation: int, source_region: str, stream: str, marks: list[Watermark]
    ) -> None:
        def write(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT replication_generation FROM control_state WHERE id = 1"
                ).fetchone()
                if row is None or row[0] != generation:
                    conn.execute("ROLLBACK")
                    return False
                for mark in marks:
                    old = conn.execute(
                        "SELECT doc FROM watermarks"
                        " WHERE source_region = ? AND stream = ? AND shard_id = ?",
                        (source_region, stream, mark.shard_id),
                    ).fetchone()
                    if old and sequence_key(orjson.loads(old[0])["sequence_number"]) >= (
                        sequence_key(mark.sequence_number)
                    ):
                        continue
                    conn.execute(
                        "INSERT OR REPLACE INTO watermarks VALUES (?, ?, ?, ?)",
                        (source_region, stream, mark.shard_id, orjson.dumps(mark.__dict__)),
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return True

        if not await self._file.run(write):
            raise StaleEpochError(f"replication generation {generation} is no longer running")

    async def get_watermarks(self, source_region: str, stream: str) -> dict[str, Watermark]:
        def read(conn: sqlite3.Connection) -> dict[str, Watermark]:
            rows = conn.execute(
                "SELECT shard_id, doc FROM watermarks WHERE source_region = ? AND stream = ?",
                (source_region, stream),
            )
            return {shard: Watermark(**orjson.loads(doc)) for shard, doc in rows}

        return await self._file.run(read)

    async def put_report_document(self, document: ReportDocument) -> None:
        doc = orjson.dumps({"body": document.body, "updated_at": document.updated_at})

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO reports VALUES (?, ?, ?)",
                (document.kind, document.component, doc),
            )

        await self._file.run(write)

    async def get_report_documents(self, kind: str) -> list[ReportDocument]:
        def read(conn: sqlite3.Connection) -> list[ReportDocument]:
            rows = conn.execute("SELECT component, doc FROM reports WHERE kind = ?", (kind,))
            return [
                ReportDocument(kind, component, (d := orjson.loads(doc))["body"], d["updated_at"])
                for component, doc in rows
            ]

        return await self._file.run(read)
