"""The replicator copies the active region's stream to the standby (real processes).

Every test runs two ``shardline serve`` regions and ``shardline replicate`` as a
child process; the control store is the topology's SQLite file.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from shardline.framing import aggregation, origin
from shardline.stores.factory import control_store_for
from shardline.testing import ShardlineProcess, kinesis_client, read_stream, wait_active, wait_for
from shardline.topology import load_topology

if TYPE_CHECKING:
    from tests.conftest import TwoRegions

FAST_FAILOVER = {"poll_interval_s": 0.2}
FAST_REPLICATION = {"publish_interval_s": 0.2}


def replicator(regions: Any) -> ShardlineProcess:
    return ShardlineProcess(
        "replicate",
        "-t",
        str(regions.topology_path),
        "--lease-failover-s",
        "2",
        ready="following the control store",
    )


def payloads(records: list[dict[str, Any]]) -> list[str]:
    return [origin.unwrap(r["Data"])[1].decode() for r in records]


def watermarks(regions: Any, stream: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        topology = load_topology(regions.topology_path)
        async with control_store_for(topology.stores) as store:
            marks = await store.get_watermarks("east", stream)
            return {shard: m.sequence_number for shard, m in marks.items()}

    return asyncio.run(read())


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_copies_in_order_with_keys_hash_keys_and_origin(
    two_regions: Callable[..., TwoRegions], request: pytest.FixtureRequest, backend: str
) -> None:
    stores = None
    if backend == "dynamodb":  # control store and lease tables in DynamoDB (moto server)
        stores = {
            "backend": "dynamodb",
            "dynamodb_endpoint_url": request.getfixturevalue("dynamodb_url"),
            "table_prefix": f"t{uuid.uuid4().hex[:8]}",
        }
    regions = two_regions(
        {"orders": 2}, stores=stores, failover=FAST_FAILOVER, replication=FAST_REPLICATION
    )
    east = kinesis_client(regions.east.url)
    # An explicit hash key that sends key "k0" to the other shard than its MD5 would.
    shards = east.list_shards(StreamName="orders")["Shards"]
    ranges = {s["ShardId"]: int(s["HashKeyRange"]["StartingHashKey"]) for s in shards}
    k0_shard = next(
        sid
        for sid, start in sorted(ranges.items(), key=lambda kv: -kv[1])
        if aggregation.hash_key_of("k0") >= start
    )
    other_start = next(start for sid, start in ranges.items() if sid != k0_shard)
    sent = 0
    for _ in range(3):
        entries = []
        for i in range(100):
            key = f"k{i % 7}"
            entry = {"Data": f"{key}:{sent}".encode(), "PartitionKey": key}
            if key == "k0":
                entry["ExplicitHashKey"] = str(other_start + 1)
            entries.append(entry)
            sent += 1
        assert east.put_records(StreamName="orders", Records=entries)["FailedRecordCount"] == 0
    with replicator(regions):
        copied = wait_for(
            lambda: (r := read_stream(regions.west.url, "orders")) and len(r) >= sent and r,
            timeout=90,
            what="all records in the standby",
        )
        assert copied  # wait_for returns the truthy value (for the type checker)
        source = read_stream(regions.east.url, "orders")
        # Same placement: each record is on the shard with the same id as in the source.
        source_shard = {r["Data"]: r["ShardId"] for r in source}
        for record in copied:
            marked_origin, data = origin.unwrap(record["Data"])
            assert marked_origin == "east"
            assert record["ShardId"] == source_shard[data]
            assert record["PartitionKey"] == data.decode().split(":")[0]
        # Per partition key, the standby has the records in put order.
        by_key: dict[str, list[int]] = defaultdict(list)
        for text in payloads(sorted(copied, key=lambda r: int(r["SequenceNumber"]))):
            key, number = text.split(":")
            by_key[key].append(int(number))
        assert len(copied) == sent
        assert all(numbers == sorted(numbers) for numbers in by_key.values())
        # Watermarks reach the newest source record of each shard.
        newest: dict[str, int] = {}
        for record in source:
            newest[record["ShardId"]] = max(
                newest.get(record["ShardId"], 0), int(record["SequenceNumber"])
            )
        wait_for(
            lambda: {s: int(q) for s, q in watermarks(regions, "orders").items()} == newest,
            what="watermarks at the newest records",
        )


def test_sigkill_mid_stream_then_restart_leaves_no_gap(
    two_regions: Callable[..., TwoRegions],
) -> None:
    regions = two_regions({"orders": 2}, failover=FAST_FAILOVER, replication=FAST_REPLICATION)
    east = kinesis_client(regions.east.url)
    acked: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        for batch in range(2000):  # until stopped; bounded all the same
            if stop.is_set():
                return
            entries: list[dict[str, Any]] = [
                {"Data": f"r{batch * 50 + i}".encode(), "PartitionKey": f"p{i}"} for i in range(50)
            ]
            result = east.put_records(StreamName="orders", Records=entries)
            acked.extend(
                e["Data"].decode()
                for e, r in zip(entries, result["Records"], strict=True)
                if "SequenceNumber" in r
            )
            time.sleep(0.05)

    writer = threading.Thread(target=produce)
    process = replicator(regions).start()
    writer.start()
    try:
        wait_for(lambda: len(read_stream(regions.west.url, "orders")) > 300, what="copying")
        process.kill()  # SIGKILL while records keep arriving
        acked_at_kill = len(acked)
        copied_before = len(read_stream(regions.west.url, "orders"))
        time.sleep(0.5)
        process.start()
        wait_for(lambda: len(acked) >= acked_at_kill + 500, what="writes after the restart")
        stop.set()
        writer.join(60)
        final = set(acked)
        wait_for(
            lambda: final <= set(payloads(read_stream(regions.west.url, "orders"))),
            timeout=60,
            what="every acknowledged record in the standby",
        )
        assert copied_before < len(final)  # the kill really happened mid-stream
    finally:
        stop.set()
        writer.join(10)
        process.stop()


def test_a_retention_gap_is_reported_not_skipped(two_regions: Callable[..., TwoRegions]) -> None:
    """A checkpointed record that expired before the replicator came back is a gap."""
    # Retention hours of 0.2 s in the primary: its 24 hours pass in 4.8 s.
    regions = two_regions(
        {"orders": 1},
        east_args=("--retention-hour-seconds", "0.2", "--trim-interval-seconds", "0.5"),
        failover=FAST_FAILOVER,
        replication=FAST_REPLICATION,
    )
    east = kinesis_client(regions.east.url)
    # Long retention until the replicator has copied "first", however slowly it starts;
    # back to 24 "hours" (4.8 s) once it is stopped, and the primary trims both records.
    east.increase_stream_retention_period(StreamName="orders", RetentionPeriodHours=1000)
    east.put_records(StreamName="orders", Records=[{"Data": b"first", "PartitionKey": "k"}])
    process = replicator(regions).start()
    try:
        wait_for(lambda: read_stream(regions.west.url, "orders"), what="the first copy")
        # The watermark moves only after the checkpoint.
        wait_for(lambda: watermarks(regions, "orders"), what="the first checkpoint")
        process.stop()
        east.put_records(StreamName="orders", Records=[{"Data": b"lost", "PartitionKey": "k"}])
        wait_active(east, "orders")
        east.decrease_stream_retention_period(StreamName="orders", RetentionPeriodHours=24)
        wait_for(lambda: not read_stream(regions.east.url, "orders"), timeout=30, what="trimming")
        process.start()
        wait_for(
            lambda: any("retention gap" in line for line in process.output),
            what="the gap reported",
        )
    finally:
        process.stop()
