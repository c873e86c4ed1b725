"""A chunk as its row stores it, and the checks it passes before its records are served.

Every path that hands out records (GetRecords, fan-out, ``verify``, ``recover``)
opens chunks through :func:`open_chunk`, so they all agree on what "intact" means:

1. The CRC32C of the row (``checksum.chunk_crc``) matches the stored one. A row
   written before checksums existed has none; its layout is proved consistent
   instead (``chunks.unpack_checked``).
2. An encrypted chunk opens: its key reference is known and AES-GCM authenticates.
3. Its records' keys begin and end at the row's first and last key.

Any failure is a ``ChunkFault`` saying which check failed; nothing half-checked is
returned. With ``verify=False`` (only for the benchmark that measures what the checks
cost) nothing is checked.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from shardline.storage import chunks
from shardline.storage.checksum import chunk_crc
from shardline.storage.crypto import Unsealer
from shardline.storage.exceptions import ChunkFault

#: The columns of a chunk row, in ``ChunkRow`` order.
COLUMNS = "shard_uid, last_key, first_key, key_ref, payload, crc, prev_key"


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """One row of the ``chunks`` table."""

    shard_uid: int
    last_key: int
    first_key: int
    key_ref: int
    payload: bytes
    #: CRC32C of the row; None for a row written before checksums (or unchecked).
    crc: int | None
    #: Last key of the chunk before this one in the shard (0: none); None if unknown.
    prev_key: int | None


@dataclass(frozen=True, slots=True)
class OpenedChunk:
    """A chunk's records, checked: keys, partition keys and payloads in key order."""

    row: ChunkRow
    keys: array  # type: ignore[type-arg]
    partition_keys: list[str]
    payloads: list[bytes]


def row_crc(row: ChunkRow, prev_key: int) -> int:
    return chunk_crc(row.shard_uid, row.first_key, row.last_key, row.key_ref, prev_key, row.payload)


def open_chunk(row: ChunkRow, unseal: Unsealer, verify: bool = True) -> OpenedChunk:
    """The records of ``row`` after the checks in the module docstring.

    Error handling: ``ChunkFault`` names the first check that failed.
    """
    if verify and row.crc is not None and row_crc(row, row.prev_key or 0) != row.crc:
        raise ChunkFault("checksum mismatch")
    blob = unseal(row.key_ref, row.payload) if row.key_ref else row.payload
    if verify and row.crc is None:
        keys, partition_keys, payloads = chunks.unpack_checked(blob)
    else:
        try:
            keys, partition_keys, payloads = chunks.unpack(blob)
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            raise ChunkFault("malformed chunk") from exc
    if verify and (not keys or keys[0] != row.first_key or keys[-1] != row.last_key):
        raise ChunkFault("its records' keys do not match its row")
    return OpenedChunk(row, keys, partition_keys, payloads)
