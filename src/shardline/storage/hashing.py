"""Partition-key hashing over Kinesis's 128-bit hash key space.

Kinesis maps a record to a shard by the MD5 of its partition key, read as an
unsigned 128-bit big-endian integer (or by an explicit hash key), and each shard
owns a contiguous, inclusive range of that space.
"""

from __future__ import annotations

import hashlib

MAX_HASH_KEY = 2**128 - 1


def hash_key(partition_key: str) -> int:
    """The 128-bit hash key Kinesis derives from ``partition_key``."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def hash_key_bytes(value: int) -> bytes:
    """A hash key as 16 big-endian bytes, which compare in the same order as the ints.

    Routing compares bytes because the MD5 digest already is one: no int conversion
    per record on the hot path.
    """
    return value.to_bytes(16, "big")


def even_ranges(count: int, start: int = 0, end: int = MAX_HASH_KEY) -> list[tuple[int, int]]:
    """Split ``[start, end]`` into ``count`` contiguous inclusive ranges of equal width.

    This is how Kinesis lays out the shards of a new stream (and the targets of
    uniform scaling): shard ``i`` of ``n`` starts at ``i * 2**128 // n``.
    """
    width = end - start + 1
    bounds = [start + (width * i) // count for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(count)]
