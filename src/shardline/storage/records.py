"""The data plane of a region: records in (PutRecords) and out (GetRecords, fan-out).

Write path (PutRecords), as numbered steps:

1. Resolve the stream (it must be ACTIVE or UPDATING) and check every entry's size
   and explicit hash key.
2. Route each record to the open shard owning its hash key and assign it the next
   sequence key of the stream's counter (monotonic, see ``sequence``). The
   per-record loops of steps 1 and 2 are in C (``_putroute``: ``hash_route`` and
   ``assign``); explicit hash keys take ``_explicit_routes`` here.
3. Count the record as *in flight* on its shard, hand all rows to the writer, and
   wait for the commit (group commit, fsync by default).
4. When the commit lands, move each shard's committed tip forward, clear the
   in-flight counts, and wake anyone waiting for new records.

Each chunk is stored with its CRC32C and the last key of the chunk before it in the
shard (``prev_key``), both taken in the writer thread inside the commit, so the chain
follows commit order even when a write fails and is rolled back.

Read path: a reader may only conclude that a *closed* shard is exhausted when no
write to it is still in flight, checked before it reads; otherwise a record acked a
moment later would be missed. Chunks come through ``scan.read_chunks``, which checks
each one; damage reaches the client as ``DamagedRecords`` (see ``damage.DamageReports``)
once the intact records before it have been served:

- a read that meets damaged records after some intact ones returns those, and its
  NextShardIterator points at the damage;
- a read that starts at damaged records answers ``InternalFailure`` naming the
  shard and the damaged range, every time, so nothing is skipped without the client
  being told; an iterator ``AFTER_SEQUENCE_NUMBER`` the range's end reads on.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

from shardline.errors import (
    InvalidArgumentException,
    KinesisError,
    ProvisionedThroughputExceededException,
    ValidationException,
)
from shardline.storage import chunks
from shardline.storage._putroute import assign, hash_route
from shardline.storage.catalog import Catalog, RouteTable, Shard, Stream, shard_id
from shardline.storage.checksum import chunk_crc
from shardline.storage.damage import DamageReports
from shardline.storage.engine import StorageEngine
from shardline.storage.entries import PutEntries
from shardline.storage.exceptions import ShardDamage
from shardline.storage.hashing import MAX_HASH_KEY, hash_key_bytes
from shardline.storage.keys import KeyRegistry
from shardline.storage.metrics import RegionMetrics
from shardline.storage.scan import ShardReader, read_chunks
from shardline.storage.sequence import (
    arrival_ms,
    key_for_time,
    next_key,
    now_ms,
    parse_sequence,
)
from shardline.storage.stored import OpenedChunk
from shardline.storage.throttle import ShardThrottle

#: A PutRecords request's records, partition keys included: 10 MiB since AWS raised the
#: record limit to 10 MiB (it was 5 MiB while records were at most 1 MiB).
MAX_PUT_RECORDS_BYTES = 10 * 1024 * 1024
MAX_GET_RECORDS_BYTES = 10 * 1024 * 1024


class PutOutcome(NamedTuple):
    """One record's result: a sequence key on a shard, or an error code and message."""

    shard_index: int = 0
    key: int = 0
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class PutReceipt:
    """Where a put call's records went, in the compact form the C loops produce.

    Record ``i`` went to ``table.shards[routes[i]]``. The stored (admitted) records have
    consecutive sequence keys from ``first_key``, in call order; ``admitted`` is None
    when every record was stored, else whether each one was (throttling).
    """

    routes: list[int]
    table: RouteTable
    first_key: int
    admitted: list[bool] | None
    stream_name: str
    account: str

    @property
    def failed(self) -> int:
        return 0 if self.admitted is None else self.admitted.count(False)

    def outcomes(self) -> Iterator[PutOutcome]:
        """Each record's outcome, one object per record: for the rare paths (a
        throttled record, CBOR's answer, PutRecord); PutRecords' JSON answer is
        rendered from the fields in C."""
        key = self.first_key
        for position, route in enumerate(self.routes):
            shard = self.table.shards[route]
            if self.admitted is not None and not self.admitted[position]:
                yield PutOutcome(
                    error_code="ProvisionedThroughputExceededException",
                    error_message=(
                        f"Rate exceeded for shard {shard.shard_id} in stream "
                        f"{self.stream_name} under account {self.account}."
                    ),
                )
                continue
            yield PutOutcome(shard.index, key)
            key += 1


#: A stored record as reads return it: ``(sequence key, partition key, data, encrypted)``.
StoredRecord = tuple[int, str, bytes, bool]


@dataclass(frozen=True)
class ReadResult:
    records: list[StoredRecord]
    next_position: int | None  # None: the closed shard is exhausted
    millis_behind: int
    children: list[Shard]
    #: Data plus partition key bytes of ``records`` (what the metrics count).
    size: int = 0


def _too_large(limit: int, number: int, single: bool) -> ValidationException:
    member = "data" if single else f"records.{number}.member.data"
    return ValidationException(
        f"1 validation error detected: Value at '{member}' failed to satisfy "
        f"constraint: Member must have length less than or equal to {limit}."
    )


class RecordLog:
    """Puts records into shards and reads them back, for one region.

    It finds streams in the ``catalog``, seals and opens records with the ``keys``,
    writes and reads chunks through the ``engine``, and turns damage into wire errors
    with ``damage``; ``throttle`` (None: unlimited) and ``metrics`` (None: not
    counted) are the region's, shared with nothing else.
    """

    def __init__(
        self,
        catalog: Catalog,
        engine: StorageEngine,
        keys: KeyRegistry,
        damage: DamageReports,
        *,
        throttle: ShardThrottle | None,
        metrics: RegionMetrics | None,
        verify_checksums: bool,
    ) -> None:
        self.catalog = catalog
        self.engine = engine
        self.keys = keys
        self.damage = damage
        self.throttle = throttle
        self.metrics = metrics
        self.verify_checksums = verify_checksums
        self._tip_waiters: dict[int, asyncio.Event] = {}

    async def put(
        self, name: str, entries: PutEntries, single: bool = False
    ) -> tuple[PutReceipt, Stream]:
        """Store a call's records; see the module doc.

        ``single`` names the call PutRecord in errors (member ``data``, not ``records.N``).
        """
        started = time.perf_counter()
        stream = self.catalog.readable(name)
        table = stream.routes()
        shards = table.shards
        if entries.explicit_hashes is None:
            encoded, routes, sizes = hash_route(entries.keys, entries.datas, table.starts)
            self._check_sizes(stream, sizes, single)
        else:
            encoded, routes, sizes = self._explicit_routes(stream, table, entries, single)
        total = sum(sizes)
        if total > MAX_PUT_RECORDS_BYTES:
            raise InvalidArgumentException(
                f"Records size exceeds {MAX_PUT_RECORDS_BYTES // (1024 * 1024)} MB limit"
            )
        admitted = None
        throttled: list[tuple[Shard, int]] = []
        if self.throttle is not None:
            admitted = self._admit([shards[route] for route in routes], sizes)
            throttled = [
                (shards[route], size)
                for route, size, ok in zip(routes, sizes, admitted, strict=True)
                if not ok
            ]
        stored = len(routes) - len(throttled)
        first = next_key(stream.last_key, now_ms())
        if stored:
            stream.last_key = first + stored - 1
        batches = [
            (shards[route], keys, partition_keys, payloads)
            for route, keys, partition_keys, payloads in assign(
                routes, len(shards), first, encoded, entries.datas, admitted
            )
        ]
        try:
            if batches:
                await self._commit(stream, batches)
        except KinesisError:
            self._count_put(stream, single, 0, 0, throttled, stored, started)
            raise
        size = total - sum(size for _, size in throttled)
        self._count_put(stream, single, stored, size, throttled, 0, started)
        if stream.shard_level_metrics:
            self._count_shards_in(stream, batches)
        receipt = PutReceipt(routes, table, first, admitted, stream.name, self.catalog.account)
        return receipt, stream

    def _check_sizes(self, stream: Stream, sizes: list[int], single: bool) -> None:
        """Refuse the call at its first record over the stream's record size limit."""
        limit = stream.max_record_size_kib * 1024
        if sizes and max(sizes) > limit:
            number = next(i for i, size in enumerate(sizes, 1) if size > limit)
            raise _too_large(limit, number, single)

    def _explicit_routes(
        self, stream: Stream, table: RouteTable, entries: PutEntries, single: bool
    ) -> tuple[list[bytes], list[int], list[int]]:
        """``hash_route``'s answer when some records name an explicit hash key; the
        first bad record, in order, fails."""
        assert entries.explicit_hashes is not None
        limit = stream.max_record_size_kib * 1024
        encoded: list[bytes] = []
        routes: list[int] = []
        sizes: list[int] = []
        for number, (key, data, explicit) in enumerate(
            zip(entries.keys, entries.datas, entries.explicit_hashes, strict=True), 1
        ):
            raw = key.encode("utf-8")
            size = len(raw) + len(data)
            if size > limit:
                raise _too_large(limit, number, single)
            if explicit is None:
                hashed = hashlib.md5(raw).digest()
            else:
                value = int(explicit)
                if value > MAX_HASH_KEY:
                    raise InvalidArgumentException(
                        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                        f"[0, 2^128-1]. Specified value was {explicit}"
                    )
                hashed = hash_key_bytes(value)
            encoded.append(raw)
            routes.append(table.route(hashed))
            sizes.append(size)
        return encoded, routes, sizes

    def _admit(self, shards: list[Shard], sizes: list[int]) -> list[bool]:
        """Which records the per-shard write limits let through (throttling on)."""
        throttle = self.throttle
        assert throttle is not None
        return [
            throttle.admit_write(shard.uid, size) for shard, size in zip(shards, sizes, strict=True)
        ]

    def _count_shards_in(
        self, stream: Stream, batches: Iterable[tuple[Shard, list[int], list[bytes], list[bytes]]]
    ) -> None:
        """Shard-level IncomingRecords and IncomingBytes of one committed call."""
        if self.metrics is None:
            return
        metrics = self.metrics.stream(stream.name)
        for shard, _, partition_keys, payloads in batches:
            counts = metrics.shard(shard.index)
            counts.incoming_records += len(payloads)
            counts.incoming_bytes += sum(map(len, payloads)) + sum(map(len, partition_keys))

    def _count_put(
        self,
        stream: Stream,
        single: bool,
        stored: int,
        size: int,
        throttled: list[tuple[Shard, int]],
        failed: int,
        started: float,
    ) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        counts = metrics.stream(stream.name)
        elapsed = time.perf_counter() - started
        counts.put(single, stored, size, len(throttled), failed, elapsed)
        if throttled and stream.shard_level_metrics:
            for shard, _ in throttled:
                counts.shard(shard.index).write_throttled += 1

    async def _commit(
        self,
        stream: Stream,
        batches: list[tuple[Shard, list[int], list[bytes], list[bytes]]],
    ) -> None:
        key_ref = 0
        if stream.encryption == "KMS" and stream.key_id is not None:
            key_ref = self.keys.refs[stream.key_id]
        rows = []
        for shard, keys, partition_keys, payloads in batches:
            blob = chunks.pack(keys, partition_keys, payloads)
            if key_ref:
                blob = self.keys.cipher.seal(stream.key_id or "", blob)
            rows.append((shard.uid, keys[-1], keys[0], key_ref, blob))
            shard.inflight += 1
        checked = self.verify_checksums

        def insert(conn: sqlite3.Connection) -> None:
            for uid, last_key, first_key, ref, blob in rows:
                crc = prev = None
                if checked:
                    (prev,) = conn.execute(
                        "SELECT MAX(last_key) FROM chunks WHERE shard_uid=?", (uid,)
                    ).fetchone()
                    prev = prev or 0
                    crc = chunk_crc(uid, first_key, last_key, ref, prev, blob)
                conn.execute(
                    "INSERT INTO chunks (shard_uid, last_key, first_key, key_ref, payload, crc, "
                    "prev_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (uid, last_key, first_key, ref, blob, crc, prev),
                )

        future = asyncio.ensure_future(self.engine.write(insert))

        def settle(done: asyncio.Future[None]) -> None:
            ok = not done.cancelled() and done.exception() is None
            for shard, keys, _, _ in batches:
                shard.inflight -= 1
                if ok and keys[-1] > shard.last_key:
                    shard.last_key = keys[-1]
                self.wake(shard)

        # The bookkeeping runs when the commit lands, even if the request is cancelled.
        future.add_done_callback(settle)
        await asyncio.shield(future)

    def wake(self, shard: Shard) -> None:
        """Wake everyone waiting on ``shard``'s tip (new records, or the shard closed)."""
        event = self._tip_waiters.pop(shard.uid, None)
        if event is not None:
            event.set()

    def tip_changed(self, shard: Shard) -> asyncio.Event:
        """An event set the next time ``shard`` gets committed records or closes out."""
        event = self._tip_waiters.get(shard.uid)
        if event is None:
            event = self._tip_waiters[shard.uid] = asyncio.Event()
        return event

    def position(
        self,
        stream: Stream,
        shard: Shard,
        kind: str,
        sequence: str | None,
        timestamp_s: float | None,
    ) -> int:
        """The first sequence key an iterator of ``kind`` reads; AWS's argument checks."""
        if kind in ("TRIM_HORIZON", "LATEST"):
            if sequence is not None:
                raise InvalidArgumentException(
                    "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
                    "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
                    f"StartingSequenceNumber. Request specified {kind} and also a "
                    "StartingSequenceNumber."
                )
            return 0 if kind == "TRIM_HORIZON" else shard.last_key + 1
        if kind == "AT_TIMESTAMP":
            if timestamp_s is None:
                raise InvalidArgumentException(
                    "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
                    "Current request has no timestamp parameter."
                )
            at_ms, current = int(timestamp_s * 1000), now_ms()
            if at_ms > current:
                raise InvalidArgumentException(
                    "The timestampInMillis parameter cannot be greater than the "
                    f"currentTimestampInMillis. timestampInMillis: {at_ms}, "
                    f"currentTimestampInMillis: {current}"
                )
            return key_for_time(at_ms)
        if sequence is None:
            raise InvalidArgumentException(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
                "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
                f"StartingSequenceNumber. Request specified {kind} and no StartingSequenceNumber."
            )
        parsed = parse_sequence(sequence)
        if parsed is None:
            raise InvalidArgumentException(
                f"StartingSequenceNumber {sequence} used in GetShardIterator on shard "
                f"{shard.shard_id} in stream {stream.name} under account "
                f"{self.catalog.account} is invalid."
            )
        key, index = parsed
        if index != shard.index:
            raise InvalidArgumentException(
                f"Invalid StartingSequenceNumber. It encodes {shard_id(index)}, while it was used "
                f"in a call to a shard with {shard.shard_id}"
            )
        if key < shard.created_key or (shard.closed_key is not None and key > shard.closed_key):
            raise InvalidArgumentException(
                f"StartingSequenceNumber {sequence} used in GetShardIterator on shard "
                f"{shard.shard_id} in stream {stream.name} under account {self.catalog.account} is "
                "invalid because it did not come from this stream."
            )
        return key if kind == "AT_SEQUENCE_NUMBER" else key + 1

    async def read(self, stream: Stream, shard: Shard, position: int, limit: int) -> ReadResult:
        """Up to ``limit`` records (and 10 MiB) of ``shard`` from sequence key ``position``."""
        if self.throttle is not None and not self.throttle.admit_read(shard.uid):
            self._count_read_throttled(stream, shard)
            raise ProvisionedThroughputExceededException(
                f"Rate exceeded for shard {shard.shard_id} in stream {stream.name} under "
                f"account {self.catalog.account}."
            )
        # Decided before reading: a closed shard with nothing in flight can gain no records.
        settled = shard.sealed and shard.inflight == 0
        reader = ShardReader(
            shard.uid,
            self.keys.unseal,
            lambda: stream.trimmed_key,
            self.verify_checksums,
        )

        def fetch(conn: sqlite3.Connection) -> tuple[list[StoredRecord], bool, int]:
            batch = _Batch(position, limit)
            try:
                read_chunks(conn, reader, position, batch.take)
            except ShardDamage:
                if not batch.records:
                    raise
                return batch.records, True, batch.size
            return batch.records, batch.full, batch.size

        try:
            records, more, size = await self.engine.read(fetch)
        except ShardDamage as damage:
            raise self.damage.error(stream, shard, damage) from None
        if self.throttle is not None:
            self.throttle.charge_read(shard.uid, sum(len(r[2]) for r in records))
        next_position = records[-1][0] + 1 if records else position
        behind = max(0, now_ms() - arrival_ms(records[-1][0])) if more else 0
        if not records and settled:
            return ReadResult(records, None, behind, stream.children_of(shard.index), size)
        return ReadResult(records, next_position, behind, [], size)

    def _count_read_throttled(self, stream: Stream, shard: Shard) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        counts = metrics.stream(stream.name)
        counts.read_throttled += 1
        if stream.shard_level_metrics:
            counts.shard(shard.index).read_throttled += 1

    def count_read(
        self, stream: Stream, shard: Shard, result: ReadResult, started: float | None
    ) -> None:
        """Count records that went out: a GetRecords answer (``started``: when the call
        began) or a fan-out event (``started`` None)."""
        metrics = self.metrics
        if metrics is None:
            return
        counts = metrics.stream(stream.name)
        records, behind = len(result.records), result.millis_behind
        if started is None:
            counts.subscribe_event(records, result.size, behind)
        else:
            counts.get_records(records, result.size, behind, time.perf_counter() - started)
        if stream.shard_level_metrics:
            counts.read_out(shard.index, records, result.size, behind)


class _Batch:
    """Collects a GetRecords answer from checked chunks: records from ``position`` on,
    at most ``limit`` of them and 10 MiB (the first record always fits)."""

    def __init__(self, position: int, limit: int) -> None:
        self.position = position
        self.limit = limit
        self.records: list[StoredRecord] = []
        self.size = 0
        self.full = False

    def take(self, chunk: OpenedChunk) -> bool:
        records, limit = self.records, self.limit
        encrypted = bool(chunk.row.key_ref)
        first = bisect.bisect_left(chunk.keys, self.position)
        last = min(len(chunk.keys), first + limit - len(records) + 1)
        piece_keys = chunk.keys[first:last]
        piece_pks = chunk.partition_keys[first:last]
        piece_data = chunk.payloads[first:last]
        piece_size = sum(map(len, piece_data)) + sum(map(len, piece_pks))
        if len(records) + len(piece_keys) <= limit and (
            self.size + piece_size <= MAX_GET_RECORDS_BYTES
        ):
            # The common case: the whole rest of the chunk fits.
            self.size += piece_size
            records.extend(zip(piece_keys, piece_pks, piece_data, repeat(encrypted)))
            return False
        for key, partition_key, data in zip(piece_keys, piece_pks, piece_data, strict=True):
            item = len(data) + len(partition_key)
            if len(records) == limit or (records and self.size + item > MAX_GET_RECORDS_BYTES):
                self.full = True
                return True
            self.size += item
            records.append((key, partition_key, data, encrypted))
        return False
