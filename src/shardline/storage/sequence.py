"""Sequence numbers: how a record's position is written on the wire.

Inside storage a record's position in its shard is a *sequence key*, a 64-bit
integer ``arrival_ms << 16 | counter``. The key is assigned from one counter per
stream that never goes backwards (``max(last + 1, now_ms << 16)``), which gives:

- strictly increasing keys within a shard, surviving restarts;
- child shards' keys always above their parents' (resharding keeps order);
- the approximate arrival timestamp for free (``key >> 16``), and ``AT_TIMESTAMP``
  iterators as a plain key bound, with no timestamp index.

On the wire a sequence number is 56 decimal digits, ``49`` + the key (24 digits) + the
shard index (30 digits): fixed width, so string order equals numeric order, and
numeric order follows arrival across shards. The shard index in the low digits lets
the server refuse a sequence number from another shard, as AWS does.
"""

from __future__ import annotations

import time

COUNTER_BITS = 16
MAX_KEY = (1 << 63) - 1
_PREFIX = "49"
_KEY_DIGITS = 24
_WIDTH = 56


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def key_for_time(epoch_ms: int) -> int:
    """The smallest key a record arriving at ``epoch_ms`` can have."""
    return max(epoch_ms, 0) << COUNTER_BITS


def arrival_ms(key: int) -> int:
    return key >> COUNTER_BITS


def next_key(last_key: int, epoch_ms: int) -> int:
    return max(last_key + 1, epoch_ms << COUNTER_BITS)


def sequence_prefix() -> str:
    """The constant head of every sequence number; followed by the key in 24 digits."""
    return _PREFIX


def shard_suffix(shard_index: int) -> str:
    """The constant tail of every sequence number of one shard."""
    return f"{shard_index:0{_WIDTH - len(_PREFIX) - _KEY_DIGITS}d}"


def format_sequence(key: int, shard_index: int) -> str:
    return f"{_PREFIX}{key:0{_KEY_DIGITS}d}{shard_suffix(shard_index)}"


def parse_sequence(text: str) -> tuple[int, int] | None:
    """``(key, shard_index)`` for a sequence number this server issued, else ``None``."""
    if len(text) != _WIDTH or not text.isdigit() or not text.startswith(_PREFIX):
        return None
    split = len(_PREFIX) + _KEY_DIGITS
    key = int(text[len(_PREFIX) : split])
    if key > MAX_KEY:
        return None
    return key, int(text[split:])
