"""``shardline recover``: copy everything intact from a damaged data directory into a
new one, and say exactly what could not be saved.

1. Refuse when the target holds anything, or a server holds the source (its lock).
2. Copy the database and its write-ahead log into a work directory in the target.
   The source is only ever read.
3. Repair the copies: a log whose commits are stranded behind a damaged frame is
   re-chained so that they replay (``wal.rechain``); a damaged header gets its fixed
   fields back and a truncated file its length (``dbfile.repair_copy``), so SQLite
   can open what is left.
4. Read the copy with ``salvage``: the catalog, then every chunk, checked.
5. Write a fresh database in the target: the token secret (so shard iterators keep
   working), the key check value, the key references, every stream description
   (shards and lineage, consumers, tags, resource policy) and every intact chunk
   with its sequence keys unchanged, chained to the chunk saved before it and
   checksummed anew. Lost ranges are reported, not carried into the new database,
   so the recovered region serves cleanly and ``shardline verify`` passes on it.
6. Copy the master key next to it, when it lived in the source directory.
7. Delete the work directory and return the report.

New writes after recovery get sequence keys from the clock, above any issued before
the damage, so no sequence number is handed out twice.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shardline.storage import schema
from shardline.storage.checksum import chunk_crc
from shardline.storage.crypto import unsealer
from shardline.storage.exceptions import DatabaseDamaged, DataDirUnusable
from shardline.storage.files import FILE_MODE, secure_data_dir
from shardline.storage.integrity import dbfile, preflight, salvage, source, wal
from shardline.storage.integrity.salvage import Advance, Salvage
from shardline.storage.integrity.verify import Finding, record_findings
from shardline.storage.sequence import format_sequence
from shardline.storage.stored import OpenedChunk

WORK_DIR = ".recover-work"


@dataclass
class RecoverReport:
    """What was saved into ``target`` and, located, what was not."""

    source: Path
    target: Path
    streams: int = 0
    shards: int = 0
    chunks: int = 0
    records: int = 0
    lost: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The log lost committed frames: what they held is unknown (see ``_tail_findings``).
    log_truncated: bool = False

    @property
    def complete(self) -> bool:
        return not self.lost

    def as_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "target": str(self.target),
            "complete": self.complete,
            "saved": {
                "streams": self.streams,
                "shards": self.shards,
                "chunks": self.chunks,
                "records": self.records,
            },
            "lost": [vars(f) for f in self.lost],
            "notes": self.notes,
        }


def recover(
    source_dir: Path, target: Path, key_path: Path | None = None, advance: Advance | None = None
) -> RecoverReport:
    """Steps 1-7 of the module docstring.

    Error handling: ``DataDirUnusable`` when the target is not empty,
    ``DataDirLocked`` when a server holds the source, ``DatabaseDamaged`` when not
    even the schema can be read.
    """
    if target.exists() and any(target.iterdir()):
        raise DataDirUnusable(
            f"{target}: the target directory is not empty. Give `--to` a new directory."
        )
    lock = preflight.DataDirLock.acquire(source_dir, shared=True)
    report = RecoverReport(source_dir, target)
    work = target / WORK_DIR
    try:
        secure_data_dir(target, target / source.DATABASE)  # owner-only, like any data dir
        work.mkdir()
        copy = _repaired_copy(source_dir, work, report)
        conn = sqlite3.connect(copy, isolation_level=None)
        try:
            found = _salvage_into(conn, source_dir, target, key_path, advance, report)
        finally:
            conn.close()
        _copy_master_key(source_dir, target, key_path, found, report)
    except BaseException:
        # The target was empty: leave it so, rather than half a data directory.
        for leftover in target.iterdir() if target.exists() else ():
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if lock is not None:
            lock.release()
    return report


def _repaired_copy(source_dir: Path, work: Path, report: RecoverReport) -> Path:
    """Steps 2-3: the copy SQLite will read, with the log re-chained if needed."""
    files = source.inspect(source_dir)
    if not files.database.exists():
        raise DataDirUnusable(f"{files.database}: there is no database to recover.")
    copy = work / files.database.name
    shutil.copyfile(files.database, copy)
    log = files.log
    if log is not None:
        if log.stranded_commits:
            wal.rechain(log.path, preflight.wal_path(copy), log)
            report.notes.append(
                f"replayed {log.stranded_commits} transactions stranded after frame "
                f"{log.break_at} of the write-ahead log"
            )
        else:
            shutil.copyfile(log.path, preflight.wal_path(copy))
        if log.index_ahead:
            report.lost.append(Finding("files", f"{log.path.name}: {log.describe()}"))
            report.log_truncated = True
    header = files.header
    if header is not None and header.problem is not None:
        size = header.page_size or (log.page_size if log else dbfile.DEFAULT_PAGE_SIZE)
        dbfile.repair_copy(copy, size, log.db_pages if log else 0)
        report.notes.append(f"repaired a copy of the database: {header.problem}")
    return copy


def _salvage_into(
    conn: sqlite3.Connection,
    source_dir: Path,
    target: Path,
    key_path: Path | None,
    advance: Advance | None,
    report: RecoverReport,
) -> Salvage:
    """Steps 4-5."""
    found = Salvage()
    try:
        salvage.read_catalog(conn, found)
        columns = source.chunk_columns(conn)
    except sqlite3.DatabaseError as exc:
        raise DatabaseDamaged(
            f"{source_dir / source.DATABASE}: SQLite cannot read even its schema ({exc}); "
            "nothing can be salvaged by this tool."
        ) from None
    cipher, why = source.load_cipher(source_dir, key_path, salvage.key_check(found))
    if why is not None and found.kms_keys:
        report.notes.append(f"{why}: encrypted chunks could not be opened, so not saved")
    shards = {s.uid: (stream, s) for stream in found.streams for s in stream.shards.values()}
    out = _Target(target / source.DATABASE, set(shards))
    try:
        out.write_catalog(found)
        salvage.read_chunks(
            conn, found, unsealer(cipher, found.kms_keys), out.keep, advance, columns
        )
        out.finish()
    finally:
        out.close()
    report.streams, report.shards = len(found.streams), len(shards)
    report.chunks, report.records = out.chunks, out.records
    report.lost += record_findings(found, shards)
    if report.log_truncated:
        report.lost += _tail_findings(found)
    report.lost += [Finding("catalog", problem) for problem in found.problems]
    report.notes += [f"rebuilt the index: {problem}" for problem in found.index_problems]
    return found


def _tail_findings(found: Salvage) -> list[Finding]:
    """When the log lost frames, the records they held are unknown, but they were the
    newest: in each shard, any record after the last one saved may be lost."""
    findings = []
    for stream in found.streams:
        for shard in stream.shards.values():
            learned = found.shards.get(shard.uid)
            last = max((link[0] for link in learned.links), default=0) if learned else 0
            first = format_sequence(max(last + 1, shard.created_key), shard.index)
            findings.append(
                Finding(
                    "records",
                    "any records after the last saved one were in the missing part of the "
                    "write-ahead log",
                    stream.name,
                    shard.shard_id,
                    first,
                )
            )
    return findings


class _Target:
    """The fresh database of step 5, written in one transaction."""

    def __init__(self, path: Path, uids: set[int]) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.executescript(schema.SCHEMA)
        self._conn.execute("BEGIN")
        self._uids = uids
        self._last: dict[int, int] = {}
        self._relink: set[int] = set()
        self.chunks = 0
        self.records = 0

    def write_catalog(self, found: Salvage) -> None:
        meta = dict(found.meta)
        meta.setdefault("token_secret", os.urandom(32))
        stored_uid = meta.get("next_uid")
        top_uid = max(self._uids, default=0) + 1
        meta["next_uid"] = max(top_uid, stored_uid if isinstance(stored_uid, int) else 1)
        self._conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        self._conn.executemany("INSERT INTO kms_keys VALUES (?, ?)", found.kms_keys.items())
        self._conn.executemany(
            "INSERT INTO streams VALUES (?, ?)", [(s.name, s.to_doc()) for s in found.streams]
        )

    def keep(self, chunk: OpenedChunk) -> None:
        row = chunk.row
        if row.shard_uid not in self._uids:
            return  # no stream describes its shard; reported by record_findings
        prev = self._last.get(row.shard_uid, 0)
        if row.last_key <= prev:
            self._relink.add(row.shard_uid)  # arrived out of key order: re-chained in finish
        crc = chunk_crc(row.shard_uid, row.first_key, row.last_key, row.key_ref, prev, row.payload)
        self._conn.execute(
            "INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.shard_uid, row.last_key, row.first_key, row.key_ref, row.payload, crc, prev),
        )
        self._last[row.shard_uid] = max(prev, row.last_key)
        self.chunks += 1
        self.records += len(chunk.keys)

    def finish(self) -> None:
        """Re-chain shards whose chunks arrived out of key order, then commit."""
        for uid in self._relink:
            prev = 0
            rows = self._conn.execute(
                "SELECT rowid, last_key, first_key, key_ref, payload FROM chunks "
                "WHERE shard_uid=? ORDER BY last_key",
                (uid,),
            ).fetchall()
            for rowid, last_key, first_key, key_ref, payload in rows:
                crc = chunk_crc(uid, first_key, last_key, key_ref, prev, payload)
                self._conn.execute(
                    "UPDATE chunks SET prev_key=?, crc=? WHERE rowid=?", (prev, crc, rowid)
                )
                prev = last_key
        self._conn.execute("COMMIT")

    def close(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._conn.close()


def _copy_master_key(
    source_dir: Path, target: Path, key_path: Path | None, found: Salvage, report: RecoverReport
) -> None:
    """Step 6: the key goes with the data when it lived in the data directory."""
    if key_path is not None:
        report.notes.append(f"start the recovered region with --master-key-file {key_path}")
        return
    key = source_dir / source.MASTER_KEY
    if key.exists():
        fd = os.open(target / source.MASTER_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.read_bytes())
            handle.flush()
            os.fsync(handle.fileno())
    elif found.kms_keys:
        report.notes.append(f"{key} is missing: encrypted streams need their original key")
