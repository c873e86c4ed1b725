"""A data directory as ``verify`` and ``recover`` find it: its files, its key, its rows.

Both tools read a directory that may be damaged and must never change it; both
need the same answers first: what the write-ahead log and the database header say
(``inspect``), whether the master key opens the encrypted chunks (``load_cipher``),
and how to select chunk rows from a database that may predate checksums
(``chunk_columns``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from shardline.storage import schema
from shardline.storage.crypto import RecordCipher, key_check_value
from shardline.storage.integrity import dbfile, preflight, wal
from shardline.storage.stored import COLUMNS

DATABASE = "shardline.db"
MASTER_KEY = "master.key"


@dataclass(frozen=True)
class Files:
    """The database of a data directory and what its log and header say."""

    database: Path
    log: wal.WalScan | None
    header: dbfile.DatabaseFile | None
    #: The message of an earlier refusal to start (the ``.refused`` marker), if any.
    refused: str | None

    @property
    def log_loses_commits(self) -> bool:
        return self.log is not None and self.log.loses_commits


def inspect(data_dir: Path) -> Files:
    """Read the log and the header of ``DIR/shardline.db`` (``OSError`` if unreadable)."""
    database = data_dir / DATABASE
    header = dbfile.inspect(database, None)
    log = wal.scan(preflight.wal_path(database), header.page_size if header else None)
    header = dbfile.inspect(database, log)
    marker = preflight.refusal_marker(database)
    refused = marker.read_text().strip() if marker.exists() else None
    return Files(database, log, header, refused)


def load_cipher(
    data_dir: Path, key_path: Path | None, key_check: bytes | None
) -> tuple[RecordCipher | None, str | None]:
    """The cipher of the database's master key, or None and why it is unavailable."""
    path = key_path or data_dir / MASTER_KEY
    try:
        key = path.read_bytes()
    except OSError as exc:
        return None, f"the master key {path} cannot be read ({exc.strerror})"
    if len(key) != 32:
        return None, f"the master key {path} does not hold 32 bytes"
    if key_check is not None and key_check_value(key) != key_check:
        return None, f"{path} is not the master key this database was created with"
    return RecordCipher(key), None


def chunk_columns(conn: sqlite3.Connection) -> str:
    """The chunk columns to select: a database before checksums has no crc/prev_key."""
    if schema.needs_upgrade(conn):
        return "shard_uid, last_key, first_key, key_ref, payload, NULL, NULL"
    return COLUMNS


def connect_read_only(database: Path, without_log: bool) -> sqlite3.Connection:
    """A read-only connection; ``without_log`` reads the database file alone.

    ``immutable=1`` ignores the write-ahead log and the wal-index and writes nothing,
    which is how a log that would lose commits is kept exactly as it was found.
    """
    mode = "immutable=1" if without_log else "mode=ro"
    return sqlite3.connect(f"{database.resolve().as_uri()}?{mode}", uri=True)
