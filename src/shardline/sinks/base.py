"""The idempotent sink model and the interface every backend implements.

A sink keeps two tables and changes both in one atomic step per record:

- the **items** table holds the latest state of each item (a ticker's price, an
  account's balance): its attributes, ``event_time``, the ``record_id`` that set it
  and ``last_updated_region``;
- the **ledger** holds every record id the sink has accepted (with item key, event
  time, region and ``applied_at``), so a drill can prove that each acknowledged record
  reached the sink exactly once and count the duplicate deliveries it absorbed.

The write protocol, per record, all or nothing:

1. Insert the record id into the ledger unless it is there. If it is, the outcome is
   DUPLICATE and nothing else happens: replays, producer re-sends and the copies a
   standby region reads after failover all change nothing.
2. Otherwise upsert the item if it is absent or the stored version is older. Versions
   are ordered by ``(event_time, record_id)``: the later event wins and equal event
   times are decided by the greater record id, so every region and every replay order
   converges on the same item. The outcome is APPLIED.
3. If the stored version is newer, the item stays as it is; the ledger entry is kept
   and the outcome is STALE.

Why event time and not arrival order: after a failover the standby consumer starts
earlier than the failure and re-reads records the primary already applied, in a
different interleaving; only a version carried by the record itself is the same
everywhere. Why a ledger as well as the condition: the condition alone cannot tell a
replay from an out-of-order record, and a drill needs to count both.
"""

from __future__ import annotations

import abc
import enum
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from shardline.consumer.records import ConsumerRecord
from shardline.framing import envelope
from shardline.sinks.exceptions import (
    InvalidSinkRecordError,
    MissingRecordIdError,
    SinkClosedError,
)

#: Names the sinks use for their own columns; DynamoDB stores attributes next to them.
RESERVED_ATTRIBUTES = frozenset({"item_key", "event_time", "record_id", "last_updated_region"})

#: Limits that every backend can honour: DynamoDB nests at most 32 levels and keys are
#: at most 2,048 bytes; orjson and PostgreSQL ``BIGINT`` stop at 64-bit integers.
_MAX_DEPTH = 32
_MAX_KEY_CHARS = 512
_INT64 = 2**63

ParsedPayload = tuple[str, int, Mapping[str, Any]]
"""What a payload parser returns: ``(item_key, event_time_ms, attributes)``."""


class WriteOutcome(enum.Enum):
    """What writing one record did."""

    APPLIED = "applied"  #: ledger entry added, item created or replaced
    STALE = "stale"  #: ledger entry added, the item already held a newer version
    DUPLICATE = "duplicate"  #: the record id was in the ledger: nothing changed


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidSinkRecordError(f"attributes nest deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise InvalidSinkRecordError(f"integer attribute {value} exceeds 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidSinkRecordError(f"attribute value {value} is not a JSON number")
    elif isinstance(value, list):
        for element in value:
            _check_json(element, depth + 1)
    elif isinstance(value, dict):
        for key, element in value.items():
            if not isinstance(key, str):
                raise InvalidSinkRecordError(f"attribute name {key!r} is not a string")
            _check_json(element, depth + 1)
    else:
        raise InvalidSinkRecordError(
            f"attribute value of type {type(value).__name__} is not plain JSON"
        )


def _check_key(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value or len(value) > _MAX_KEY_CHARS:
        raise InvalidSinkRecordError(
            f"{name} must be a non-empty string of at most {_MAX_KEY_CHARS} characters, "
            f"got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One change for the sink: set item ``item_key`` to ``attributes`` as of ``event_time``.

    ``record_id`` is the producer-assigned id (the same in every region and every
    re-send); ``event_time`` is milliseconds since the epoch, an integer so that every
    backend compares it exactly; ``region`` is the region whose consumer writes it and
    becomes the item's ``last_updated_region``. ``attributes`` must be plain JSON (str,
    int, float, bool, None, list, dict with str keys) without the reserved names
    ``item_key``, ``event_time``, ``record_id``, ``last_updated_region``, so a record
    stores identically in every backend. Invalid records raise
    :class:`InvalidSinkRecordError` when constructed, never half-way through a batch.

    Example::

        SinkRecord("AMZN", record_id, 1_700_000_000_000, {"price": 178.25}, "us-east-1")
    """

    item_key: str
    record_id: str
    event_time: int
    attributes: Mapping[str, Any]
    region: str

    def __post_init__(self) -> None:
        _check_key("item_key", self.item_key)
        _check_key("record_id", self.record_id)
        _check_key("region", self.region)
        if (
            not isinstance(self.event_time, int)
            or isinstance(self.event_time, bool)
            or not 0 <= self.event_time < _INT64
        ):
            raise InvalidSinkRecordError(
                f"event_time must be a non-negative integer (ms), got {self.event_time!r}"
            )
        if not isinstance(self.attributes, Mapping):
            raise InvalidSinkRecordError("attributes must be a mapping")
        clash = RESERVED_ATTRIBUTES.intersection(self.attributes)
        if clash:
            raise InvalidSinkRecordError(f"attribute names {sorted(clash)} are reserved")
        _check_json(dict(self.attributes))

    @classmethod
    def from_consumer_record(
        cls,
        record: ConsumerRecord,
        region: str,
        parse: Callable[[bytes], ParsedPayload],
    ) -> SinkRecord:
        """Build the sink record for a consumed record.

        The record id comes from the producer's envelope (see
        :mod:`shardline.framing.envelope`), ``parse`` turns the payload behind it into
        ``(item_key, event_time_ms, attributes)``, and ``region`` is the consuming
        region. Raises :class:`MissingRecordIdError` when the record has no envelope:
        a sequence number would not do, because it differs between regions and the
        copies read after a failover would not be recognised.
        """
        decoded = envelope.decode(record.data)
        if decoded.record_id is None:
            raise MissingRecordIdError(
                f"record {record.sequence_number} has no record id; create the producer "
                "with ProducerConfig(record_ids=True)"
            )
        item_key, event_time, attributes = parse(decoded.payload)
        return cls(item_key, decoded.record_id, event_time, attributes, region)


@dataclass(frozen=True, slots=True)
class SinkItem:
    """The stored state of one item, as :meth:`IdempotentSink.get_item` returns it."""

    item_key: str
    attributes: dict[str, Any]
    event_time: int
    record_id: str
    last_updated_region: str


@dataclass(frozen=True, slots=True)
class SinkCounts:
    """How many records one sink instance wrote with each outcome since it was created."""

    applied: int = 0
    stale: int = 0
    duplicates: int = 0


_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")


def quoted_table_name(name: str) -> str:
    """``name`` as a quoted SQL identifier; ValueError unless it is a plain table name.

    Table names cannot be bound as parameters, so they are checked here instead: at
    most 63 characters (PostgreSQL's limit) of letters, digits, ``_``, ``.`` and ``-``.
    """
    if not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"unusable table name {name!r}")
    return f'"{name}"'


def now_ms() -> int:
    """Wall-clock milliseconds for ``applied_at``: for people reading the ledger only,
    never compared by the write protocol."""
    return time.time_ns() // 1_000_000


class IdempotentSink(abc.ABC):
    """A store that applies each record at most once and keeps the newest version of
    each item (see the module docstring for the protocol).

    Use it as ``async with sink: await sink.write(batch)``. :meth:`write` takes a batch
    for throughput; each record in it is written as if alone, in batch order, so
    outcomes do not depend on how records are grouped into batches.

    Resource handling: :meth:`open` creates the tables when absent and connects;
    :meth:`close` releases the connection and is safe to call twice.

    Error handling: backends raise :class:`SinkUnavailableError` when the store cannot
    be reached; then any part of the batch may be stored, and writing it again is safe.
    """

    def __init__(self) -> None:
        self._is_open = False
        self._applied = 0
        self._stale = 0
        self._duplicates = 0

    @property
    def counts(self) -> SinkCounts:
        """Outcomes of this instance's writes so far (other instances count their own)."""
        return SinkCounts(self._applied, self._stale, self._duplicates)

    async def open(self) -> None:
        """Create the tables if needed and connect; calling it again does nothing."""
        if not self._is_open:
            await self._open()
            self._is_open = True

    async def close(self) -> None:
        """Disconnect; the sink cannot be used afterwards, calling it again does nothing."""
        if self._is_open:
            self._is_open = False
            await self._close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _require_open(self) -> None:
        if not self._is_open:
            raise SinkClosedError(f"{type(self).__name__} is not open; call open() first")

    async def write(self, batch: Sequence[SinkRecord]) -> list[WriteOutcome]:
        """Write ``batch``; the outcome of each record, in the batch's order."""
        self._require_open()
        if not batch:
            return []
        outcomes = await self._write(batch)
        for outcome in outcomes:
            if outcome is WriteOutcome.APPLIED:
                self._applied += 1
            elif outcome is WriteOutcome.STALE:
                self._stale += 1
            else:
                self._duplicates += 1
        return outcomes

    async def get_item(self, item_key: str) -> SinkItem | None:
        """The stored state of ``item_key`` (a strongly consistent read), or None."""
        self._require_open()
        return await self._get_item(item_key)

    async def ledger_ids(self) -> set[str]:
        """Every record id in the ledger, for drills that reconcile what was acknowledged
        with what arrived. Reads the whole ledger: meant for verification, not hot paths."""
        self._require_open()
        return await self._ledger_ids()

    @abc.abstractmethod
    async def _open(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    @abc.abstractmethod
    async def _write(self, batch: Sequence[SinkRecord]) -> list[WriteOutcome]: ...

    @abc.abstractmethod
    async def _get_item(self, item_key: str) -> SinkItem | None: ...

    @abc.abstractmethod
    async def _ledger_ids(self) -> set[str]: ...
