"""The control store in one DynamoDB table, for controllers and replicators on many hosts.

Items (hash key ``pk`` S, range key ``sk`` S, on demand):

- the state: ``pk = sk = "state"``, ``epoch`` N, ``replication_generation`` N and
  ``doc`` S (the JSON of :meth:`ControlState.to_doc`);
- a watermark: ``pk = "watermark#<source region>#<stream>"``, ``sk`` = shard id,
  ``doc`` S (the :class:`Watermark` as JSON) and ``seq`` S, the sequence number
  zero-padded to 129 digits (the most the Kinesis API allows). Sequence numbers are
  up to 56 digits in practice, more than the 38 a DynamoDB number keeps exactly, so
  the padded string is what conditions compare: for equal widths, string order is
  numeric order;
- a report: ``pk = "report#<kind>"``, ``sk`` = component, ``doc`` S.

Fencing, as the SQLite backend does it, with DynamoDB's conditional writes:

Transition (:meth:`DynamoDBControlStore.transition`):

1. Put the new state with ``ConditionExpression`` ``epoch = <current epoch>``.
2. ``ConditionalCheckFailedException`` means another controller decided first:
   raise :class:`StaleEpochError`; of two racing controllers exactly one wins.

Watermarks (:meth:`DynamoDBControlStore.put_watermarks`):

1. Keep the newest mark per shard of the batch (a transaction may touch an item once).
2. Read the stream's stored watermarks (consistent) and drop every mark that is not
   newer: an older mark must be skipped silently, but a failed condition would
   cancel the whole transaction, so it must not reach one.
3. Nothing left: read the state (consistent) and raise :class:`StaleEpochError`
   unless its replication generation is still ``generation``, as a write would.
4. Otherwise write the marks in transactions of at most 99 puts plus one
   ``ConditionCheck`` on the state item (``replication_generation = generation``);
   each put is itself conditional on its watermark not moving backwards.
5. A cancelled transaction reports why per item (``CancellationReasons``): the state
   check failed -> :class:`StaleEpochError`; a watermark check failed (a concurrent,
   newer write) or a transaction conflict -> go back to step 2 for the marks not yet
   written, after a jittered pause that doubles per round (:class:`~shardline.backoff.Backoff`),
   a bounded number of times.

A fenced write is therefore ordered against the decision that fences it by
DynamoDB's transaction isolation. Unlike SQLite, a batch of more than 99 shards is
not atomic as a whole: when a decision lands between two of its transactions, the
marks written before it stay (each was valid when written) and the call raises
:class:`StaleEpochError`.

Error handling: transport failures and unexpected service errors raise
:class:`ControlStoreError`. Resource handling: the aiobotocore client (opened on
first use) is closed by :meth:`DynamoDBControlStore.close`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import orjson
from botocore.exceptions import ClientError

from shardline.backoff import Backoff
from shardline.errors import error_code
from shardline.stores.control import (
    ControlState,
    ControlStore,
    ControlStoreError,
    ReportDocument,
    StaleEpochError,
    Watermark,
    sequence_key,
)
from shardline.stores.dynamodb_table import DynamoDBStore

_STATE_KEY = {"pk": {"S": "state"}, "sk": {"S": "state"}}
#: Digits of the Kinesis SequenceNumber pattern ``0|([1-9]\d{0,128})``.
_SEQ_WIDTH = 129
#: Puts per transaction: DynamoDB's limit of 100 actions, less the state check.
_PUTS_PER_TRANSACTION = 99
#: Rounds of step 2-5 before giving up; each needs a concurrent writer of the same
#: stream to win a race, which a single replicator per stream never causes.
_ATTEMPTS = 10
#: The pause before the second round, doubling (jittered, so that racing writers
#: spread out) up to the longest pause.
_RETRY_DELAY = 0.05
_RETRY_MAX_DELAY = 0.5


def _padded(sequence_number: str) -> str:
    value = sequence_key(sequence_number)
    digits = str(value)
    if value < 0 or len(digits) > _SEQ_WIDTH:
        raise ValueError(f"not a Kinesis sequence number: {sequence_number!r}")
    return digits.zfill(_SEQ_WIDTH)


def _doc(value: dict[str, Any]) -> dict[str, str]:
    return {"S": orjson.dumps(value).decode()}


def _state_item(state: ControlState) -> dict[str, Any]:
    return {
        **_STATE_KEY,
        "epoch": {"N": str(state.epoch)},
        "replication_generation": {"N": str(state.replication_generation)},
        "doc": _doc(state.to_doc()),
    }


def _watermark_pk(source_region: str, stream: str) -> str:
    return f"watermark#{source_region}#{stream}"


class DynamoDBControlStore(DynamoDBStore, ControlStore):
    """Control state, watermarks and reports in the DynamoDB table ``table``."""

    error_type = ControlStoreError
    key_schema = (("pk", "HASH"), ("sk", "RANGE"))

    # -- calls ------------------------------------------------------------------------

    async def _call(self, operation: str, **params: Any) -> Any:
        """Run ``operation``; every error is a :class:`ControlStoreError`."""
        try:
            return await self._table.call(operation, TableName=self.table, **params)
        except ClientError as exc:
            raise ControlStoreError(f"DynamoDB {operation} on {self.table}: {exc}") from exc

    async def _put_if(self, item: dict[str, Any], condition: str, **params: Any) -> bool:
        """Put ``item`` if ``condition`` holds; False when it does not."""
        try:
            await self._table.call(
                "put_item",
                TableName=self.table,
                Item=item,
                ConditionExpression=condition,
                **params,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise ControlStoreError(f"DynamoDB put_item on {self.table}: {exc}") from exc
        return True

    async def _query(self, pk: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item under ``pk`` (consistent read, all pages)."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
            **params,
        }
        while True:
            page = await self._call("query", **request)
            for item in page.get("Items", []):
                yield item
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- state ------------------------------------------------------------------------

    async def get_state(self) -> ControlState | None:
        response = await self._call("get_item", Key=_STATE_KEY, ConsistentRead=True)
        item = response.get("Item")
        return ControlState.from_doc(orjson.loads(item["doc"]["S"])) if item else None

    async def initialize(self, state: ControlState) -> ControlState:
        await self._put_if(_state_item(state), "attribute_not_exists(pk)")
        stored = await self.get_state()
        if stored is None:
            raise ControlStoreError(f"the state written to {self.table} cannot be read back")
        return stored

    async def replace(self, expected_epoch: int, new: ControlState) -> None:
        written = await self._put_if(
            _state_item(new),
            "#epoch = :current",
            ExpressionAttributeNames={"#epoch": "epoch"},
            ExpressionAttributeValues={":current": {"N": str(expected_epoch)}},
        )
        if not written:
            raise StaleEpochError(f"control state is no longer at epoch {expected_epoch}")

    # -- watermarks -------------------------------------------------------------------

    async def put_watermarks(
        self, generation: int, source_region: str, stream: str, marks: list[Watermark]
    ) -> None:
        pk = _watermark_pk(source_region, stream)
        pending: dict[str, tuple[str, Watermark]] = {}
        for mark in marks:  # step 1
            seq = _padded(mark.sequence_number)
            if mark.shard_id not in pending or pending[mark.shard_id][0] < seq:
                pending[mark.shard_id] = (seq, mark)
        backoff = Backoff(_RETRY_DELAY, _RETRY_MAX_DELAY, jitter=0.5)
        for attempt in range(_ATTEMPTS):
            if attempt:  # a pause between rounds, none after the last
                await backoff.sleep()
            stored = await self._stored_sequences(pk)  # step 2
            pending = {
                shard: (seq, mark)
                for shard, (seq, mark) in pending.items()
                if shard not in stored or stored[shard] < seq
            }
            if not pending:  # step 3
                await self._check_generation(generation)
                return
            batch = list(pending.items())
            for start in range(0, len(batch), _PUTS_PER_TRANSACTION):  # step 4
                chunk = batch[start : start + _PUTS_PER_TRANSACTION]
                if not await self._transact(generation, pk, [v for _, v in chunk]):
                    break  # step 5: re-read and retry what is left
                for shard, _ in chunk:
                    del pending[shard]
            if not pending:
                return
        raise ControlStoreError(
            f"watermarks of {stream} from {source_region} kept changing under"
            f" {_ATTEMPTS} attempts; another writer is racing this replicator"
        )

    async def _stored_sequences(self, pk: str) -> dict[str, str]:
        return {
            item["sk"]["S"]: item["seq"]["S"]
            async for item in self._query(
                pk, ProjectionExpression="sk, #seq", ExpressionAttributeNames={"#seq": "seq"}
            )
        }

    async def _check_generation(self, generation: int) -> None:
        state = await self.get_state()
        if state is None or state.replication_generation != generation:
            raise StaleEpochError(f"replication generation {generation} is no longer running")

    async def _transact(self, generation: int, pk: str, marks: list[tuple[str, Watermark]]) -> bool:
        """Write ``marks`` fenced by ``generation``; False when a watermark raced."""
        check = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": _STATE_KEY,
                "ConditionExpression": "#g = :g",
                "ExpressionAttributeNames": {"#g": "replication_generation"},
                "ExpressionAttributeValues": {":g": {"N": str(generation)}},
            }
        }
        puts = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "pk": {"S": pk},
                        "sk": {"S": mark.shard_id},
                        "seq": {"S": seq},
                        "doc": _doc(dataclasses.asdict(mark)),
                    },
                    "ConditionExpression": "attribute_not_exists(#seq) OR #seq < :seq",
                    "ExpressionAttributeNames": {"#seq": "seq"},
                    "ExpressionAttributeValues": {":seq": {"S": seq}},
                }
            }
            for seq, mark in marks
        ]
        try:
            await self._table.call("transact_write_items", TransactItems=[check, *puts])
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise ControlStoreError(f"DynamoDB transaction on {self.table}: {exc}") from exc
            codes = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise StaleEpochError(
                    f"replication generation {generation} is no longer running"
                ) from exc
            if "ConditionalCheckFailed" in codes[1:] or "TransactionConflict" in codes:
                return False
            raise ControlStoreError(
                f"DynamoDB transaction on {self.table} cancelled ({codes}): {exc}"
            ) from exc
        return True

    async def get_watermarks(self, source_region: str, stream: str) -> dict[str, Watermark]:
        return {
            item["sk"]["S"]: Watermark(**orjson.loads(item["doc"]["S"]))
            async for item in self._query(_watermark_pk(source_region, stream))
        }

    # -- reports ----------------------------------------------------------------------

    async def put_report_document(self, document: ReportDocument) -> None:
        doc = {"body": document.body, "updated_at": document.updated_at}
        item = {"pk": {"S": f"report#{document.kind}"}, "sk": {"S": document.component}}
        await self._call("put_item", Item={**item, "doc": _doc(doc)})

    async def get_report_documents(self, kind: str) -> list[ReportDocument]:
        reports = []
        async for item in self._query(f"report#{kind}"):
            doc = orjson.loads(item["doc"]["S"])
            reports.append(ReportDocument(kind, item["sk"]["S"], doc["body"], doc["updated_at"]))
        return reports
