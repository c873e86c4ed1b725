"""Just enough of SQLite's b-tree page format to find chunk rows in a raw page.

When the write-ahead log holds committed frames SQLite would drop, those pages
cannot be read through SQLite. To say which streams and shards would lose records,
the pages themselves are read: a table leaf page (type 13) holds chunk rows, whose
record starts with four integers (shard uid, last key, first key, key reference) and
a blob, and stream rows (a name and a JSON description, which may continue on
overflow pages); a leaf page of the chunk index (type 10) holds ``(shard uid, last
key, rowid)``. See https://www.sqlite.org/fileformat2.html#b_tree_pages.

Error handling: a page that is not a leaf, or a cell that does not parse, yields
nothing (these pages may be damaged); nothing here raises on bad input.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

_TABLE_LEAF = 0x0D
_INDEX_LEAF = 0x0A
_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}

#: The newest image of a page by number (None when it cannot be had).
PageReader = Callable[[int], bytes | None]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A SQLite varint at ``at``: (value, offset after it)."""
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


def _record_ints(data: bytes, at: int, columns: int) -> tuple[list[int], list[int]]:
    """Serial types of a record at ``at`` and the values of its leading integer columns."""
    header_size, cursor = _varint(data, at)
    end = at + header_size
    types: list[int] = []
    while cursor < end:
        kind, cursor = _varint(data, cursor)
        types.append(kind)
    values: list[int] = []
    for kind in types[:columns]:
        if kind in (8, 9):
            values.append(kind - 8)
            continue
        size = _INT_SIZES.get(kind)
        if size is None:
            break
        values.append(int.from_bytes(data[end : end + size], "big", signed=True))
        end += size
    return types, values


def chunk_keys(page: bytes, page_number: int) -> Iterator[tuple[int, int]]:
    """``(shard uid, last key)`` of every chunk row or chunk-index entry on a leaf page."""
    base = 100 if page_number == 1 else 0
    if len(page) < base + 8 or page[base] not in (_TABLE_LEAF, _INDEX_LEAF):
        return
    table = page[base] == _TABLE_LEAF
    (cells,) = struct.unpack_from(">H", page, base + 3)
    for i in range(cells):
        try:
            (pointer,) = struct.unpack_from(">H", page, base + 8 + 2 * i)
            _, at = _varint(page, pointer)
            if table:
                _, at = _varint(page, at)  # the rowid
            types, values = _record_ints(page, at, 4 if table else 3)
        except (IndexError, struct.error):
            continue
        chunk_row = len(types) >= 5 and len(values) == 4 and types[4] >= 12 and types[4] % 2 == 0
        index_entry = len(types) == 3 and len(values) == 3
        if chunk_row if table else index_entry:
            yield values[0], values[1]


def text_blob_rows(
    page: bytes, page_number: int, read_page: PageReader
) -> Iterator[tuple[str, bytes]]:
    """``(text, blob)`` of every two-column row on a table leaf page (stream rows are
    such; so are meta rows), following overflow pages through ``read_page``."""
    base = 100 if page_number == 1 else 0
    if len(page) < base + 8 or page[base] != _TABLE_LEAF:
        return
    (cells,) = struct.unpack_from(">H", page, base + 3)
    for i in range(cells):
        try:
            (pointer,) = struct.unpack_from(">H", page, base + 8 + 2 * i)
            size, at = _varint(page, pointer)
            _, at = _varint(page, at)  # the rowid
            payload = _payload(page, at, size, read_page)
            if payload is None:
                continue
            header_size, cursor = _varint(payload, 0)
            first, cursor = _varint(payload, cursor)
            second, cursor = _varint(payload, cursor)
        except (IndexError, struct.error):
            continue
        if cursor == header_size and first >= 13 and first % 2 and second >= 12 and not second % 2:
            text_end = header_size + (first - 13) // 2
            blob_end = text_end + (second - 12) // 2
            try:
                yield payload[header_size:text_end].decode(), payload[text_end:blob_end]
            except UnicodeDecodeError:
                continue


def _payload(page: bytes, at: int, size: int, read_page: PageReader) -> bytes | None:
    """A table-leaf cell's whole payload: its local part, then its overflow chain."""
    usable = len(page)
    most = usable - 35
    if size <= most:
        return page[at : at + size]
    least = (usable - 12) * 32 // 255 - 23
    local = least + (size - least) % (usable - 4)
    local = local if local <= most else least
    data = bytearray(page[at : at + local])
    (next_page,) = struct.unpack_from(">I", page, at + local)
    while len(data) < size and next_page:
        overflow = read_page(next_page)
        if overflow is None or len(overflow) < usable:
            return None
        data += overflow[4 : 4 + min(usable - 4, size - len(data))]
        (next_page,) = struct.unpack_from(">I", overflow, 0)
    return bytes(data) if len(data) == size else None
