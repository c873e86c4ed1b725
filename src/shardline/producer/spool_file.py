"""The spool file itself: its schema, its lock, and where its records may go.

A spool is bound to a destination. Each row names the *binding* it was accepted
for: the destinations its records may be sent to (one stream at one endpoint, or,
for a :class:`~shardline.failover.FailoverProducer`, that stream in each region of
the topology). Rules:

1. A producer opens a spool with its own binding. Records waiting there for
   another binding are never sent elsewhere: opening fails with
   :class:`SpoolBoundError`, which names them and says how to deal with them.
2. A record given up (a non-retriable error such as ResourceNotFoundException or
   bad credentials) is not deleted: it stays as a *dead letter*, with the reason,
   until ``shardline spool resend`` sends it again or ``shardline spool discard``
   drops it. Dead letters never block a producer.
3. So a row leaves the spool only when its stream acknowledged it, or when a person
   discards it.

Spools written before bindings existed have rows without one; the first producer
that opens such a spool adopts them (the old behaviour) and logs that it did.

Resource handling: :func:`lock` takes an exclusive ``flock`` on ``<path>.lock``;
the kernel drops it when the process dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shardline.producer.destination import SpoolBinding
from shardline.producer.exceptions import SpoolBoundError, SpoolError, SpoolLockedError

log = logging.getLogger(__name__)

_TABLES = (
    """CREATE TABLE IF NOT EXISTS records (
        id INTEGER PRIMARY KEY,
        record_id TEXT NOT NULL,
        partition_key TEXT NOT NULL,
        explicit_hash_key TEXT,
        data BLOB NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS bindings (id INTEGER PRIMARY KEY, destinations TEXT UNIQUE)",
)
#: Columns added since the first spool format (old files are migrated on open).
_ADDED_COLUMNS = {"binding": "INTEGER", "dead": "TEXT", "dead_at": "REAL"}


def lock(path: Path) -> IO[str]:
    """Hold ``<path>.lock`` exclusively, or raise :class:`SpoolLockedError`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = open(f"{path}.lock", "a+")  # noqa: SIM115 (held open by the caller)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise SpoolLockedError(
            f"spool {path} is held by another producer process; give each producer its "
            "own spool_path or stop the other one"
        ) from None
    return lock_file


def connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open (and create or migrate) the spool database; SpoolError if impossible."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        for table in _TABLES:
            db.execute(table)
        present = {row[1] for row in db.execute("PRAGMA table_info(records)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in present:
                db.execute(f"ALTER TABLE records ADD COLUMN {column} {kind}")
    except sqlite3.Error as exc:
        raise SpoolError(f"cannot open spool {path}: {exc}") from exc
    return db


def binding_id(db: sqlite3.Connection, binding: SpoolBinding) -> int:
    """The row id of ``binding`` in the spool (added if new)."""
    text = binding.to_json()
    db.execute("INSERT OR IGNORE INTO bindings (destinations) VALUES (?)", (text,))
    row = db.execute("SELECT id FROM bindings WHERE destinations = ?", (text,)).fetchone()
    return int(row[0])


def claim(db: sqlite3.Connection, path: Path, binding: SpoolBinding) -> int:
    """Steps 1 of the module docstring for a producer opening the spool; its binding id.

    Raises :class:`SpoolBoundError` when records not yet stored wait there for
    another binding.
    """
    own = binding_id(db, binding)
    waiting = [
        (SpoolBinding.from_json(text), int(count))
        for text, count in db.execute(
            "SELECT b.destinations, COUNT(*) FROM records r JOIN bindings b ON r.binding = b.id "
            "WHERE r.dead IS NULL AND r.binding != ? GROUP BY b.id",
            (own,),
        )
    ]
    if waiting:
        raise SpoolBoundError(path, binding, waiting)
    adopted = db.execute(
        "UPDATE records SET binding = ? WHERE binding IS NULL AND dead IS NULL", (own,)
    ).rowcount
    if adopted:
        log.warning("spool %s: %d records of an older format go to %s", path, adopted, binding)
    return own


@dataclass(frozen=True)
class OpenSpool:
    """A spool database opened by a producer: its binding id, live rows, last row id."""

    db: sqlite3.Connection
    binding: int
    live: int
    last_row: int


def open_bound(path: Path, binding: SpoolBinding, synchronous: str) -> OpenSpool:
    """Open the spool for a producer bound to ``binding`` (the caller holds the lock).

    Raises :class:`SpoolBoundError` (see :func:`claim`) or :class:`SpoolError`.
    """
    db = connect(path, synchronous)
    try:
        own = claim(db, path, binding)
        live = db.execute(
            "SELECT COUNT(*) FROM records WHERE dead IS NULL AND binding = ?", (own,)
        ).fetchone()
        last = db.execute("SELECT COALESCE(MAX(id), 0) FROM records").fetchone()
    except sqlite3.Error as exc:
        db.close()
        raise SpoolError(f"cannot open spool {path}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return OpenSpool(db, own, int(live[0]), int(last[0]))
