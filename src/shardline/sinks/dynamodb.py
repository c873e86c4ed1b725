"""The sink in DynamoDB: an items table keyed by ``item_key`` and a ledger keyed by
``record_id``, written together by one ``TransactWriteItems`` per record.

The transaction, per record (the protocol of :mod:`shardline.sinks.base`):

1. ``Put`` the ledger entry if ``attribute_not_exists(record_id)``;
2. ``Put`` the item if ``attribute_not_exists(event_time) OR event_time < :t OR
   (event_time = :t AND record_id < :id)``.

If DynamoDB cancels it, the cancellation reasons (one per action, in order) say why:
the ledger condition failed → DUPLICATE; only the item condition failed → the item is
newer, so the ledger entry is put alone (conditionally again, since another writer
may race us) → STALE; a ``TransactionConflict`` or throttling reason → back off and
retry. Items store the attributes as native DynamoDB attributes next to
``event_time``, ``record_id`` and ``last_updated_region``, so the table reads naturally
in the console, like the ``ticker-prices`` table of the AWS reference architecture.

Why a transaction per record rather than per batch: a transaction is all or nothing,
so one duplicate would cancel a whole batch. Records of different items are written
concurrently (``max_concurrency``), records of one item in batch order.

Resource handling: :meth:`open` creates both tables when absent (on-demand billing,
through :class:`~shardline.stores.dynamodb_table.DynamoDBTable`, one per table) and
:meth:`close` closes their aiobotocore clients. The transaction, which spans both
tables, goes through the items table's client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NoReturn

from botocore.exceptions import ClientError

from shardline.backoff import Backoff
from shardline.errors import is_retriable, is_retriable_code
from shardline.sinks.base import IdempotentSink, SinkItem, SinkRecord, WriteOutcome, now_ms
from shardline.sinks.exceptions import SinkError, SinkUnavailableError
from shardline.stores.dynamodb_table import DynamoDBTable

#: Attempts per record for conflicts: 8 attempts from 20 ms doubling (equal jitter)
#: wait about 5 s in all, far longer than any transaction holds an item.
_ATTEMPTS = 8
_BASE_DELAY_S = 0.02
_CONDITION_FAILED = "ConditionalCheckFailed"

_ITEM_IS_OLDER = "attribute_not_exists(#t) OR #t < :t OR (#t = :t AND #r < :r)"


def encode_attribute(value: Any) -> dict[str, Any]:
    """A plain JSON value as a DynamoDB attribute value (numbers as ``N`` strings)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, list):
        return {"L": [encode_attribute(element) for element in value]}
    return {"M": {key: encode_attribute(element) for key, element in value.items()}}


def decode_attribute(attribute: dict[str, Any]) -> Any:
    """The plain JSON value of a DynamoDB attribute value written by :func:`encode_attribute`.

    ``N`` becomes an int when it has no fraction or exponent, else a float; DynamoDB
    normalises ``2.0`` to ``2``, which compares equal.
    """
    [(kind, value)] = attribute.items()
    if kind == "N":
        return float(value) if any(c in value for c in ".eE") else int(value)
    if kind == "L":
        return [decode_attribute(element) for element in value]
    if kind == "M":
        return {key: decode_attribute(element) for key, element in value.items()}
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return value
    raise SinkError(f"attribute type {kind} was not written by a sink")


class DynamoDBSink(IdempotentSink):
    """Items in DynamoDB table ``table``, the ledger in ``ledger_table`` (default
    ``"<table>-ledger"``).

    ``endpoint_url`` and ``region_name`` locate DynamoDB (the *AWS* region of the
    tables, unrelated to :attr:`SinkRecord.region`); ``client_options`` go to
    ``create_client`` (credentials, botocore ``Config``). ``max_concurrency`` bounds
    the transactions in flight per batch; the default 10 matches botocore's default
    connection pool, beyond which requests would only queue for a connection.

    ``conflict_retry_s`` is the first pause before retrying a transaction that DynamoDB
    cancelled for a conflict or throttling; it doubles up to the last of 8 attempts.
    ``client`` is an open DynamoDB client both tables use instead of opening their own
    (the caller keeps and closes it): for sharing one, or for a scripted one in tests.
    """

    def __init__(
        self,
        table: str,
        ledger_table: str | None = None,
        *,
        endpoint_url: str | None = None,
        region_name: str = "us-east-1",
        client_options: dict[str, Any] | None = None,
        max_concurrency: int = 10,
        conflict_retry_s: float = _BASE_DELAY_S,
        client: Any = None,
    ) -> None:
        super().__init__()
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if conflict_retry_s < 0:
            raise ValueError("conflict_retry_s must be 0 or more seconds")
        self.table = table
        self.ledger_table = ledger_table or f"{table}-ledger"
        self.max_concurrency = max_concurrency
        self.conflict_retry_s = conflict_retry_s
        location = (endpoint_url, region_name, client_options)
        self._items = DynamoDBTable(self.table, SinkUnavailableError, *location, client=client)
        self._ledger = DynamoDBTable(
            self.ledger_table, SinkUnavailableError, *location, client=client
        )

    def _fail(self, operation: str, exc: ClientError) -> NoReturn:
        """Raise the sink error for DynamoDB's refusal ``exc``: unavailable for 5xx and
        throttling (which botocore already retried), a plain SinkError otherwise.
        Connection failures need no classifying: :class:`DynamoDBTable` raises them as
        :class:`SinkUnavailableError` already."""
        error = SinkUnavailableError if is_retriable(exc) else SinkError
        raise error(f"DynamoDB {operation} for sink {self.table}: {exc}") from exc

    async def _call(self, table: DynamoDBTable, operation: str, **params: Any) -> Any:
        """Run ``operation`` on ``table``; connection failures are already
        :class:`SinkUnavailableError`, service refusals are classified by :meth:`_fail`."""
        try:
            return await table.call(operation, TableName=table.name, **params)
        except ClientError as exc:
            self._fail(operation, exc)

    async def _create_table(self, table: DynamoDBTable, key: str) -> None:
        try:
            await table.create([(key, "HASH")])
        except SinkUnavailableError as exc:
            # A refusal by DynamoDB (access denied, a bad name) comes as the cause and
            # may be final; classify it like any other call's.
            if isinstance(exc.__cause__, ClientError):
                self._fail("CreateTable", exc.__cause__)
            raise

    async def _open(self) -> None:
        try:
            await self._create_table(self._items, "item_key")
            await self._create_table(self._ledger, "record_id")
        except BaseException:
            await self._close()
            raise

    async def _close(self) -> None:
        await self._items.close()
        await self._ledger.close()

    def _actions(
        self, record: SinkRecord, applied_at: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ledger Put and the item Put of one record."""
        ledger = {
            "TableName": self.ledger_table,
            "Item": {
                "record_id": {"S": record.record_id},
                "item_key": {"S": record.item_key},
                "event_time": {"N": str(record.event_time)},
                "region": {"S": record.region},
                "applied_at": {"N": str(applied_at)},
            },
            "ConditionExpression": "attribute_not_exists(record_id)",
        }
        item = {
            "TableName": self.table,
            "Item": {
                **{name: encode_attribute(value) for name, value in record.attributes.items()},
                "item_key": {"S": record.item_key},
                "event_time": {"N": str(record.event_time)},
                "record_id": {"S": record.record_id},
                "last_updated_region": {"S": record.region},
            },
            "ConditionExpression": _ITEM_IS_OLDER,
            "ExpressionAttributeNames": {"#t": "event_time", "#r": "record_id"},
            "ExpressionAttributeValues": {
                ":t": {"N": str(record.event_time)},
                ":r": {"S": record.record_id},
            },
        }
        return ledger, item

    async def _write_one(self, ledger: dict[str, Any], item: dict[str, Any]) -> WriteOutcome:
        backoff = Backoff.for_attempts(self.conflict_retry_s, _ATTEMPTS)
        for _ in range(_ATTEMPTS):
            try:
                await self._items.call(
                    "transact_write_items", TransactItems=[{"Put": ledger}, {"Put": item}]
                )
                return WriteOutcome.APPLIED
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    self._fail("TransactWriteItems", exc)
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if len(reasons) != 2:
                    self._fail("TransactWriteItems", exc)
                ledger_reason, item_reason = reasons
                if ledger_reason == _CONDITION_FAILED:
                    return WriteOutcome.DUPLICATE
                if item_reason == _CONDITION_FAILED and ledger_reason in (None, "None"):
                    return await self._write_stale(ledger)
                # Worth another attempt: a concurrent transaction on the same item, or
                # capacity; any other reason (validation, item size) would fail again.
                if not any(is_retriable_code(str(reason)) for reason in reasons):
                    self._fail("TransactWriteItems", exc)
            await backoff.sleep()
        raise SinkUnavailableError(
            f"sink {self.table}: transaction kept conflicting after {_ATTEMPTS} attempts"
        )

    async def _write_stale(self, ledger: dict[str, Any]) -> WriteOutcome:
        """Record a record whose item is already newer: the ledger entry alone. Item
        versions only grow, so the record stays stale; a writer racing us with the same
        record id makes it a DUPLICATE instead."""
        try:
            await self._ledger.call("put_item", **ledger)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return WriteOutcome.DUPLICATE
            self._fail("PutItem", exc)
        return WriteOutcome.STALE

    async def _write(self, batch: Sequence[SinkRecord]) -> list[WriteOutcome]:
        applied_at = now_ms()
        actions = [self._actions(record, applied_at) for record in batch]
        by_item: dict[str, list[int]] = {}
        for index, record in enumerate(batch):
            by_item.setdefault(record.item_key, []).append(index)
        outcomes: dict[int, WriteOutcome] = {}
        slots = asyncio.Semaphore(self.max_concurrency)

        async def write_item(indexes: list[int]) -> None:
            async with slots:
                for index in indexes:
                    outcomes[index] = await self._write_one(*actions[index])

        try:
            async with asyncio.TaskGroup() as group:
                for indexes in by_item.values():
                    group.create_task(write_item(indexes))
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None
        return [outcomes[index] for index in range(len(batch))]

    async def _get_item(self, item_key: str) -> SinkItem | None:
        response = await self._call(
            self._items,
            "get_item",
            Key={"item_key": {"S": item_key}},
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        values = {name: decode_attribute(value) for name, value in response["Item"].items()}
        return SinkItem(
            item_key=values.pop("item_key"),
            event_time=values.pop("event_time"),
            record_id=values.pop("record_id"),
            last_updated_region=values.pop("last_updated_region"),
            attributes=values,
        )

    async def _ledger_ids(self) -> set[str]:
        ids: set[str] = set()
        params: dict[str, Any] = {
            "ProjectionExpression": "record_id",
            "ConsistentRead": True,
        }
        while True:
            page = await self._call(self._ledger, "scan", **params)
            ids.update(item["record_id"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return ids
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
