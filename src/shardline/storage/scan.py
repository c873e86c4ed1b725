"""Reading a shard's chunks from a key on: fast, and careful once something is off.

**Fast path**: one range scan of the chunk index, every chunk opened through
``stored.open_chunk`` (checksum, authentication, keys) and chained to the one before
it (its ``prev_key`` must be the last key of the chunk read before it; for the first
chunk read, below the starting key or below the stream's trim point).

**Careful path**, taken from the last good chunk on as soon as the fast path meets
anything unexpected (a checksum miss, a page SQLite calls malformed, a broken
chain). In one read transaction it lists the shard's index entries and fetches each
row by its rowid on its own, so damage stays confined to the rows it hit:

1. A row that cannot be read or fails its checks starts a damaged run.
2. The next good chunk ends it: its ``prev_key`` (covered by its checksum) is the
   last key of the run, so the run's extent is known even when the damaged rows'
   own keys are not to be trusted.
3. A good chunk whose ``prev_key`` does not follow the last good one means chunks
   are missing altogether (a stale or lost page): the gap is damage too.
4. An index entry whose row disagrees with it, or an index that cannot be read, is
   ``IndexDamage``: no reader can skip it, ``shardline recover`` rebuilds it.

Both paths hand good chunks to ``take`` (which returns True to stop) in key order,
and raise ``ShardDamage`` only after every good chunk before the damage was taken.

Error handling: SQLite errors other than corruption (``SQLITE_CORRUPT``,
``SQLITE_NOTADB``) propagate unchanged; they are not damage.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from shardline.storage.crypto import Unsealer
from shardline.storage.exceptions import ChunkFault, IndexDamage, ShardDamage
from shardline.storage.stored import COLUMNS, ChunkRow, OpenedChunk, open_chunk

#: Receives each good chunk in key order; returns True when it wants no more.
Take = Callable[[OpenedChunk], bool]

_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_BATCH = 256


@dataclass(frozen=True)
class ShardReader:
    """What reading one shard needs: its uid, how to open sealed chunks, the key
    below which chunks may have been trimmed (asked at the moment of the check, as a
    trim may land during a read), and whether to check at all."""

    uid: int
    unseal: Unsealer
    trimmed_key: Callable[[], int]
    verify: bool = True

    def follows(self, row: ChunkRow, expected_prev: int | None, start: int) -> bool:
        """Whether ``row`` comes right after the chunk read before it (see module doc)."""
        if not self.verify or row.prev_key is None:
            return True
        if expected_prev is not None:
            return row.prev_key == expected_prev
        return row.prev_key == 0 or row.prev_key < start or row.prev_key < self.trimmed_key()


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite reports damage to the file (as opposed to a busy or full disk)."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _CORRUPT


def read_chunks(conn: sqlite3.Connection, shard: ShardReader, start: int, take: Take) -> None:
    """Hand ``take`` the good chunks of ``shard`` whose last key is at least ``start``."""
    resume = _fast(conn, shard, start, take)
    if resume is not None:
        conn.execute("BEGIN")
        try:
            _careful(conn, shard, resume, take)
        finally:
            conn.execute("ROLLBACK")


def _fast(conn: sqlite3.Connection, shard: ShardReader, start: int, take: Take) -> int | None:
    """The fast path; returns the key to go on from carefully, or None when done."""
    resume, expected_prev = start, None
    cursor = conn.cursor()
    try:
        for columns in cursor.execute(
            f"SELECT {COLUMNS} FROM chunks WHERE shard_uid=? AND last_key>=? ORDER BY last_key",
            (shard.uid, start),
        ):
            row = ChunkRow(*columns)
            if row.shard_uid != shard.uid or not shard.follows(row, expected_prev, start):
                return resume
            try:
                chunk = open_chunk(row, shard.unseal, shard.verify)
            except ChunkFault:
                return resume
            if take(chunk):
                return None
            resume, expected_prev = row.last_key + 1, row.last_key
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return resume
    finally:
        cursor.close()
    return None


@dataclass
class _Run:
    """A run of damaged chunks: from which key, why, and the last index key seen."""

    first_key: int
    cause: str
    last_key: int


def _careful(conn: sqlite3.Connection, shard: ShardReader, start: int, take: Take) -> None:
    low, expected_prev, run, after = start, None, None, start - 1
    while entries := _index_entries(conn, shard.uid, after, low):
        for last_key, rowid in entries:
            outcome = _fetch(conn, shard, rowid, last_key, low)
            if isinstance(outcome, ChunkFault):
                run = run or _Run(low, outcome.cause, last_key)
                run.last_key = last_key
                continue
            row = outcome.row
            if run is not None:
                end = row.prev_key if shard.verify and row.prev_key else run.last_key
                raise ShardDamage(shard.uid, run.first_key, max(end, run.first_key), run.cause)
            if not shard.follows(row, expected_prev, start):
                assert row.prev_key is not None
                raise ShardDamage(shard.uid, low, row.prev_key, "missing from the database")
            if take(outcome):
                return
            low, expected_prev = row.last_key + 1, row.last_key
        after = entries[-1][0]
    if run is not None:
        raise ShardDamage(shard.uid, run.first_key, run.last_key, run.cause)


def _index_entries(
    conn: sqlite3.Connection, uid: int, after: int, low: int
) -> list[tuple[int, int]]:
    try:
        return conn.execute(
            "SELECT last_key, rowid FROM chunks WHERE shard_uid=? AND last_key>? "
            "ORDER BY last_key LIMIT ?",
            (uid, after, _BATCH),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        raise IndexDamage(uid, low, low, "its chunk index is unreadable") from None


def _fetch(
    conn: sqlite3.Connection, shard: ShardReader, rowid: int, last_key: int, low: int
) -> OpenedChunk | ChunkFault:
    """The chunk an index entry points to, opened, or the fault that stops it."""
    try:
        columns = conn.execute(f"SELECT {COLUMNS} FROM chunks WHERE rowid=?", (rowid,)).fetchone()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return ChunkFault("an unreadable database page")
    if columns is None:
        return ChunkFault("its row is missing")
    row = ChunkRow(*columns)
    if row.shard_uid != shard.uid or row.last_key != last_key:
        raise IndexDamage(shard.uid, low, low, "an index entry does not match its row")
    try:
        return open_chunk(row, shard.unseal, shard.verify)
    except ChunkFault as fault:
        return fault
