"""Sequence numbers: how a record's position is written on the wire.

Inside storage a record's position in its shard is a *sequence key*, a 64-bit
integer ``arrival_ms << 16 | counter``. The key is assigned from one counter per
stream that never goes backwards (``max(last + 1, now_ms << 16)``), which gives:

- strictly increasing keys within a shard, surviving restarts;
- child shards' keys always above their parents' (resharding keeps order);
- the approximate arrival timestamp for free (``key >> 16``), and ``AT_TIMESTAMP``
  iterators as a plain key bound, with no timestamp index.

On the wire a sequence number is the 56-digit decimal ``BASE + (key << 24 | shard
index)``, fixed width so that string order equals numeric order. The shard index in
the low bits lets the server refuse a sequence number from another shard, as AWS does.
"""

from __future__ import annotations

import time

COUNTER_BITS = 16
SHARD_BITS = 24
_SHARD_MASK = (1 << SHARD_BITS) - 1
_BASE = 49 * 10**54
_WIDTH = 56
MAX_KEY = (1 << 63) - 1


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def key_for_time(epoch_ms: int) -> int:
    """The smallest key a record arriving at ``epoch_ms`` can have."""
    return max(epoch_ms, 0) << COUNTER_BITS


def arrival_ms(key: int) -> int:
    return key >> COUNTER_BITS


def next_key(last_key: int, epoch_ms: int) -> int:
    return max(last_key + 1, epoch_ms << COUNTER_BITS)


def format_sequence(key: int, shard_index: int) -> str:
    return str(_BASE + ((key << SHARD_BITS) | shard_index))


def parse_sequence(text: str) -> tuple[int, int] | None:
    """``(key, shard_index)`` for a sequence number this server issued, else ``None``."""
    if len(text) != _WIDTH or not text.isdigit():
        return None
    value = int(text) - _BASE
    if value < 0:
        return None
    key = value >> SHARD_BITS
    if key > MAX_KEY:
        return None
    return key, value & _SHARD_MASK
