"""Shared helpers for the producer's integration tests."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from shardline.framing import aggregation, envelope
from shardline.producer import Destination, Producer, ProducerConfig, PutOutcome, Record
from shardline.testing import kinesis_client, wait_active

CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def config(**changes: Any) -> ProducerConfig:
    """Test settings: no spool unless given, no client-side rate limit, quick batches."""
    options: dict[str, Any] = {
        "spool_path": None,
        "rate_limit_percent": None,
        "max_buffered_time_s": 0.02,
        "client_options": CREDS,
        "name": f"test-{uuid.uuid4().hex[:6]}",
    }
    options.update(changes)
    return ProducerConfig(**options)


def new_stream(url: str, shards: int = 2, name: str | None = None) -> str:
    kinesis = kinesis_client(url)
    name = name or f"p-{uuid.uuid4().hex[:10]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    wait_active(kinesis, name)
    return name


def raw_records(url: str, stream: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(shard, record) for every Kinesis record in every shard, open or closed.

    Reads back off when the region throttles them (``--enforce-throughput``).
    """
    kinesis = kinesis_client(url)
    throttled = kinesis.exceptions.ProvisionedThroughputExceededException
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for _ in range(10_000):
            try:
                page = kinesis.get_records(ShardIterator=iterator)
            except throttled:
                time.sleep(0.25)
                continue
            out.extend((shard, record) for record in page["Records"])
            iterator = page.get("NextShardIterator")
            if iterator is None or (not page["Records"] and page["MillisBehindLatest"] == 0):
                break
    return out


def user_payloads(url: str, stream: str) -> list[bytes]:
    """Every user record's payload as a KCL-style reader sees it (aggregates split and
    filtered by the receiving shard's hash range, envelopes removed)."""
    payloads = []
    for shard, record in raw_records(url, stream):
        key_range = shard["HashKeyRange"]
        bounds = (int(key_range["StartingHashKey"]), int(key_range["EndingHashKey"]))
        for user in aggregation.deaggregate(
            record["Data"], record["PartitionKey"], hash_range=bounds
        ):
            payloads.append(envelope.decode(user.data).payload)
    return payloads


async def put_all(
    destination: Destination, settings: ProducerConfig, records: list[Record]
) -> list[PutOutcome]:
    async with Producer(destination, settings) as producer:
        futures = await producer.put_many(records)
        await producer.flush(timeout=60)
        return [f.result() for f in futures]


def spool_depth(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM records").fetchone()[0])
