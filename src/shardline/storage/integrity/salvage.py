"""Reading everything a damaged database still holds, row by row.

SQLite answers a query that meets a damaged page with one error and stops. Salvage
reads around damage instead:

1. Tables are walked by rowid in small batches; a batch that fails is read again
   one rowid at a time, so only rows on damaged pages are lost (``walk``).
2. Every chunk row goes through ``stored.open_chunk``: an intact chunk is handed to
   the caller, a damaged one is remembered with its cause (its own shard and keys
   are not to be trusted, being damaged).
3. The chunk index (a b-tree of its own) is listed per shard: an entry without an
   intact row names a damaged chunk by its key, even when the row cannot be read;
   a damaged row the index does not confirm is counted, not attributed.
4. Per shard, the intact chunks are put in key order and their ``prev_key`` links
   followed: each break in the chain is a range of lost records, named exactly by
   the keys on either side, whatever destroyed them (``Shard.lost``).

A chunk lost at the very end of a shard has no successor to name it; it is named
from its index entry or its damaged row when either survives, and otherwise only
counted among the unreadable rows.

Resource handling: memory grows by about 100 bytes per chunk (the links of step 4).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson

from shardline.storage.catalog import Stream
from shardline.storage.crypto import Unsealer
from shardline.storage.exceptions import ChunkFault
from shardline.storage.scan import is_damage
from shardline.storage.stored import COLUMNS, ChunkRow, OpenedChunk, open_chunk

_BATCH = 64

#: Receives each intact chunk (recover copies it; verify only counts).
Keep = Callable[[OpenedChunk], None]
#: Told how many rowids of how many were read so far (a progress bar).
Advance = Callable[[int, int], None]


@dataclass(frozen=True)
class Lost:
    """Records of one shard that cannot be saved: keys ``first_key`` to ``last_key``."""

    shard_uid: int
    first_key: int
    last_key: int
    cause: str


@dataclass
class Shard:
    """What salvage learned about one shard's chunks."""

    uid: int
    trimmed_key: int = 0
    #: Intact chunks as (last key, first key, prev key or None, record count).
    links: list[tuple[int, int, int | None, int]] = field(default_factory=list)
    #: Chunks known to exist that are not intact: last key → cause.
    damaged: dict[int, str] = field(default_factory=dict)
    #: Damaged rows by their own (untrusted) last key, until the index confirms them.
    suspect: dict[int, str] = field(default_factory=dict)
    records: int = 0

    def lost(self) -> list[Lost]:
        """The ranges of records this shard lost, from its chain of intact chunks."""
        self.links.sort()
        lost: list[Lost] = []
        prev_last: int | None = None
        for last_key, _, prev_key, _ in self.links:
            if prev_key is not None and prev_key != (prev_last or 0):
                if prev_last is not None and prev_key > prev_last:
                    lost.append(self._gap(prev_last + 1, prev_key))
                elif prev_last is None and prev_key >= self.trimmed_key:
                    lost.append(self._gap(self.trimmed_key, prev_key))
            prev_last = max(prev_last or 0, last_key)
        tail = [key for key in self.damaged if prev_last is None or key > prev_last]
        if tail:
            lost.append(self._gap((prev_last or self.trimmed_key - 1) + 1, max(tail)))
        return lost

    def _gap(self, first: int, last: int) -> Lost:
        causes = sorted({c for k, c in self.damaged.items() if first <= k <= last})
        return Lost(self.uid, first, last, ", ".join(causes) or "missing from the database")

    def out_of_order(self) -> int:
        """Intact chunks whose keys overlap the chunk before them (``links`` sorted)."""
        ordered = sorted(self.links)
        return sum(1 for a, b in zip(ordered, ordered[1:], strict=False) if b[1] <= a[0])


@dataclass
class Salvage:
    """Everything read from one database."""

    #: The meta table as stored (values of mixed types: bytes, integers).
    meta: dict[str, object] = field(default_factory=dict)
    kms_keys: dict[int, str] = field(default_factory=dict)
    streams: list[Stream] = field(default_factory=list)
    shards: dict[int, Shard] = field(default_factory=dict)
    #: Rowids of chunk rows that could not be read at all (until an index entry names
    #: them), and the number of damaged rows no index entry confirms: the shard of
    #: either is not known.
    unreadable: set[int] = field(default_factory=set)
    unconfirmed: int = 0
    #: Catalog rows (meta, key references, stream descriptions) that are lost.
    problems: list[str] = field(default_factory=list)
    #: Where the chunk index disagrees with the table or cannot be read: no record
    #: is lost by it (``recover`` rebuilds the index from the rows).
    index_problems: list[str] = field(default_factory=list)

    def shard(self, uid: int) -> Shard:
        found = self.shards.get(uid)
        if found is None:
            found = self.shards[uid] = Shard(uid)
        return found


def walk(
    conn: sqlite3.Connection, table: str, columns: str, advance: Advance | None = None
) -> Iterator[tuple[int, tuple[object, ...] | None]]:
    """``(rowid, row)`` of every row of ``table``; ``row`` is None when damage made
    it unreadable. Rows are read in batches, and one by one around damage."""
    top = _max_rowid(conn, table)
    after = 0
    while after < top:
        try:
            rows = conn.execute(
                f"SELECT rowid, {columns} FROM {table} WHERE rowid>? ORDER BY rowid LIMIT ?",
                (after, _BATCH),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            yield from _one_by_one(conn, table, columns, after + 1, min(after + _BATCH, top))
            after += _BATCH
        else:
            if not rows:
                break
            for rowid, *values in rows:
                yield rowid, tuple(values)
            after = rows[-1][0]
        if advance is not None:
            advance(min(after, top), top)


def _one_by_one(
    conn: sqlite3.Connection, table: str, columns: str, first: int, last: int
) -> Iterator[tuple[int, tuple[object, ...] | None]]:
    for rowid in range(first, last + 1):
        try:
            row = conn.execute(f"SELECT {columns} FROM {table} WHERE rowid=?", (rowid,)).fetchone()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            yield rowid, None
        else:
            if row is not None:
                yield rowid, tuple(row)


def _max_rowid(conn: sqlite3.Connection, table: str) -> int:
    """The largest rowid: from the table's b-tree; when its right edge is damaged, from
    its primary-key index; failing both, a bound no table can exceed (every row of
    Shardline's tables takes at least 20 bytes of some page)."""
    queries = (
        f"SELECT MAX(rowid) FROM {table}",
        f"SELECT MAX(rowid) FROM {table} INDEXED BY sqlite_autoindex_{table}_1",
    )
    for query in queries:
        try:
            (top,) = conn.execute(query).fetchone()
            return int(top or 0)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    return int(pages) * 200


def read_catalog(conn: sqlite3.Connection, found: Salvage) -> None:
    """The meta, kms_keys and streams tables, row by row."""
    for _, row in walk(conn, "meta", "key, value"):
        if row is None:
            found.problems.append("a row of the meta table is unreadable")
        else:
            found.meta[str(row[0])] = row[1]
    for _, row in walk(conn, "kms_keys", "ref, key_id"):
        if row is None:
            found.problems.append("a row of the kms_keys table (a key reference) is unreadable")
        else:
            found.kms_keys[int(row[0])] = str(row[1])  # type: ignore[call-overload]
    for _, row in walk(conn, "streams", "name, doc"):
        try:
            stream = Stream.from_doc(row[1]) if row is not None else None  # type: ignore[arg-type]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            stream = None
        if stream is None:
            name = f" (stream {row[0]})" if row is not None else ""
            found.problems.append(f"a stream's description{name} is unreadable")
            continue
        found.streams.append(stream)
        for shard in stream.shards.values():
            found.shard(shard.uid).trimmed_key = stream.trimmed_key


def read_chunks(
    conn: sqlite3.Connection,
    found: Salvage,
    unseal: Unsealer,
    keep: Keep,
    advance: Advance | None = None,
    columns_sql: str = COLUMNS,
) -> None:
    """Steps 1-3 of the module docstring, over the chunks table and its index."""
    for rowid, columns in walk(conn, "chunks", columns_sql, advance):
        if columns is None:
            found.unreadable.add(rowid)
            continue
        row = ChunkRow(*columns)  # type: ignore[arg-type]
        shard = found.shard(row.shard_uid)
        try:
            chunk = open_chunk(row, unseal)
        except ChunkFault as fault:
            shard.suspect[row.last_key] = fault.cause
            continue
        shard.links.append((row.last_key, row.first_key, row.prev_key, len(chunk.keys)))
        shard.records += len(chunk.keys)
        keep(chunk)
    for shard in list(found.shards.values()):
        _check_index(conn, found, shard)


def _check_index(conn: sqlite3.Connection, found: Salvage, shard: Shard) -> None:
    intact = {link[0] for link in shard.links}
    try:
        listed = conn.execute(
            "SELECT last_key, rowid FROM chunks WHERE shard_uid=? ORDER BY last_key", (shard.uid,)
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        found.index_problems.append(
            f"the chunk index is unreadable for shard uid {shard.uid} (recover rebuilds it)"
        )
        shard.damaged.update(shard.suspect)
        return
    keys = {key for key, _ in listed}
    for key, rowid in listed:
        if key not in intact:
            shard.damaged[key] = shard.suspect.pop(key, "its row is unreadable")
            found.unreadable.discard(rowid)
    found.unconfirmed += len(shard.suspect)
    stray = len(intact - keys)
    if stray:
        found.index_problems.append(
            f"the chunk index lacks {stray} intact chunks of shard uid {shard.uid} "
            "(recover rebuilds it)"
        )


def key_check(found: Salvage) -> bytes | None:
    """The master key check value the database stored, if it stored one."""
    value = found.meta.get("key_check")
    return value if isinstance(value, bytes) else None
