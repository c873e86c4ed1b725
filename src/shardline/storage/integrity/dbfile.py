"""The database file's 100-byte header, and whether the file is whole.

SQLite answers a damaged header with "file is not a database" and a truncated file
with "database disk image is malformed", the same at every restart and with no word
on which file or what to do. Checking first turns both into a sentence naming the
file and the cause (https://www.sqlite.org/fileformat2.html#the_database_header).

A file is truncated when some page of the database lies neither in the file nor in
the frames the write-ahead log will replay. The size comes from the log's last
replayed commit when there is one, else from the header's page count (trusted only
while its "version valid for" field matches the change counter, as SQLite does).

``repair_copy`` restores the fixed header fields and the missing length in a *copy*,
so that ``shardline recover`` can read what survives.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from shardline.storage.integrity.wal import WalScan

MAGIC = b"SQLite format 3\x00"
HEADER = 100
DEFAULT_PAGE_SIZE = 4096
#: Bytes 18-23: file format write/read versions (2: WAL), reserved space, and the
#: payload fractions, which SQLite requires to be 64, 32 and 32.
_FIXED = bytes([2, 2, 0, 64, 32, 32])
_FORMAT_VERSIONS = (1, 2)


@dataclass(frozen=True)
class DatabaseFile:
    """What the header says and the file holds; ``problem`` is None when sound."""

    path: Path
    page_size: int | None
    file_pages: int
    problem: str | None


def _page_size(header: bytes) -> int | None:
    (raw,) = struct.unpack_from(">H", header, 16)
    size = 65536 if raw == 1 else raw
    return size if 512 <= size <= 65536 and size & (size - 1) == 0 else None


def inspect(path: Path, wal: WalScan | None) -> DatabaseFile | None:
    """Check the database at ``path`` (None when it does not exist or is empty).

    Error handling: an unreadable file raises ``OSError`` (the caller words it).
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(HEADER)
    page_size = _page_size(header) if len(header) == HEADER else None
    if len(header) < HEADER or header[:16] != MAGIC:
        return DatabaseFile(path, page_size, 0, "its header is damaged (no SQLite signature)")
    if (
        page_size is None
        or header[18] not in _FORMAT_VERSIONS
        or header[19] not in _FORMAT_VERSIONS
        or header[21:24] != _FIXED[3:]
    ):
        return DatabaseFile(path, page_size, 0, "its header is damaged (invalid format fields)")
    file_pages = size // page_size
    expected = _expected_pages(header, file_pages, wal)
    in_wal = sum(1 for p in wal.pages if p > file_pages) if wal is not None else 0
    missing = max(0, expected - file_pages - in_wal)
    if size % page_size or missing:
        have = f"{size / page_size:.1f}" if size % page_size else str(file_pages)
        return DatabaseFile(
            path,
            page_size,
            file_pages,
            f"it is truncated: it holds {have} of its {expected} pages of {page_size} bytes "
            f"({missing or 1} missing)",
        )
    return DatabaseFile(path, page_size, file_pages, None)


def _expected_pages(header: bytes, file_pages: int, wal: WalScan | None) -> int:
    if wal is not None and wal.db_pages:
        return wal.db_pages
    counter, in_header = struct.unpack_from(">II", header, 24)
    (valid_for,) = struct.unpack_from(">I", header, 92)
    return in_header if in_header and counter == valid_for else file_pages


def repair_copy(path: Path, page_size: int, wal_pages: int) -> None:
    """Make the copy at ``path`` openable: restore the header's fixed fields and page
    size, and zero-fill it to the pages the header or the log name (so that the
    missing pages read as damaged pages, not as an unopenable file). A page count
    far beyond the file is taken for damage and replaced. Never call this on an
    original."""
    with path.open("r+b") as handle:
        header = bytearray(handle.read(HEADER).ljust(HEADER, b"\0"))
        file_pages = handle.seek(0, 2) // page_size
        (in_header,) = struct.unpack_from(">I", header, 28)
        plausible = in_header if in_header <= 2 * file_pages + 1024 else 0
        pages = max(file_pages, wal_pages, plausible, 1)
        header[:24] = MAGIC + struct.pack(">H", 1 if page_size == 65536 else page_size) + _FIXED
        header[28:32] = struct.pack(">I", pages)
        header[92:96] = header[24:28]  # "version valid for": makes SQLite trust the count
        handle.seek(0)
        handle.write(header)
        if handle.seek(0, 2) < pages * page_size:
            handle.truncate(pages * page_size)
