"""What each backend adds to the shared contract: its schema and its failure modes."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest

from shardline.sinks import (
    DynamoDBSink,
    PostgresSink,
    SinkRecord,
    SinkUnavailableError,
    SQLiteSink,
    WriteOutcome,
)

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def test_dynamodb_items_are_native_items_next_to_their_version(serial_dynamodb_url: str) -> None:
    table = f"ticker-prices-{uuid.uuid4().hex[:8]}"
    tick = SinkRecord("AMZN", "a" * 32, 1_700_000_000_000, {"price": 178.25}, "us-east-1")

    async def write() -> None:
        sink = DynamoDBSink(table, endpoint_url=serial_dynamodb_url, client_options=CREDENTIALS)
        async with sink:
            assert await sink.write([tick]) == [WriteOutcome.APPLIED]

    asyncio.run(write())
    client = boto3.client(
        "dynamodb", endpoint_url=serial_dynamodb_url, region_name="us-east-1", **CREDENTIALS
    )
    [item] = client.scan(TableName=table)["Items"]
    assert item == {
        "item_key": {"S": "AMZN"},
        "price": {"N": "178.25"},
        "event_time": {"N": "1700000000000"},
        "record_id": {"S": "a" * 32},
        "last_updated_region": {"S": "us-east-1"},
    }
    ledger = client.describe_table(TableName=f"{table}-ledger")["Table"]
    assert ledger["KeySchema"] == [{"AttributeName": "record_id", "KeyType": "HASH"}]
    [entry] = client.scan(TableName=f"{table}-ledger")["Items"]
    assert entry["item_key"] == {"S": "AMZN"} and entry["region"] == {"S": "us-east-1"}
    assert int(entry["applied_at"]["N"]) > 0


def test_postgres_sinks_starting_together_create_the_tables_once(postgres_conninfo: str) -> None:
    table = f"prices-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        sinks = [PostgresSink(postgres_conninfo, table) for _ in range(4)]
        await asyncio.gather(*(sink.open() for sink in sinks))
        await asyncio.gather(*(sink.close() for sink in sinks))

    asyncio.run(scenario())
    with psycopg.connect(postgres_conninfo) as conn:
        collation = conn.execute(
            "SELECT collation_name FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = 'record_id'",
            (table,),
        ).fetchone()
    assert collation == ("C",)  # equal event times break ties in code point order


def test_postgres_sink_reconnects_after_losing_its_connection(postgres_conninfo: str) -> None:
    first = SinkRecord("A", "1" * 32, 1, {}, "us-east-1")
    second = SinkRecord("A", "2" * 32, 2, {}, "us-east-1")

    async def scenario() -> None:
        async with PostgresSink(postgres_conninfo, f"p-{uuid.uuid4().hex[:8]}") as sink:
            await sink.write([first])
            with psycopg.connect(postgres_conninfo, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND datname = 'postgres'"
                )
            with pytest.raises(SinkUnavailableError) as caught:
                await sink.write([second])
            assert caught.value.retriable
            # The batch is re-sent, as a restarted processor would.
            assert await sink.write([first, second]) == [
                WriteOutcome.DUPLICATE,
                WriteOutcome.APPLIED,
            ]

    asyncio.run(scenario())


def test_sqlite_sink_that_cannot_open_its_file_says_so(tmp_path: Path) -> None:
    async def scenario() -> None:
        with pytest.raises(SinkUnavailableError, match="cannot open"):
            await SQLiteSink(tmp_path, "prices").open()  # a directory, not a file

    asyncio.run(scenario())
