"""How the DynamoDB sink reads a cancelled transaction (reasons moto never produces)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shardline.sinks import DynamoDBSink, SinkError, SinkRecord, SinkUnavailableError, WriteOutcome

TICK = SinkRecord("AMZN", "a" * 32, 1, {"price": 1.0}, "us-east-1")


def cancelled(*codes: str) -> ClientError:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": [{"Code": code} for code in codes],
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(response, "TransactWriteItems")


class ScriptedClient:
    """Answers each TransactWriteItems with the next scripted error (None: success);
    both tables exist already."""

    def __init__(self, *answers: ClientError | None) -> None:
        self.answers = list(answers)
        self.transactions = 0
        self.puts = 0

    async def transact_write_items(self, **_: Any) -> None:
        self.transactions += 1
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer

    async def put_item(self, **_: Any) -> None:
        self.puts += 1

    async def create_table(self, **_: Any) -> None:
        pass

    async def describe_table(self, **_: Any) -> dict[str, Any]:
        return {"Table": {"TableStatus": "ACTIVE"}}


def write_with(client: ScriptedClient) -> WriteOutcome:
    """Write one record through a sink whose tables use ``client``, retrying at once."""

    async def write() -> list[WriteOutcome]:
        async with DynamoDBSink("prices", conflict_retry_s=0.0, client=client) as sink:
            return await sink.write([TICK])

    [outcome] = asyncio.run(write())
    return outcome


def test_a_transaction_conflict_is_retried() -> None:
    client = ScriptedClient(cancelled("None", "TransactionConflict"), None)
    assert write_with(client) is WriteOutcome.APPLIED
    assert client.transactions == 2


def test_a_newer_item_records_the_ledger_entry_alone() -> None:
    client = ScriptedClient(cancelled("None", "ConditionalCheckFailed"))
    assert write_with(client) is WriteOutcome.STALE
    assert client.puts == 1


def test_a_known_record_id_is_a_duplicate_whatever_the_item_says() -> None:
    client = ScriptedClient(cancelled("ConditionalCheckFailed", "ConditionalCheckFailed"))
    assert write_with(client) is WriteOutcome.DUPLICATE
    assert client.puts == 0


def test_endless_conflicts_make_the_sink_unavailable() -> None:
    client = ScriptedClient(*[cancelled("TransactionConflict", "None")] * 8)
    with pytest.raises(SinkUnavailableError, match="conflicting"):
        write_with(client)


def test_a_reason_that_would_fail_again_is_not_retried() -> None:
    client = ScriptedClient(cancelled("None", "ValidationError"))
    with pytest.raises(SinkError) as caught:
        write_with(client)
    assert not caught.value.retriable and client.transactions == 1
