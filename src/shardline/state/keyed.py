"""The state a record processor keeps: keyed state plus one whole-processor value.

``KeyedState`` is a dict-like store whose keys are *partition keys* (strings) and
whose values are JSON values (what orjson serialises: dict, list, str, int, float,
bool, None; tuples come back as lists). Keying state by the record's partition key
is what lets it follow the data through resharding: Kinesis routes a key to the
shard whose hash range holds MD5(key), and :meth:`KeyedState.in_range` uses the
same rule to hand a parent's keys to its children.

``ShardState`` is what a processor sees for its shard: ``keyed``, ``value`` (any
JSON value the processor wants to keep as a whole, e.g. a running total or a
model) and the position the state reflects, which only the runtime advances.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shardline.consumer.positions import TRIM_HORIZON_POSITION, Position
from shardline.consumer.records import ConsumerRecord
from shardline.framing.aggregation import hash_key_of
from shardline.state.exceptions import StateIntegrityError


class KeyedState(MutableMapping[str, Any]):
    """Per-partition-key values, a plain dict underneath for speed.

    Example::

        state.keyed[record.partition_key] = state.keyed.get(record.partition_key, 0) + 1
    """

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = data if data is not None else {}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def as_dict(self) -> dict[str, Any]:
        """The underlying dict (not a copy)."""
        return self._data

    def in_range(self, start: int, end: int) -> dict[str, Any]:
        """The entries whose partition-key hash lies in ``[start, end]`` (inclusive)."""
        return {key: value for key, value in self._data.items() if start <= hash_key_of(key) <= end}


@dataclass
class ShardState:
    """One shard's state and the source position it reflects.

    ``position`` is the last record applied (records at or before it are skipped
    on resume); ``last_arrival`` is that record's ApproximateArrivalTimestamp, kept
    so another region can resume by time.
    """

    shard_id: str
    keyed: KeyedState = field(default_factory=KeyedState)
    value: Any = None
    position: Position = TRIM_HORIZON_POSITION
    last_arrival: dt.datetime | None = None
    finished: bool = False

    def applied(self, record: ConsumerRecord) -> None:
        """Advance to ``record`` (called by the runtime right after applying it)."""
        self.position = record.position
        self.last_arrival = record.approximate_arrival_timestamp

    def serialize(self) -> bytes:
        """The state as bytes; this is the consistent cut a checkpoint stores."""
        return orjson.dumps({"keyed": self.keyed.as_dict(), "value": self.value})


def deserialize(payload: bytes, what: str) -> tuple[KeyedState, Any]:
    """Keyed state and value from :meth:`ShardState.serialize` output."""
    try:
        loaded = orjson.loads(payload)
        keyed = loaded["keyed"]
        if not isinstance(keyed, dict):
            raise TypeError("keyed state is not an object")
        return KeyedState(keyed), loaded.get("value")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StateIntegrityError(f"{what} does not hold readable state: {exc}") from exc
