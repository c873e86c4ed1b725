"""Streams and shards as the region keeps them in memory and on disk.

A stream is persisted as one document (``streams.doc``) written through the storage
engine whenever its metadata changes; records live in the ``chunks`` table under
their shard's ``uid``. Runtime-only facts (a shard's last committed key, writes in
flight) are rebuilt from the chunks table at start-up.

:class:`Catalog` holds a region's streams by name: the control plane (``region``),
the data plane (``records``) and the consumers (``consumers``) each find streams
through it, with AWS's errors, and persist them through it, so none of them needs
the others or the whole region.
"""

from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from shardline.errors import ResourceNotFoundException
from shardline.storage.engine import StorageEngine
from shardline.storage.hashing import hash_key_bytes
from shardline.storage.sequence import arrival_ms, format_sequence, shard_suffix

StreamStatus = Literal["CREATING", "DELETING", "ACTIVE", "UPDATING"]
StreamMode = Literal["PROVISIONED", "ON_DEMAND"]

ON_DEMAND_INITIAL_SHARDS = 4
DEFAULT_RETENTION_HOURS = 24
DEFAULT_MAX_RECORD_SIZE_KIB = 1024


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


MAX_SHARD_INDEX = 2**31 - 1


def parse_shard_id(text: str) -> int | None:
    """The shard index a ShardId names, read as AWS reads it.

    AWS takes the number after the last ``-`` (or the whole text when it is all
    digits): ``shardId-000000000007``, ``shardId-7`` and ``7`` all name shard 7.
    """
    digits = text.rsplit("-", 1)[-1]
    if not digits.isdigit():
        return None
    index = int(digits)
    return index if index <= MAX_SHARD_INDEX else None


@dataclass
class Shard:
    index: int
    uid: int
    start_hash: int
    end_hash: int
    created_key: int
    closed_key: int | None = None
    parent: int | None = None
    adjacent_parent: int | None = None
    # runtime only
    last_key: int = 0
    inflight: int = 0
    #: The close is on disk; only then may a reader report the end of the shard.
    sealed: bool = False

    @property
    def shard_id(self) -> str:
        return shard_id(self.index)

    @property
    def is_open(self) -> bool:
        return self.closed_key is None

    @property
    def created_ms(self) -> int:
        return arrival_ms(self.created_key)

    @property
    def starting_sequence(self) -> str:
        return format_sequence(self.created_key, self.index)

    @property
    def ending_sequence(self) -> str | None:
        return None if self.closed_key is None else format_sequence(self.closed_key, self.index)

    def open_at(self, epoch_ms: int) -> bool:
        """Whether the shard accepted writes at ``epoch_ms``."""
        created = self.created_ms
        closed = None if self.closed_key is None else arrival_ms(self.closed_key)
        return created <= epoch_ms and (closed is None or closed > epoch_ms)

    def to_doc(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "uid": self.uid,
            "start": str(self.start_hash),
            "end": str(self.end_hash),
            "created": self.created_key,
            "closed": self.closed_key,
            "parent": self.parent,
            "adjacent": self.adjacent_parent,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Shard:
        return cls(
            sealed=doc["closed"] is not None,
            index=doc["index"],
            uid=doc["uid"],
            start_hash=int(doc["start"]),
            end_hash=int(doc["end"]),
            created_key=doc["created"],
            closed_key=doc["closed"],
            parent=doc["parent"],
            adjacent_parent=doc["adjacent"],
        )


@dataclass(frozen=True)
class SplitChange:
    """An accepted SplitShard: ``shard`` splits at ``new_start`` (already validated)."""

    shard: int
    new_start: int


@dataclass(frozen=True)
class MergeChange:
    """An accepted MergeShards: ``shard`` and the ``adjacent`` one above it merge."""

    shard: int
    adjacent: int


@dataclass(frozen=True)
class ScaleChange:
    """An accepted UpdateShardCount (UNIFORM_SCALING) to ``target`` open shards."""

    target: int


#: A lineage change accepted while the stream turns UPDATING; it takes effect when the
#: stream becomes ACTIVE again (see ``Region._become_active``).
Reshard = SplitChange | MergeChange | ScaleChange


def reshard_to_doc(change: Reshard | None) -> dict[str, Any] | None:
    """The change as stored in a stream document (hash keys as text: they need 128 bits)."""
    if isinstance(change, SplitChange):
        return {"split": change.shard, "at": str(change.new_start)}
    if isinstance(change, MergeChange):
        return {"merge": change.shard, "with": change.adjacent}
    if isinstance(change, ScaleChange):
        return {"scale": change.target}
    return None


def reshard_from_doc(doc: dict[str, Any] | None) -> Reshard | None:
    if doc is None:
        return None
    if "split" in doc:
        return SplitChange(doc["split"], int(doc["at"]))
    if "merge" in doc:
        return MergeChange(doc["merge"], doc["with"])
    return ScaleChange(doc["scale"])


@dataclass
class Consumer:
    """An enhanced fan-out consumer registered on a stream."""

    name: str
    created_s: int
    status: Literal["CREATING", "DELETING", "ACTIVE"] = "CREATING"
    tags: dict[str, str] = field(default_factory=dict)
    #: A resource policy (JSON text), e.g. to let another account subscribe.
    resource_policy: str | None = None

    def arn(self, stream_arn: str) -> str:
        return f"{stream_arn}/consumer/{self.name}:{self.created_s}"

    def to_doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.created_s,
            "status": self.status,
            "tags": self.tags,
            "policy": self.resource_policy,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Consumer:
        return cls(
            name=doc["name"],
            created_s=doc["created"],
            status=doc["status"],
            tags=doc.get("tags", {}),
            resource_policy=doc.get("policy"),
        )


@dataclass(frozen=True, slots=True)
class RouteTable:
    """The open shards ordered by starting hash key, with what a put needs of each.

    Built once per change of the open shards, not per call: the starting hash keys
    (16 big-endian bytes, as ``_putroute.hash_route`` takes them) and each shard's
    sequence-number tail and id (as ``_recordwire.render_put_results`` takes them; a
    stream may have thousands of shards). A route is an index into these lists. Never
    changed in place, so a put keeps the table it started with across its commit.
    """

    shards: list[Shard]
    starts: list[bytes]
    suffixes: list[str]
    shard_ids: list[str]

    @classmethod
    def of(cls, shards: list[Shard]) -> RouteTable:
        ordered = sorted(shards, key=lambda s: s.start_hash)
        return cls(
            shards=ordered,
            starts=[hash_key_bytes(s.start_hash) for s in ordered],
            suffixes=[shard_suffix(s.index) for s in ordered],
            shard_ids=[s.shard_id for s in ordered],
        )

    def route(self, hash_key: bytes) -> int:
        """The route whose range holds ``hash_key`` (16 big-endian bytes)."""
        return bisect.bisect_right(self.starts, hash_key) - 1


@dataclass
class Stream:
    name: str
    arn: str
    created_ms: int
    mode: StreamMode
    status: StreamStatus = "CREATING"
    retention_hours: int = DEFAULT_RETENTION_HOURS
    encryption: Literal["NONE", "KMS"] = "NONE"
    key_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    shard_level_metrics: list[str] = field(default_factory=list)
    max_record_size_kib: int = DEFAULT_MAX_RECORD_SIZE_KIB
    shards: dict[int, Shard] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    resource_policy: str | None = None
    next_shard_index: int = 0
    last_key: int = 0
    #: Chunks with keys below this may have been deleted by retention (see ``scan``).
    trimmed_key: int = 0
    #: A lineage change waiting for the stream to become ACTIVE.
    pending: Reshard | None = None
    #: Warm throughput of an on-demand stream (MiB/s): the target asked for, and what
    #: the stream is scaled to now (the target, once the update completes).
    warm_target_mibps: int | None = None
    warm_current_mibps: int | None = None
    # runtime only: whether the stream ever became ACTIVE (one deleted while CREATING
    # never listed its shards)
    ever_active: bool = field(default=False, repr=False)
    # runtime only: routing table of the open shards
    _routes: RouteTable = field(default_factory=lambda: RouteTable.of([]), repr=False)

    def open_shards(self) -> list[Shard]:
        return [s for s in self.shards.values() if s.is_open]

    def rebuild_routes(self) -> None:
        """Recompute the open-shard routing table after shards opened or closed."""
        self._routes = RouteTable.of(self.open_shards())

    def routes(self) -> RouteTable:
        """The routing table of the open shards, as it is now."""
        return self._routes

    def children_of(self, index: int) -> list[Shard]:
        return [s for s in self.shards.values() if s.parent == index or s.adjacent_parent == index]

    def to_doc(self) -> bytes:
        return orjson.dumps(
            {
                "name": self.name,
                "arn": self.arn,
                "created": self.created_ms,
                "mode": self.mode,
                "status": self.status,
                "retention": self.retention_hours,
                "encryption": self.encryption,
                "key_id": self.key_id,
                "tags": self.tags,
                "metrics": self.shard_level_metrics,
                "max_record_kib": self.max_record_size_kib,
                "shards": [s.to_doc() for s in self.shards.values()],
                "consumers": [c.to_doc() for c in self.consumers.values()],
                "policy": self.resource_policy,
                "next_shard": self.next_shard_index,
                "last_key": self.last_key,
                "trimmed": self.trimmed_key,
                "pending": reshard_to_doc(self.pending),
                "warm": [self.warm_target_mibps, self.warm_current_mibps],
            }
        )

    @classmethod
    def from_doc(cls, raw: bytes) -> Stream:
        doc = orjson.loads(raw)
        shards = [Shard.from_doc(s) for s in doc["shards"]]
        consumers = [Consumer.from_doc(c) for c in doc.get("consumers", [])]
        stream = cls(
            name=doc["name"],
            arn=doc["arn"],
            created_ms=doc["created"],
            mode=doc["mode"],
            status=doc["status"],
            retention_hours=doc["retention"],
            encryption=doc["encryption"],
            key_id=doc["key_id"],
            tags=doc["tags"],
            shard_level_metrics=doc["metrics"],
            max_record_size_kib=doc["max_record_kib"],
            shards={s.index: s for s in shards},
            consumers={c.name: c for c in consumers},
            resource_policy=doc.get("policy"),
            next_shard_index=doc["next_shard"],
            last_key=doc["last_key"],
            trimmed_key=doc.get("trimmed", 0),
            pending=reshard_from_doc(doc.get("pending")),
            ever_active=doc["status"] != "CREATING",
        )
        stream.warm_target_mibps, stream.warm_current_mibps = doc.get("warm", [None, None])
        stream.rebuild_routes()
        return stream


class Catalog:
    """A region's streams by name: found with AWS's errors, persisted through the engine.

    It runs on the event loop thread, like everything that reads ``streams``. Shard
    uids come from one counter for the whole region (a deleted stream's uids are
    never reused, so no chunk row can be taken for a new shard's), saved with every
    stream document.
    """

    def __init__(self, engine: StorageEngine, account: str, arn_prefix: str) -> None:
        """``arn_prefix``: the ARN of a stream of this region up to its name."""
        self._engine = engine
        self.account = account
        self._arn_prefix = arn_prefix
        self.streams: dict[str, Stream] = {}
        self._next_uid = 1

    def load(self, conn: sqlite3.Connection) -> None:
        """Rebuild the streams from disk (start-up), each shard's tip from its chunks."""
        row = conn.execute("SELECT value FROM meta WHERE key='next_uid'").fetchone()
        self._next_uid = int(row[0]) if row else 1
        for (doc,) in conn.execute("SELECT doc FROM streams"):
            stream = Stream.from_doc(doc)
            for shard in stream.shards.values():
                (tip,) = conn.execute(
                    "SELECT MAX(last_key) FROM chunks WHERE shard_uid=?", (shard.uid,)
                ).fetchone()
                shard.last_key = max(tip or 0, shard.created_key)
                stream.last_key = max(stream.last_key, shard.last_key, shard.closed_key or 0)
                self._next_uid = max(self._next_uid, shard.uid + 1)
            self.streams[stream.name] = stream

    def new_uid(self) -> int:
        """A shard uid never used in this region (saved by the next ``persist``)."""
        uid = self._next_uid
        self._next_uid += 1
        return uid

    def not_found(self, name: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Stream {name} under account {self.account} not found.")

    def name_in_arn(self, arn: str) -> str:
        """The stream name in a stream ARN; an ARN of another region or account names
        no stream here (``ResourceNotFoundException`` with the ARN's last part)."""
        if not arn.startswith(self._arn_prefix):
            raise self.not_found(arn.rsplit("/", 1)[-1])
        return str(arn[len(self._arn_prefix) :])

    def describe(self, name: str) -> Stream:
        """Any stream that exists, whatever its status."""
        stream = self.streams.get(name)
        if stream is None:
            raise self.not_found(name)
        return stream

    def readable(self, name: str) -> Stream:
        """A stream that serves records: ACTIVE or UPDATING."""
        stream = self.describe(name)
        if stream.status in ("CREATING", "DELETING"):
            raise self.not_found(name)
        return stream

    async def persist(self, stream: Stream) -> None:
        """Write ``stream``'s document and the uid counter in one commit.

        The document is queued before the first yield, so writes queued after this
        call commit after it (``Region._become_active`` relies on that). On failure
        the engine's error reaches the caller and the memory state is left as it is.
        """
        doc = stream.to_doc()
        next_uid = self._next_uid

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO streams VALUES (?, ?)", (stream.name, doc))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('next_uid', ?)", (next_uid,))

        await self._engine.write(save)
