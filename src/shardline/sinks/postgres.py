"""The sink in PostgreSQL, through psycopg 3.

One transaction per batch; each record is one statement, so the whole batch travels in
one round trip (psycopg's pipeline mode, which ``executemany`` uses) while each record
still sees the ones before it::

    WITH ledger AS (INSERT INTO <ledger> … ON CONFLICT (record_id) DO NOTHING
                    RETURNING record_id),
         item   AS (INSERT INTO <items> … SELECT … FROM ledger
                    ON CONFLICT (item_key) DO UPDATE SET …
                    WHERE (item.event_time, item.record_id)
                          < (EXCLUDED.event_time, EXCLUDED.record_id)
                    RETURNING 1)
    SELECT EXISTS (SELECT FROM ledger), EXISTS (SELECT FROM item)

The item is upserted only from the ledger row the same statement inserted, so a known
record id changes nothing (DUPLICATE); a new id whose update the ``WHERE`` refuses is
STALE. Concurrent writers are safe under READ COMMITTED: a second insert of the same
record id waits for the first transaction and then does nothing, and the upsert
re-evaluates its ``WHERE`` against the row it waited for. ``record_id`` uses the "C"
collation so equal event times are decided by code point order, as in every other
backend, whatever the database's locale.

Error handling: a deadlock or serialization failure (two writers taking the same rows
in different orders) rolls the batch back and it is retried; a lost connection raises
:class:`SinkUnavailableError` and the next write reconnects.

Resource handling: one connection per sink, used by one batch at a time; :meth:`open`
creates the tables under an advisory lock (so sinks starting together do not race on
``CREATE TABLE``) and :meth:`close` closes the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
import psycopg.errors

from shardline.backoff import Backoff
from shardline.sinks.base import (
    IdempotentSink,
    SinkItem,
    SinkRecord,
    WriteOutcome,
    now_ms,
    quoted_table_name,
)
from shardline.sinks.exceptions import SinkError, SinkUnavailableError

#: Advisory lock key taken while creating tables ("SHLDSINK" in ASCII).
_DDL_LOCK = 0x53484C4453494E4B
#: Attempts per batch when PostgreSQL aborts it for a deadlock: the other transaction
#: goes through, so a second attempt almost always succeeds; 5 covers pile-ups,
#: waiting from 10 ms doubling (equal jitter) in between.
_ATTEMPTS = 5
_BASE_DELAY_S = 0.01


class PostgresSink(IdempotentSink):
    """Items in table ``table``, the ledger in ``ledger_table`` (default
    ``"<table>-ledger"``), in the database that ``conninfo`` names (a libpq connection
    string or URL, e.g. ``"postgresql://app@db.internal/prices?connect_timeout=10"``;
    put a ``connect_timeout`` in it, or an unreachable server stalls the consumer for
    as long as the operating system keeps trying).
    """

    def __init__(self, conninfo: str, table: str, ledger_table: str | None = None) -> None:
        super().__init__()
        self.conninfo = conninfo
        self.table = table
        self.ledger_table = ledger_table or f"{table}-ledger"
        items = quoted_table_name(self.table)
        ledger = quoted_table_name(self.ledger_table)
        self._ddl = (
            f"CREATE TABLE IF NOT EXISTS {items} (item_key TEXT PRIMARY KEY, "
            'event_time BIGINT NOT NULL, record_id TEXT COLLATE "C" NOT NULL, '
            "last_updated_region TEXT NOT NULL, attributes JSONB NOT NULL)",
            f'CREATE TABLE IF NOT EXISTS {ledger} (record_id TEXT COLLATE "C" PRIMARY KEY, '
            "item_key TEXT NOT NULL, event_time BIGINT NOT NULL, region TEXT NOT NULL, "
            "applied_at BIGINT NOT NULL)",
        )
        self._upsert = (
            f"WITH ledger AS (INSERT INTO {ledger} "
            "(record_id, item_key, event_time, region, applied_at) "
            "VALUES (%(id)s::text, %(key)s::text, %(time)s::bigint, %(region)s::text, "
            "%(applied_at)s::bigint) ON CONFLICT (record_id) DO NOTHING RETURNING record_id), "
            f"item AS (INSERT INTO {items} AS item "
            "(item_key, event_time, record_id, last_updated_region, attributes) "
            "SELECT %(key)s::text, %(time)s::bigint, record_id, %(region)s::text, "
            "%(attributes)s::jsonb FROM ledger "
            "ON CONFLICT (item_key) DO UPDATE SET event_time = EXCLUDED.event_time, "
            "record_id = EXCLUDED.record_id, "
            "last_updated_region = EXCLUDED.last_updated_region, "
            "attributes = EXCLUDED.attributes "
            "WHERE (item.event_time, item.record_id) < (EXCLUDED.event_time, EXCLUDED.record_id) "
            "RETURNING 1) "
            "SELECT EXISTS (SELECT FROM ledger), EXISTS (SELECT FROM item)"
        )
        self._select_item = (
            "SELECT event_time, record_id, last_updated_region, attributes "
            f"FROM {items} WHERE item_key = %s"
        )
        self._select_ids = f"SELECT record_id FROM {ledger}"
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _open(self) -> None:
        try:
            conn = await self._connection()
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                for statement in self._ddl:
                    await conn.execute(statement)
        except psycopg.Error as exc:
            await self._drop_connection()
            raise SinkUnavailableError(f"cannot open PostgreSQL sink {self.table}: {exc}") from exc

    async def _close(self) -> None:
        await self._drop_connection()

    async def _write(self, batch: Sequence[SinkRecord]) -> list[WriteOutcome]:
        applied_at = now_ms()
        params = [
            {
                "id": record.record_id,
                "key": record.item_key,
                "time": record.event_time,
                "region": record.region,
                "applied_at": applied_at,
                "attributes": orjson.dumps(dict(record.attributes)).decode(),
            }
            for record in batch
        ]
        async with self._lock:
            backoff = Backoff.for_attempts(_BASE_DELAY_S, _ATTEMPTS)
            for _ in range(_ATTEMPTS):
                try:
                    return await self._transaction(params)
                except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                    await backoff.sleep()
                except psycopg.OperationalError as exc:
                    await self._drop_connection()
                    raise SinkUnavailableError(f"PostgreSQL sink {self.table}: {exc}") from exc
                except psycopg.Error as exc:
                    raise SinkError(f"PostgreSQL sink {self.table}: {exc}") from exc
        raise SinkUnavailableError(
            f"PostgreSQL sink {self.table}: batch deadlocked {_ATTEMPTS} times in a row"
        )

    async def _transaction(self, params: list[dict[str, Any]]) -> list[WriteOutcome]:
        conn = await self._connection()
        outcomes = []
        async with conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(self._upsert, params, returning=True)
            while True:
                row = await cursor.fetchone()
                assert row is not None  # the statement always returns one row
                ledger_new, item_changed = row
                if not ledger_new:
                    outcomes.append(WriteOutcome.DUPLICATE)
                elif item_changed:
                    outcomes.append(WriteOutcome.APPLIED)
                else:
                    outcomes.append(WriteOutcome.STALE)
                if not cursor.nextset():
                    return outcomes

    async def _read(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        async with self._lock:
            try:
                conn = await self._connection()
                cursor = await conn.execute(query, args)
                return await cursor.fetchall()
            except psycopg.OperationalError as exc:
                await self._drop_connection()
                raise SinkUnavailableError(f"PostgreSQL sink {self.table}: {exc}") from exc

    async def _get_item(self, item_key: str) -> SinkItem | None:
        rows = await self._read(self._select_item, item_key)
        if not rows:
            return None
        [(event_time, record_id, region, attributes)] = rows
        return SinkItem(item_key, attributes, event_time, record_id, region)

    async def _ledger_ids(self) -> set[str]:
        return {row[0] for row in await self._read(self._select_ids)}
