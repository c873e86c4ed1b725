"""The embedded lease table: one SQLite file that the workers on one host share.

SQLite's own locking makes the conditional update atomic across processes; WAL mode
lets readers scan while a writer commits; ``synchronous=FULL`` makes a checkpoint
durable before it is acknowledged. Calls run on one dedicated thread per store, so
the event loop never blocks on the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from shardline.stores.leases import (
    MUTABLE_FIELDS,
    Lease,
    LeaseStore,
    LeaseStoreError,
    apply,
)
from shardline.stores.sqlite_file import SQLiteFile

_COLUMNS = (
    "lease_key",
    "lease_owner",
    "lease_counter",
    "checkpoint",
    "checkpoint_sub",
    "pending_checkpoint",
    "pending_checkpoint_sub",
    "pending_checkpoint_state",
    "owner_switches",
    "parents",
    "children",
    "starting_hash_key",
    "ending_hash_key",
)
#: Columns are named like the Lease fields, except the owner (``owner`` is an SQL keyword
#: in some dialects, and the KCL calls it leaseOwner).
_FIELD_COLUMN = {name: "lease_owner" if name == "owner" else name for name in MUTABLE_FIELDS}


def _to_column(name: str, value: Any) -> Any:
    if name in ("parents", "children"):
        return orjson.dumps(sorted(value)).decode()
    return value


def _row_to_lease(row: tuple[Any, ...]) -> Lease:
    values = dict(zip(_COLUMNS, row, strict=True))
    return Lease(
        key=values["lease_key"],
        owner=values["lease_owner"],
        counter=values["lease_counter"],
        checkpoint=values["checkpoint"],
        checkpoint_sub=values["checkpoint_sub"],
        pending_checkpoint=values["pending_checkpoint"],
        pending_checkpoint_sub=values["pending_checkpoint_sub"],
        pending_checkpoint_state=values["pending_checkpoint_state"],
        owner_switches=values["owner_switches"],
        parents=frozenset(orjson.loads(values["parents"])),
        children=frozenset(orjson.loads(values["children"])),
        starting_hash_key=values["starting_hash_key"],
        ending_hash_key=values["ending_hash_key"],
    )


class SQLiteLeaseStore(LeaseStore):
    """Leases of one application in table ``table`` of the SQLite file at ``path``."""

    def __init__(self, path: Path | str, table: str) -> None:
        if not table.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"unusable lease table name {table!r}")
        self.path = Path(path)
        self.table = table
        self._file = SQLiteFile(path, LeaseStoreError, "leases")

    async def ensure_table(self) -> None:
        def create(conn: sqlite3.Connection) -> None:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                "lease_key TEXT PRIMARY KEY, lease_owner TEXT, lease_counter INTEGER NOT NULL, "
                "checkpoint TEXT NOT NULL, checkpoint_sub INTEGER NOT NULL, "
                "pending_checkpoint TEXT, pending_checkpoint_sub INTEGER, "
                "pending_checkpoint_state BLOB, owner_switches INTEGER NOT NULL, "
                "parents TEXT NOT NULL, children TEXT NOT NULL, "
                "starting_hash_key TEXT, ending_hash_key TEXT)"
            )

        await self._file.run(create)

    async def list_leases(self) -> list[Lease]:
        def scan(conn: sqlite3.Connection) -> list[Lease]:
            cursor = conn.execute(
                f'SELECT {", ".join(_COLUMNS)} FROM "{self.table}" ORDER BY lease_key'
            )
            return [_row_to_lease(row) for row in cursor]

        return await self._file.run(scan)

    async def create_if_absent(self, lease: Lease) -> bool:
        def insert(conn: sqlite3.Connection) -> bool:
            row = (
                lease.key,
                lease.owner,
                lease.counter,
                lease.checkpoint,
                lease.checkpoint_sub,
                lease.pending_checkpoint,
                lease.pending_checkpoint_sub,
                lease.pending_checkpoint_state,
                lease.owner_switches,
                _to_column("parents", lease.parents),
                _to_column("children", lease.children),
                lease.starting_hash_key,
                lease.ending_hash_key,
            )
            cursor = conn.execute(
                f'INSERT OR IGNORE INTO "{self.table}" VALUES ({", ".join("?" * len(row))})',
                row,
            )
            return cursor.rowcount == 1

        return await self._file.run(insert)

    async def _update(
        self, lease: Lease, check_owner: bool, changes: dict[str, Any]
    ) -> Lease | None:
        updated = apply(lease, changes)
        sets = ["lease_counter = ?"]
        values: list[Any] = [updated.counter]
        for name, value in changes.items():
            sets.append(f"{_FIELD_COLUMN[name]} = ?")
            values.append(_to_column(name, value))
        where = "lease_key = ? AND lease_counter = ?"
        values += [lease.key, lease.counter]
        if check_owner:
            where += " AND lease_owner IS ?"
            values.append(lease.owner)
        sql = f'UPDATE "{self.table}" SET {", ".join(sets)} WHERE {where}'

        def update(conn: sqlite3.Connection) -> bool:
            return conn.execute(sql, values).rowcount == 1

        return updated if await self._file.run(update) else None

    async def delete(self, lease: Lease) -> bool:
        def remove(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                f'DELETE FROM "{self.table}" WHERE lease_key = ? AND lease_counter = ?',
                (lease.key, lease.counter),
            )
            return cursor.rowcount == 1

        return await self._file.run(remove)

    async def close(self) -> None:
        await self._file.close()
