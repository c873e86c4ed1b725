"""How the DynamoDB sink reads a cancelled transaction (reasons moto never produces)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shardline.sinks import DynamoDBSink, SinkError, SinkRecord, SinkUnavailableError, WriteOutcome
from shardline.sinks import dynamodb as dynamodb_sink

TICK = SinkRecord("AMZN", "a" * 32, 1, {"price": 1.0}, "us-east-1")


def cancelled(*codes: str) -> ClientError:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": [{"Code": code} for code in codes],
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(response, "TransactWriteItems")


class ScriptedClient:
    """Answers each TransactWriteItems with the next scripted error (None: success)."""

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


def write_with(client: ScriptedClient) -> WriteOutcome:
    sink = DynamoDBSink("prices")
    sink._items._client = sink._ledger._client = client  # the tables' clients, never opened
    [outcome] = asyncio.run(sink._write([TICK]))
    return outcome


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb_sink, "_BASE_DELAY_S", 0.0)


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
