"""Both lease stores keep the same fencing protocol (SQLite file, DynamoDB via moto)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from shardline.stores.dynamodb_leases import DynamoDBLeaseStore
from shardline.stores.leases import Lease, LeaseStore
from shardline.stores.sqlite_leases import SQLiteLeaseStore

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], LeaseStore]:
    def make() -> LeaseStore:
        table = f"t{uuid.uuid4().hex[:8]}"
        if request.param == "sqlite":
            return SQLiteLeaseStore(tmp_path / "leases.db", table)
        url = request.getfixturevalue("dynamodb_url")
        return DynamoDBLeaseStore(table, endpoint_url=url, client_options=CREDENTIALS)

    return make


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_every_change_is_fenced_by_the_counter(store_factory: Callable[[], LeaseStore]) -> None:
    async def scenario() -> None:
        store = store_factory()
        try:
            await store.ensure_table()
            lease = Lease(
                key="shardId-000000000001",
                parents=frozenset({"shardId-000000000000"}),
                starting_hash_key="0",
                ending_hash_key="99",
            )
            assert await store.create_if_absent(lease) is True
            assert await store.create_if_absent(lease) is False
            mine = await store.take(lease, "w1")
            assert mine is not None and mine.owner == "w1" and mine.counter == 1
            assert mine.owner_switches == 1
            assert await store.take(lease, "w2") is None  # stale counter: refused
            renewed = await store.renew(mine)
            assert renewed is not None and renewed.counter == 2
            assert await store.renew(mine) is None  # a stale copy cannot renew
            stolen = await store.take(renewed, "w2")
            assert stolen is not None and stolen.owner == "w2"
            assert await store.checkpoint(renewed, "123", 0) is None  # w1 lost it
            pending = await store.prepare_checkpoint(stolen, "456", 2, b"state")
            assert pending is not None
            done = await store.checkpoint(pending, "456", 2)
            assert done is not None
            [stored] = await store.list_leases()
            assert (stored.checkpoint, stored.checkpoint_sub, stored.pending_checkpoint) == (
                "456",
                2,
                None,
            )
            assert stored.owner_switches == 0
            assert stored.parents == frozenset({"shardId-000000000000"})
            released = await store.release(stored)
            assert released is not None and released.owner is None
            assert (await store.list_leases())[0].owner is None
            assert await store.delete(stored) is False  # stale
            assert await store.delete(released) is True
            assert await store.list_leases() == []
        finally:
            await store.close()

    run(scenario())


def test_dynamodb_items_use_the_kcl_schema(dynamodb_url: str) -> None:
    table = f"kcl{uuid.uuid4().hex[:8]}"

    async def write() -> None:
        store = DynamoDBLeaseStore(table, endpoint_url=dynamodb_url, client_options=CREDENTIALS)
        try:
            await store.ensure_table()
            lease = Lease(
                key="shardId-000000000002",
                parents=frozenset({"shardId-000000000000", "shardId-000000000001"}),
                starting_hash_key="0",
                ending_hash_key="340282366920938463463374607431768211455",
            )
            await store.create_if_absent(lease)
            taken = await store.take(lease, "worker-a")
            assert taken is not None
            await store.checkpoint(
                taken, "49000000000000000000000000000000000000000000000000000001", 0
            )
        finally:
            await store.close()

    run(write())
    client = boto3.client(
        "dynamodb", endpoint_url=dynamodb_url, region_name="us-east-1", **CREDENTIALS
    )
    description = client.describe_table(TableName=table)["Table"]
    assert description["KeySchema"] == [{"AttributeName": "leaseKey", "KeyType": "HASH"}]
    [item] = client.scan(TableName=table)["Items"]
    assert item["leaseKey"] == {"S": "shardId-000000000002"}
    assert item["leaseOwner"] == {"S": "worker-a"}
    assert item["leaseCounter"] == {"N": "2"}
    assert item["checkpoint"]["S"].endswith("001")
    assert item["checkpointSubSequenceNumber"] == {"N": "0"}
    assert item["ownerSwitchesSinceCheckpoint"] == {"N": "0"}
    assert sorted(item["parentShardId"]["SS"]) == ["shardId-000000000000", "shardId-000000000001"]
    assert item["startingHashKey"] == {"S": "0"}
    assert "pendingCheckpoint" not in item
