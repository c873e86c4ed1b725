"""Record chunks: how a shard's records are laid out on disk.

A PutRecords call stores one *chunk* per shard it touches, not one row per record:
the sequence keys, partition keys and payloads of its records packed into a single
blob. That turns a 500-record request into a handful of row writes and lets a
GetRecords call read thousands of records with a few row reads, so neither path
pays per-record database overhead. Chunks of one shard never overlap in key range,
and the table's primary key is ``(shard_uid, last_key)``, so "every record at or
after key k" is one index range scan.

Layout (little-endian)::

    u32 count | i64 keys[count] | u32 pk_len[count] | u32 data_len[count] | pks | data

Encrypted streams seal the whole blob (one AES-GCM operation per chunk). Each row
also carries a CRC32C (``checksum``), checked before a chunk is unpacked; a chunk
without one (written before checksums existed) is unpacked with ``unpack_checked``,
which proves the layout consistent instead.
"""

from __future__ import annotations

import struct
import sys
from array import array
from itertools import accumulate, pairwise

from shardline.storage.exceptions import ChunkFault

_COUNT = struct.Struct("<I")
_SWAP = sys.byteorder != "little"


def _to_bytes(values: array) -> bytes:  # type: ignore[type-arg]
    if _SWAP:
        values.byteswap()
    return values.tobytes()


def _from_bytes(code: str, raw: bytes) -> array:  # type: ignore[type-arg]
    values = array(code)
    values.frombytes(raw)
    if _SWAP:
        values.byteswap()
    return values


def pack(keys: list[int], partition_keys: list[bytes], payloads: list[bytes]) -> bytes:
    """Pack parallel lists of sequence keys, UTF-8 partition keys and payloads."""
    return b"".join(
        (
            _COUNT.pack(len(keys)),
            _to_bytes(array("q", keys)),
            _to_bytes(array("I", map(len, partition_keys))),
            _to_bytes(array("I", map(len, payloads))),
            b"".join(partition_keys),
            b"".join(payloads),
        )
    )


def unpack(blob: bytes) -> tuple[array, list[str], list[bytes]]:  # type: ignore[type-arg]
    """The keys, partition keys and payloads of a chunk, in key order."""
    (count,) = _COUNT.unpack_from(blob)
    at = _COUNT.size
    keys = _from_bytes("q", blob[at : at + 8 * count])
    at += 8 * count
    pk_lengths = _from_bytes("I", blob[at : at + 4 * count])
    at += 4 * count
    data_lengths = _from_bytes("I", blob[at : at + 4 * count])
    at += 4 * count
    pk_offsets = list(accumulate(pk_lengths, initial=at))
    at = pk_offsets[-1]
    data_offsets = list(accumulate(data_lengths, initial=at))
    partition_keys = [blob[pk_offsets[i] : pk_offsets[i + 1]].decode() for i in range(count)]
    payloads = [blob[data_offsets[i] : data_offsets[i + 1]] for i in range(count)]
    return keys, partition_keys, payloads


def unpack_checked(blob: bytes) -> tuple[array, list[str], list[bytes]]:  # type: ignore[type-arg]
    """``unpack`` for a chunk no checksum vouches for: every length must add up, keys
    must rise and partition keys must be UTF-8, or ``ChunkFault`` says it is malformed."""
    if len(blob) < _COUNT.size:
        raise ChunkFault("malformed chunk: shorter than its header")
    (count,) = _COUNT.unpack_from(blob)
    lengths_end = _COUNT.size + 16 * count
    if count == 0 or lengths_end > len(blob):
        raise ChunkFault("malformed chunk: record count does not fit the chunk")
    pk_lengths = _from_bytes("I", blob[_COUNT.size + 8 * count : _COUNT.size + 12 * count])
    data_lengths = _from_bytes("I", blob[_COUNT.size + 12 * count : lengths_end])
    if lengths_end + sum(pk_lengths) + sum(data_lengths) != len(blob):
        raise ChunkFault("malformed chunk: record lengths do not add up to its size")
    try:
        keys, partition_keys, payloads = unpack(blob)
    except UnicodeDecodeError:
        raise ChunkFault("malformed chunk: a partition key is not UTF-8") from None
    if any(a >= b for a, b in pairwise(keys)):
        raise ChunkFault("malformed chunk: sequence keys out of order")
    return keys, partition_keys, payloads
