"""The checkpoint manifest: the one small object that makes a checkpoint exist.

A checkpoint of a shard is two objects, written in this order:

1. ``<id>.state``: the serialized state, sealed (see :mod:`crypto`) with the
   manifest's content as associated data;
2. ``<id>.manifest``: JSON with the id, the shard, the position the state
   reflects (and that record's arrival time), the shard's lineage (parents, hash
   range), the state object's name and size, and the encryption envelope (key id,
   wrapped data key).

The manifest is written last, atomically, so a checkpoint without one never
happened: a crash between the steps leaves an orphaned state object that pruning
removes and nothing reads. Snapshots copy both objects unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from shardline.consumer.positions import Position
from shardline.state.exceptions import StateIntegrityError

FORMAT_VERSION = 1
MANIFEST_SUFFIX = ".manifest"
STATE_SUFFIX = ".state"


def object_name(checkpoint_id: int, suffix: str) -> str:
    """Zero-padded so that names sort in id order in any listing."""
    return f"{checkpoint_id:012d}{suffix}"


def parse_id(name: str) -> tuple[int, str] | None:
    """``(id, suffix)`` of an object name made by :func:`object_name`, else None."""
    stem, dot, suffix = name.rpartition("/")[2].partition(".")
    if not dot or not stem.isdigit():
        return None
    return int(stem), "." + suffix


@dataclass(frozen=True, kw_only=True)
class ShardCheckpoint:
    """Where one shard's checkpoint stands: the facts a manifest records and a
    snapshot lists for each of its shards (:class:`~shardline.state.snapshots.SnapshotShard`)."""

    shard_id: str
    checkpoint_id: int
    position: Position
    last_arrival: dt.datetime | None
    finished: bool
    parents: tuple[str, ...]
    hash_range: tuple[int, int] | None
    keys: int
    state_size: int

    def standing(self) -> dict[str, Any]:
        """The JSON of the position and lineage fields (both formats spell them so)."""
        return {
            "position": {"sequence": self.position.sequence, "sub": self.position.sub},
            "last_arrival": self.last_arrival.isoformat() if self.last_arrival else None,
            "finished": self.finished,
            "parents": list(self.parents),
            "hash_range": [str(v) for v in self.hash_range] if self.hash_range else None,
            "keys": self.keys,
        }

    @staticmethod
    def parse_standing(raw: dict[str, Any]) -> dict[str, Any]:
        """The fields :meth:`standing` wrote, as keyword arguments (KeyError,
        TypeError or ValueError if they are not there)."""
        arrival, hash_range = raw["last_arrival"], raw["hash_range"]
        return {
            "position": Position(raw["position"]["sequence"], int(raw["position"]["sub"])),
            "last_arrival": dt.datetime.fromisoformat(arrival) if arrival else None,
            "finished": bool(raw["finished"]),
            "parents": tuple(raw["parents"]),
            "hash_range": (int(hash_range[0]), int(hash_range[1])) if hash_range else None,
            "keys": int(raw["keys"]),
        }


@dataclass(frozen=True, kw_only=True)
class Manifest(ShardCheckpoint):
    """What one checkpoint holds and where its state is."""

    application: str
    created: dt.datetime
    encryption: dict[str, Any] = field(default_factory=dict)

    @property
    def state_name(self) -> str:
        return object_name(self.checkpoint_id, STATE_SUFFIX)

    @property
    def manifest_name(self) -> str:
        return object_name(self.checkpoint_id, MANIFEST_SUFFIX)

    def _content(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "application": self.application,
            "shard_id": self.shard_id,
            "checkpoint_id": self.checkpoint_id,
            "created": self.created.isoformat(),
            **self.standing(),
            "state": {"name": self.state_name, "size": self.state_size},
        }

    def associated_data(self) -> bytes:
        """Everything but the envelope, canonically: what the state's tag covers."""
        return orjson.dumps(self._content(), option=orjson.OPT_SORT_KEYS)

    def to_bytes(self) -> bytes:
        return orjson.dumps({**self._content(), "encryption": self.encryption})

    def with_encryption(self, envelope: dict[str, Any]) -> Manifest:
        return replace(self, encryption=envelope)

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly summary (for ``snapshot describe`` and tooling)."""
        content = self._content()
        content["key_id"] = self.encryption.get("key_id")
        content["algorithm"] = self.encryption.get("algorithm")
        return content

    @classmethod
    def parse(cls, data: bytes, what: str) -> Manifest:
        """Read a manifest; StateIntegrityError if it is not one."""
        try:
            raw = orjson.loads(data)
            if raw["format"] != FORMAT_VERSION:
                raise StateIntegrityError(
                    f"{what} has format {raw['format']}; this Shardline reads {FORMAT_VERSION}"
                )
            return cls(
                application=raw["application"],
                shard_id=raw["shard_id"],
                checkpoint_id=int(raw["checkpoint_id"]),
                created=dt.datetime.fromisoformat(raw["created"]),
                **cls.parse_standing(raw),
                state_size=int(raw["state"]["size"]),
                encryption=dict(raw["encryption"]),
            )
        except StateIntegrityError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StateIntegrityError(f"{what} is not a readable manifest: {exc!r}") from exc
