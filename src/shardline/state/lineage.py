"""State across resharding: which shard holds a key's newest value.

Kinesis splits and merges shards by hash range, and a partition key always lives
in the shard whose range holds MD5(key). State keyed by partition key therefore
follows the data with no user code:

- **split**: each child starts with the parent's final keyed state restricted to
  its own hash range (:func:`inherit`);
- **merge**: the child starts with the union of both parents' keyed state (their
  ranges are disjoint, so no key is in both);
- the whole-processor ``value`` cannot be divided by range: each child gets
  ``combine([parent values])``, by default the first parent's value
  (``StatefulProcessor.combine_values`` overrides it).

A set of checkpoints spanning a lineage (a snapshot taken after a reshard, or the
latest checkpoints of every shard) is flattened the same way by
:func:`merged_keyed`: parents first, each child replacing its range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shardline.framing.aggregation import hash_key_of
from shardline.state.checkpoints import Restored
from shardline.state.keyed import KeyedState

Combine = Callable[[list[Any]], Any]


def first_value(values: list[Any]) -> Any:
    """The default way to combine whole-processor values: the first that is not None."""
    return next((value for value in values if value is not None), None)


def inherit(
    parents: Sequence[Restored], hash_range: tuple[int, int] | None, combine: Combine
) -> tuple[KeyedState, Any]:
    """A child shard's starting state from its parents' final checkpoints."""
    keyed: dict[str, Any] = {}
    for parent in parents:
        if hash_range is None:
            keyed.update(parent.keyed.as_dict())
        else:
            keyed.update(parent.keyed.in_range(*hash_range))
    return KeyedState(keyed), combine([parent.value for parent in parents])


def _depth(shard_id: str, restored: Mapping[str, Restored], seen: frozenset[str]) -> int:
    parents = [p for p in restored[shard_id].manifest.parents if p in restored and p not in seen]
    return 1 + max((_depth(p, restored, seen | {shard_id}) for p in parents), default=0)


def merged_keyed(restored: Mapping[str, Restored]) -> KeyedState:
    """Every key's newest value across a set of shard checkpoints of one stream."""
    merged: dict[str, Any] = {}
    for shard_id in sorted(restored, key=lambda s: (_depth(s, restored, frozenset()), s)):
        checkpoint = restored[shard_id]
        hash_range = checkpoint.manifest.hash_range
        if hash_range is not None:
            low, high = hash_range
            merged = {k: v for k, v in merged.items() if not low <= hash_key_of(k) <= high}
        merged.update(checkpoint.keyed.as_dict())
    return KeyedState(merged)


def frontier(restored: Mapping[str, Restored]) -> list[str]:
    """The shards of the set that no other shard of the set names as a parent."""
    parents = {p for checkpoint in restored.values() for p in checkpoint.manifest.parents}
    return sorted(shard for shard in restored if shard not in parents)


def resume_time(restored: Mapping[str, Restored], buffer: dt.timedelta) -> dt.datetime | None:
    """Where another region should start reading (AT_TIMESTAMP) to miss nothing.

    Each frontier shard contributes the arrival time of the last record its state
    reflects (a shard with none yet, its parents'); the earliest of these minus
    ``buffer`` (for clock skew between regions and replication reordering) is the
    answer. None means some shard reflects no record at all: start at TRIM_HORIZON.
    Records between that time and each shard's own position are processed again.
    """
    times: list[dt.datetime] = []
    for shard_id in frontier(restored):
        manifest = restored[shard_id].manifest
        arrival = manifest.last_arrival
        if arrival is None:
            inherited = [
                restored[p].manifest.last_arrival for p in manifest.parents if p in restored
            ]
            arrival = max((t for t in inherited if t is not None), default=None)
        if arrival is None:
            return None
        times.append(arrival)
    return min(times) - buffer if times else None
