"""``shardline verify``: check a data directory and report damage by stream, shard and
sequence range, changing nothing.

Checks, in order (one that cannot run says why in the notes):

1. Files: the write-ahead log would not drop committed transactions, the database
   header is sound and the file whole, no earlier start was refused.
2. SQLite's own check: ``PRAGMA quick_check``, or ``integrity_check`` with ``full``
   (slower: it also compares every index with its table).
3. The master key is the one the database was created with (when any stream was
   ever encrypted).
4. Every chunk (``salvage``): checksum, layout, authentication, keys inside its
   shard's range, and its link to the chunk before it; every break is a range of
   lost records.
5. Order: the intact chunks of a shard do not overlap.
6. Lineage: the open shards of a stream tile the hash-key space exactly, and a child
   shard starts after its parents closed.
7. The catalog: unreadable rows of the meta, key and stream tables, and chunks of
   shards no stream describes.

A server may keep running: the database is opened read-only (``mode=ro``), or, when
its log would lose commits, read from the file alone (``immutable=1``) so that the
evidence stays exactly as found.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from shardline.storage.catalog import Shard, Stream
from shardline.storage.crypto import unsealer
from shardline.storage.hashing import MAX_HASH_KEY
from shardline.storage.integrity import salvage, source
from shardline.storage.integrity.salvage import Advance, Salvage
from shardline.storage.sequence import format_sequence
from shardline.storage.stored import OpenedChunk

Kind = Literal["files", "key", "records", "order", "lineage", "catalog", "index"]
_SQLITE_MESSAGES = 20


@dataclass(frozen=True)
class Finding:
    """One thing found wrong, located as precisely as it can be."""

    kind: Kind
    message: str
    stream: str | None = None
    shard: str | None = None
    first_sequence: str | None = None
    last_sequence: str | None = None


@dataclass
class Report:
    """What ``verify`` found; ``clean`` only when it found nothing."""

    data_dir: Path
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    streams: int = 0
    shards: int = 0
    chunks: int = 0
    records: int = 0

    @property
    def clean(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "clean": self.clean,
            "streams": self.streams,
            "shards": self.shards,
            "chunks": self.chunks,
            "records": self.records,
            "findings": [asdict(f) for f in self.findings],
            "notes": self.notes,
        }


def verify(
    data_dir: Path, full: bool = False, key_path: Path | None = None, advance: Advance | None = None
) -> Report:
    """Run the checks of the module docstring on ``data_dir``.

    Error handling: an unreadable file raises ``OSError``; damage is never raised,
    it is reported.
    """
    report = Report(data_dir)
    files = source.inspect(data_dir)
    if not files.database.exists():
        report.findings.append(Finding("files", f"{files.database} does not exist"))
        return report
    report.findings += _file_findings(files)
    if files.header is not None and files.header.problem is not None:
        report.notes.append(
            "SQLite cannot open a database with a damaged header or missing pages, so its "
            "records were not checked; `shardline recover` repairs a copy and salvages them"
        )
        return report
    if files.log_loses_commits:
        report.notes.append("the database file was read without its damaged write-ahead log")
    conn = source.connect_read_only(files.database, files.log_loses_commits)
    try:
        _check_database(conn, data_dir, full, key_path, advance, report)
    except sqlite3.DatabaseError as exc:
        report.findings.append(Finding("files", f"SQLite cannot read {files.database}: {exc}"))
    finally:
        conn.close()
    return report


def _file_findings(files: source.Files) -> list[Finding]:
    found = []
    if files.log is not None and files.log.loses_commits:
        found.append(Finding("files", f"{files.log.path.name}: {files.log.describe()}"))
    if files.header is not None and files.header.problem is not None:
        found.append(Finding("files", f"{files.database.name}: {files.header.problem}"))
    if files.refused is not None:
        found.append(Finding("files", f"an earlier start was refused: {files.refused}"))
    return found


def _check_database(
    conn: sqlite3.Connection,
    data_dir: Path,
    full: bool,
    key_path: Path | None,
    advance: Advance | None,
    report: Report,
) -> None:
    """Checks 2-7 on an open connection."""
    pragma = "integrity_check" if full else "quick_check"
    messages = [row[0] for row in conn.execute(f"PRAGMA {pragma}({_SQLITE_MESSAGES})")]
    if messages != ["ok"]:
        report.findings += [Finding("files", f"SQLite {pragma}: {m}") for m in messages]
    found = Salvage()
    salvage.read_catalog(conn, found)
    cipher, why = source.load_cipher(data_dir, key_path, salvage.key_check(found))
    if why is not None and found.kms_keys:
        report.findings.append(Finding("key", f"{why}; encrypted chunks cannot be opened"))
    shards = {s.uid: (stream, s) for stream in found.streams for s in stream.shards.values()}
    ranges = _RangeCheck(shards, report)
    columns = source.chunk_columns(conn)
    if "NULL" in columns:
        report.notes.append(
            "the database predates chunk checksums: chunks were checked for layout only "
            "(starting `shardline serve` once upgrades it)"
        )
    salvage.read_chunks(
        conn, found, unsealer(cipher, found.kms_keys), ranges.keep, advance, columns
    )
    report.streams = len(found.streams)
    report.shards = len(shards)
    report.records = sum(s.records for s in found.shards.values())
    report.findings += record_findings(found, shards)
    report.findings += [f for stream in found.streams for f in _lineage_findings(stream)]
    report.findings += [Finding("catalog", problem) for problem in found.problems]
    report.findings += [Finding("index", problem) for problem in found.index_problems]


@dataclass
class _RangeCheck:
    """Counts intact chunks and checks each lies inside its shard's key range."""

    shards: dict[int, tuple[Stream, Shard]]
    report: Report

    def keep(self, chunk: OpenedChunk) -> None:
        self.report.chunks += 1
        located = self.shards.get(chunk.row.shard_uid)
        if located is None:
            return
        stream, shard = located
        row = chunk.row
        if row.first_key <= shard.created_key or (
            shard.closed_key is not None and row.last_key > shard.closed_key
        ):
            self.report.findings.append(
                _located(
                    "order",
                    "records lie outside the shard's sequence range",
                    stream,
                    shard,
                    row.first_key,
                    row.last_key,
                )
            )


def _located(
    kind: Kind, message: str, stream: Stream, shard: Shard, first: int, last: int
) -> Finding:
    return Finding(
        kind,
        message,
        stream.name,
        shard.shard_id,
        format_sequence(max(first, shard.created_key), shard.index),
        format_sequence(max(last, first), shard.index),
    )


def record_findings(found: Salvage, shards: dict[int, tuple[Stream, Shard]]) -> list[Finding]:
    findings = []
    for uid, learned in sorted(found.shards.items()):
        located = shards.get(uid)
        if located is None:
            if learned.links:
                findings.append(
                    Finding(
                        "catalog",
                        f"{len(learned.links)} intact chunks belong to shard uid {uid}, "
                        "which no stream describes (its stream's description is lost)",
                    )
                )
            continue
        stream, shard = located
        for lost in learned.lost():
            message = f"records cannot be read ({lost.cause})"
            findings.append(
                _located("records", message, stream, shard, lost.first_key, lost.last_key)
            )
        if learned.out_of_order():
            findings.append(
                Finding("order", "chunks overlap in sequence keys", stream.name, shard.shard_id)
            )
    unknown = len(found.unreadable) + found.unconfirmed
    if unknown:
        findings.append(
            Finding(
                "records",
                f"{unknown} damaged chunk rows name no shard that can be trusted (a lost chunk "
                "that has a successor in its shard is reported above by range)",
            )
        )
    return findings


def _lineage_findings(stream: Stream) -> list[Finding]:
    findings = []
    expected = 0
    for shard in sorted(stream.open_shards(), key=lambda s: s.start_hash):
        if shard.start_hash != expected:
            findings.append(
                Finding(
                    "lineage",
                    f"open shards leave a gap or overlap at hash key {expected}",
                    stream.name,
                    shard.shard_id,
                )
            )
        expected = shard.end_hash + 1
    if stream.open_shards() and expected != MAX_HASH_KEY + 1:
        findings.append(
            Finding("lineage", "open shards do not reach the top hash key", stream.name)
        )
    for shard in stream.shards.values():
        for index in (shard.parent, shard.adjacent_parent):
            parent = stream.shards.get(index) if index is not None else None
            if parent is not None and (
                parent.closed_key is None or shard.created_key <= parent.closed_key
            ):
                findings.append(
                    Finding(
                        "lineage",
                        f"it starts before its parent {parent.shard_id} closed",
                        stream.name,
                        shard.shard_id,
                    )
                )
    return findings
