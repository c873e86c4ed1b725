"""The database schema, and the upgrade of databases written before chunk checksums.

Version 1 stored chunks as ``(shard_uid, last_key, first_key, key_ref, payload)``.
Version 2 adds to each chunk its CRC32C (``crc``) and the last key of the chunk before
it in its shard (``prev_key``), which together let every read prove that what it
serves is what was written and that no chunk went missing in between; and to
``meta`` a check value of the master key (``key_check``).

Upgrade (on open, inside the start-up transaction, so it happens whole or not at all):

1. Add the two columns.
2. Walk each shard's chunks in key order. A chunk whose layout is consistent (and,
   if encrypted, authenticates) gets its checksum; one that does not keeps none and
   is reported, and reads and ``shardline verify`` report it as damaged.
3. Chain every chunk to the one before it, damaged or not.

A checksum computed now vouches only for what the chunk holds now: damage that
happened before the upgrade and left a consistent layout cannot be told apart.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from shardline.storage.crypto import Unsealer
from shardline.storage.exceptions import ChunkFault
from shardline.storage.stored import COLUMNS, ChunkRow, open_chunk, row_crc

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS streams (name TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    shard_uid INTEGER NOT NULL,
    last_key INTEGER NOT NULL,
    first_key INTEGER NOT NULL,
    key_ref INTEGER NOT NULL,
    payload BLOB NOT NULL,
    crc INTEGER,
    prev_key INTEGER,
    PRIMARY KEY (shard_uid, last_key)
);
CREATE TABLE IF NOT EXISTS kms_keys (ref INTEGER PRIMARY KEY, key_id TEXT NOT NULL UNIQUE);
"""

_BATCH = 256


@dataclass(frozen=True)
class UnreadableChunk:
    """A chunk the upgrade could not vouch for: its shard, key range and why."""

    shard_uid: int
    first_key: int
    last_key: int
    cause: str


@dataclass
class UpgradeReport:
    checksummed: int = 0
    unreadable: list[UnreadableChunk] = field(default_factory=list)
    #: Encrypted chunks that opened, and those that failed authentication.
    sealed_opened: int = 0
    sealed_failed: int = 0


def needs_upgrade(conn: sqlite3.Connection) -> bool:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
    return "crc" not in columns


def upgrade(conn: sqlite3.Connection, unseal: Unsealer) -> UpgradeReport:
    """Bring a version 1 database to version 2 (see the module docstring)."""
    conn.execute("ALTER TABLE chunks ADD COLUMN crc INTEGER")
    conn.execute("ALTER TABLE chunks ADD COLUMN prev_key INTEGER")
    report = UpgradeReport()
    uids = [uid for (uid,) in conn.execute("SELECT DISTINCT shard_uid FROM chunks")]
    for uid in uids:
        prev, after = 0, -1
        while True:
            rows = conn.execute(
                f"SELECT rowid, {COLUMNS} FROM chunks WHERE shard_uid=? AND last_key>? "
                "ORDER BY last_key LIMIT ?",
                (uid, after, _BATCH),
            ).fetchall()
            if not rows:
                break
            for rowid, *columns in rows:
                row = ChunkRow(*columns)
                crc = _checksum_if_sound(row, prev, unseal, report)
                conn.execute(
                    "UPDATE chunks SET crc=?, prev_key=? WHERE rowid=?", (crc, prev, rowid)
                )
                prev = row.last_key
            after = prev
    return report


def _checksum_if_sound(
    row: ChunkRow, prev: int, unseal: Unsealer, report: UpgradeReport
) -> int | None:
    try:
        open_chunk(row, unseal)
    except ChunkFault as fault:
        if row.key_ref and fault.cause == "failed authentication":
            report.sealed_failed += 1
        report.unreadable.append(
            UnreadableChunk(row.shard_uid, row.first_key, row.last_key, fault.cause)
        )
        return None
    report.sealed_opened += bool(row.key_ref)
    report.checksummed += 1
    return row_crc(row, prev)
