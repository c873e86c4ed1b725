"""Shard lineage changes: split, merge, and uniform scaling built from both.

Every change closes parent shards at one sequence key and opens children just above
it, so a reader that finishes a parent and moves to its children never misses or
reorders a record. The region decides *when* a change is applied (when the stream
becomes ACTIVE, ``Region._become_active``); this module only applies it.

Uniform scaling (UpdateShardCount) is done the way Kinesis does it, as a series of
splits and merges, so lineage stays two-parents-at-most and every consumer that
understands split and merge understands scaling too. The intermediate shards it
creates are closed at once and hold no records.
"""

from __future__ import annotations

from collections.abc import Callable

from shardline.storage.catalog import MergeChange, Reshard, Shard, SplitChange, Stream
from shardline.storage.hashing import even_ranges
from shardline.storage.sequence import next_key, now_ms

UidAllocator = Callable[[], int]


def _tick(stream: Stream) -> int:
    stream.last_key = next_key(stream.last_key, now_ms())
    return stream.last_key


def _open_child(
    stream: Stream,
    new_uid: UidAllocator,
    start: int,
    end: int,
    parent: int,
    adjacent: int | None,
    created_key: int,
) -> Shard:
    child = Shard(
        index=stream.next_shard_index,
        uid=new_uid(),
        start_hash=start,
        end_hash=end,
        created_key=created_key,
        parent=parent,
        adjacent_parent=adjacent,
        last_key=created_key,
    )
    stream.next_shard_index += 1
    stream.shards[child.index] = child
    return child


def split(stream: Stream, shard: Shard, new_start: int, new_uid: UidAllocator) -> list[Shard]:
    """Close ``shard`` and open two children split at ``new_start`` (caller validated it)."""
    shard.closed_key = _tick(stream)
    created = _tick(stream)
    low = _open_child(stream, new_uid, shard.start_hash, new_start - 1, shard.index, None, created)
    high = _open_child(stream, new_uid, new_start, shard.end_hash, shard.index, None, created)
    stream.rebuild_routes()
    return [low, high]


def merge(stream: Stream, shard: Shard, adjacent: Shard, new_uid: UidAllocator) -> Shard:
    """Close two adjacent shards and open one child covering both ranges."""
    closed = _tick(stream)
    shard.closed_key = adjacent.closed_key = closed
    start = min(shard.start_hash, adjacent.start_hash)
    end = max(shard.end_hash, adjacent.end_hash)
    child = _open_child(stream, new_uid, start, end, shard.index, adjacent.index, _tick(stream))
    stream.rebuild_routes()
    return child


def scale_uniformly(stream: Stream, target: int, new_uid: UidAllocator) -> None:
    """Reshape the open shards into ``target`` shards of equal hash-range width.

    1. Split every open shard at each target boundary that falls strictly inside it.
    2. For each target range, merge the pieces that now tile it, left to right.
    """
    targets = even_ranges(target)
    boundaries = [start for start, _ in targets[1:]]
    for shard in sorted(stream.open_shards(), key=lambda s: s.start_hash):
        current = shard
        for boundary in boundaries:
            if current.start_hash < boundary <= current.end_hash:
                current = split(stream, current, boundary, new_uid)[1]
    for start, end in targets:
        pieces = sorted(
            (s for s in stream.open_shards() if start <= s.start_hash and s.end_hash <= end),
            key=lambda s: s.start_hash,
        )
        merged = pieces[0]
        for piece in pieces[1:]:
            merged = merge(stream, merged, piece, new_uid)


def apply(stream: Stream, change: Reshard, new_uid: UidAllocator) -> None:
    """Carry out an accepted change (its arguments were checked when it was accepted,
    and a stream with a pending change accepts no other)."""
    if isinstance(change, SplitChange):
        split(stream, stream.shards[change.shard], change.new_start, new_uid)
    elif isinstance(change, MergeChange):
        merge(stream, stream.shards[change.shard], stream.shards[change.adjacent], new_uid)
    else:
        scale_uniformly(stream, change.target, new_uid)
