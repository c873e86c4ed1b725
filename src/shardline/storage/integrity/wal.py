"""Reading SQLite's write-ahead log before SQLite does, so no commit is dropped silently.

The format (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte header
(magic, version, page size, checkpoint sequence, two salts, a checksum of the first
24 bytes), then frames of a 24-byte header (page number, database size after the
commit or 0, the two salts, a checksum) and one page. Each frame's checksum is
cumulative: it continues from the previous frame's (the header's for frame 1) over
the frame header's first 8 bytes and the page, in 32-bit words of the byte order the
magic names. The salts change every time the log restarts from its beginning, which
is how frames of an older generation left further on in the file are told apart.

What SQLite does on open: it replays frames from the first while salts and checksums
hold, up to the last commit frame among them, and ignores everything after the first
frame that fails, commit frames included; the next write then overwrites them. That
is right for a torn tail (a crash while a transaction was being written: nothing in
it was acknowledged) and silently wrong when a frame in the middle was damaged later:
every transaction after it is dropped without a word. This module tells the two
apart, before SQLite opens the database:

1. Replay as SQLite would: ``valid`` is the last commit frame it will use.
2. Check every later frame of the same generation against the *stored* checksum of
   the frame before it. A frame that checks out is intact, just stranded behind a
   damaged one (``stranded``).
3. Read the wal-index (the ``-shm`` file, which survives a killed process) for the
   number of frames SQLite had committed (``mxFrame``) when it last wrote it.

Committed transactions would be lost, and the region refuses to start, when two or
more commit frames are stranded (power loss tears at most the one transaction being
written, so an earlier one was acknowledged), or when the wal-index of the same
generation records more committed frames than SQLite would replay (a damaged or
truncated log). One stranded commit with no wal-index to vouch for it is the torn
last transaction of a power loss, and is accepted.

``rechain`` writes a copy of the log in which the stranded frames follow the valid
ones with fresh checksums, so that ``shardline recover`` can replay them (the copy
only; the original is never written).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC_LITTLE = 0x377F0682
MAGIC_BIG = 0x377F0683
VERSION = 3007000
HEADER = 32
FRAME_HEADER = 24
_WORD = 0xFFFFFFFF
_BE = struct.Struct(">IIIIII")
_INDEX_HEADER = struct.Struct("=IIIBBHIIII8sII")
_BACKFILL = struct.Struct("=I")


@dataclass(frozen=True)
class Frame:
    """One frame: its 1-based number, the page it holds, and the database size in
    pages after it for a commit frame (0 otherwise)."""

    number: int
    page: int
    commit_size: int

    @property
    def is_commit(self) -> bool:
        return self.commit_size > 0


@dataclass(frozen=True)
class WalIndex:
    """What the wal-index (``-shm``) says: frames committed and frames checkpointed."""

    max_frame: int
    backfilled: int
    salts: bytes


@dataclass(frozen=True)
class WalScan:
    """What the log holds, and whether opening it would drop committed transactions."""

    path: Path
    page_size: int
    big_endian: bool
    salts: bytes
    header_intact: bool
    frames: int
    #: Frames SQLite replays (through the last commit of the intact prefix).
    valid: int
    #: Database size in pages after the last replayed commit (0: nothing replayed).
    db_pages: int
    #: Pages the replayed frames hold (they may lie beyond the database file's end).
    pages: frozenset[int]
    #: The first frame SQLite stops at (None: it replays to the end of the file).
    break_at: int | None
    stranded: tuple[Frame, ...]
    index: WalIndex | None

    @property
    def stranded_commits(self) -> int:
        return sum(1 for frame in self.stranded if frame.is_commit)

    @property
    def index_ahead(self) -> bool:
        """The wal-index of this generation recorded commits beyond what replays."""
        index = self.index
        if index is None or index.salts != self.salts or index.max_frame <= self.valid:
            return False
        # With nothing to replay, readers use the database file alone, which is
        # complete if every committed frame had been copied into it.
        return not (self.valid == 0 and index.backfilled >= index.max_frame)

    @property
    def loses_commits(self) -> bool:
        return self.stranded_commits >= 2 or self.index_ahead

    @property
    def lost_frames(self) -> int:
        """Committed frames that would be dropped (a lower bound when truncated)."""
        last_stranded = max((f.number for f in self.stranded if f.is_commit), default=0)
        recorded = self.index.max_frame if self.index_ahead and self.index else 0
        return max(last_stranded, recorded) - self.valid

    def describe(self) -> str:
        """Why opening this log would lose committed transactions (a clause whose
        subject is the log, which the caller names)."""
        if self.stranded_commits:
            return (
                f"it holds {self.lost_frames} committed frames "
                f"({self.stranded_commits} transactions) after a checksum break at frame "
                f"{self.break_at}, which SQLite would drop"
            )
        assert self.index is not None
        return (
            f"its intact frames end at frame {self.valid} but its wal-index "
            f"recorded {self.index.max_frame} committed frames: {self.lost_frames} "
            "committed frames are missing (the log was truncated or overwritten)"
        )


def checksum(data: bytes | memoryview, s0: int, s1: int, big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (a multiple of 8 bytes), continuing (s0, s1)."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    pairs = iter(words)
    for first, second in zip(pairs, pairs, strict=True):
        s0 = (s0 + first + s1) & _WORD
        s1 = (s1 + second + s0) & _WORD
    return s0, s1


def read_index(path: Path) -> WalIndex | None:
    """The wal-index header, if its two copies agree and its checksum holds."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(2 * _INDEX_HEADER.size + _BACKFILL.size)
    except OSError:
        return None
    if len(raw) < 2 * _INDEX_HEADER.size + _BACKFILL.size:
        return None
    first, second = raw[: _INDEX_HEADER.size], raw[_INDEX_HEADER.size : 2 * _INDEX_HEADER.size]
    (version, _, _, is_init, _, _, max_frame, _, _, _, salts, *stored) = _INDEX_HEADER.unpack(first)
    if first != second or version != VERSION or not is_init:
        return None
    native_big = struct.pack("=I", 1) == struct.pack(">I", 1)
    if checksum(first[:40], 0, 0, native_big) != tuple(stored):
        return None
    (backfilled,) = _BACKFILL.unpack_from(raw, 2 * _INDEX_HEADER.size)
    return WalIndex(max_frame, backfilled, salts)


def scan(wal_path: Path, page_size: int | None = None) -> WalScan | None:
    """Read the log at ``wal_path`` (None if it is absent or holds no frame).

    ``page_size`` is the database's (from its header); the log's own field is used
    when it is unknown. Error handling: an unreadable file raises ``OSError``.
    """
    if not wal_path.exists() or wal_path.stat().st_size < HEADER:
        return None
    with (
        wal_path.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
        memoryview(mapped) as data,
    ):
        return _scan(wal_path, data, page_size)


def _scan(path: Path, data: memoryview, page_size: int | None) -> WalScan:
    magic, version, own_page_size, _, salt1, salt2 = _BE.unpack_from(data)
    big_endian = magic == MAGIC_BIG
    size = page_size or own_page_size
    salts = bytes(data[16:24])
    stored = struct.unpack_from(">II", data, 24)
    header_intact = (
        magic in (MAGIC_LITTLE, MAGIC_BIG)
        and version == VERSION
        and own_page_size == size
        and checksum(data[:24], 0, 0, big_endian) == stored
    )
    frame_size = FRAME_HEADER + size
    frames = (len(data) - HEADER) // frame_size if size else 0
    index = read_index(path.with_name(path.name[: -len("-wal")] + "-shm"))
    valid, db_pages, pages, stop = 0, 0, set[int](), 1
    if header_intact:
        s0, s1 = stored
        seen: list[int] = []
        for number in range(1, frames + 1):
            head = _frame_head(data, number, frame_size)
            if head[2:4] != (salt1, salt2):
                break
            s0, s1 = _frame_sum(data, number, frame_size, s0, s1, big_endian)
            if (s0, s1) != head[4:6]:
                break
            seen.append(head[0])
            if head[1]:
                valid, db_pages = number, head[1]
                pages.update(seen)
                seen.clear()
            stop = number + 1
    stranded = tuple(_stranded(data, stop, frames, frame_size, (salt1, salt2), big_endian))
    return WalScan(
        path=path,
        page_size=size,
        big_endian=big_endian,
        salts=salts,
        header_intact=header_intact,
        frames=frames,
        valid=valid,
        db_pages=db_pages,
        pages=frozenset(pages),
        break_at=stop if stop <= frames else None,
        stranded=stranded,
        index=index,
    )


def _frame_head(data: memoryview, number: int, frame_size: int) -> tuple[int, ...]:
    return _BE.unpack_from(data, HEADER + (number - 1) * frame_size)


def _frame_sum(
    data: memoryview, number: int, frame_size: int, s0: int, s1: int, big_endian: bool
) -> tuple[int, int]:
    start = HEADER + (number - 1) * frame_size
    s0, s1 = checksum(data[start : start + 8], s0, s1, big_endian)
    return checksum(data[start + FRAME_HEADER : start + frame_size], s0, s1, big_endian)


def _stranded(
    data: memoryview,
    start: int,
    frames: int,
    frame_size: int,
    salts: tuple[int, int],
    big_endian: bool,
) -> Iterator[Frame]:
    """Frames from ``start`` on of this generation that check out against the stored
    checksum of the frame before them (the header's for frame 1)."""
    for number in range(start, frames + 1):
        head = _frame_head(data, number, frame_size)
        if head[2:4] != salts:
            continue
        if number == 1:
            s0, s1 = struct.unpack_from(">II", data, 24)
        else:
            s0, s1 = _frame_head(data, number - 1, frame_size)[4:6]
        if _frame_sum(data, number, frame_size, s0, s1, big_endian) == head[4:6]:
            yield Frame(number, head[0], head[1])


def page_of(wal_path: Path, scan_result: WalScan, number: int) -> bytes:
    """The page image frame ``number`` holds."""
    frame_size = FRAME_HEADER + scan_result.page_size
    with wal_path.open("rb") as handle:
        handle.seek(HEADER + (number - 1) * frame_size + FRAME_HEADER)
        return handle.read(scan_result.page_size)


def latest_frames(result: WalScan) -> dict[int, int]:
    """Page number → the last frame holding it, among the frames SQLite replays and
    the stranded ones (what the database would hold with every commit applied)."""
    frame_size = FRAME_HEADER + result.page_size
    numbers = [*range(1, result.valid + 1), *(f.number for f in result.stranded)]
    latest: dict[int, int] = {}
    with result.path.open("rb") as handle:
        for number in numbers:
            handle.seek(HEADER + (number - 1) * frame_size)
            (page,) = struct.unpack(">I", handle.read(4))
            latest[page] = number
    return latest


def rechain(source: Path, target: Path, result: WalScan) -> int:
    """Write to ``target`` a log SQLite will replay in full: the frames it replays
    now, then the stranded ones through the last stranded commit, every checksum
    recomputed. Returns the number of frames written. ``source`` is only read.
    """
    last_commit = max((f.number for f in result.stranded if f.is_commit), default=0)
    keep = list(range(1, result.valid + 1))
    keep += [f.number for f in result.stranded if f.number <= last_commit]
    size = result.page_size
    frame_size = FRAME_HEADER + size
    magic = MAGIC_BIG if result.big_endian else MAGIC_LITTLE
    with source.open("rb") as handle:
        raw = handle.read(HEADER)
        checkpoint_seq = struct.unpack_from(">I", raw, 12)[0]
        head = struct.pack(">IIII", magic, VERSION, size, checkpoint_seq) + result.salts
        s0, s1 = checksum(head, 0, 0, result.big_endian)
        with target.open("wb") as out:
            out.write(head + struct.pack(">II", s0, s1))
            for number in keep:
                handle.seek(HEADER + (number - 1) * frame_size)
                frame = handle.read(frame_size)
                s0, s1 = checksum(frame[:8], s0, s1, result.big_endian)
                s0, s1 = checksum(frame[FRAME_HEADER:], s0, s1, result.big_endian)
                out.write(frame[:8] + result.salts + struct.pack(">II", s0, s1))
                out.write(frame[FRAME_HEADER:])
    return len(keep)
