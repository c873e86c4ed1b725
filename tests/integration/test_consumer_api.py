"""Consumer API behaviour, with an in-process Scheduler against a real server."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from shardline.consumer import (
    ConsumerConfig,
    InitializationInput,
    ProcessRecordsInput,
    RecordProcessor,
    Scheduler,
)
from shardline.consumer.metrics import ConsumerMetrics
from shardline.stores.sqlite_leases import SQLiteLeaseStore
from shardline.testing import RegionProcess, kinesis_client, wait_active

CREDENTIALS = {"aws_access_key_id": "t", "aws_secret_access_key": "t"}


def new_stream(url: str, shards: int = 1) -> str:
    client = kinesis_client(url)
    name = f"api-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=shards)
    wait_active(client, name)
    return name


def config(url: str, stream: str, **overrides: Any) -> ConsumerConfig:
    settings: dict[str, Any] = {
        "application_name": f"app-{uuid.uuid4().hex[:6]}",
        "stream_name": stream,
        "endpoint_url": url,
        "client_options": CREDENTIALS,
        "initial_position": "TRIM_HORIZON",
        "idle_time_between_reads_s": 0.2,
        "task_backoff_s": 0.05,
        "shard_sync_interval_s": 0.5,
    }
    settings.update(overrides)
    return ConsumerConfig(**settings)


async def run_until(
    scheduler: Scheduler, condition: Callable[[], object], timeout: float = 20.0
) -> None:
    task = asyncio.create_task(scheduler.run())
    try:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not reached"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown()
        await task


def put(url: str, stream: str, values: list[str]) -> None:
    kinesis_client(url).put_records(
        StreamName=stream, Records=[{"Data": v.encode(), "PartitionKey": v} for v in values]
    )


def test_two_phase_checkpoint_state_reaches_the_next_processor(
    region: RegionProcess, tmp_path: Path
) -> None:
    stream = new_stream(region.url)
    put(region.url, stream, ["a", "b", "c"])
    inits: list[InitializationInput] = []

    class Preparer(RecordProcessor):
        async def initialize(self, init: InitializationInput) -> None:
            inits.append(init)

        async def process_records(self, batch: ProcessRecordsInput) -> None:
            if len(inits) == 1:
                await batch.checkpointer.prepare_checkpoint(batch.records[1], state=b"sum=2")
                raise RuntimeError("crash between the two phases")
            await batch.checkpointer.checkpoint()

    cfg = config(region.url, stream)
    scheduler = Scheduler(cfg, Preparer, SQLiteLeaseStore(tmp_path / "l.db", cfg.application_name))
    asyncio.run(run_until(scheduler, lambda: len(inits) >= 2))
    assert inits[0].pending_checkpoint is None
    assert inits[1].pending_checkpoint_state == b"sum=2"
    assert inits[1].pending_checkpoint is not None
    assert inits[1].checkpoint.sequence == "TRIM_HORIZON"  # phase two never ran


def test_latest_and_at_timestamp_start_where_asked(region: RegionProcess, tmp_path: Path) -> None:
    stream = new_stream(region.url)
    put(region.url, stream, ["old"])
    time.sleep(0.05)
    cut = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    put(region.url, stream, ["middle"])

    def consume(**position: Any) -> list[str]:
        seen: list[str] = []
        reading = asyncio.Event()

        class Collect(RecordProcessor):
            async def process_records(self, batch: ProcessRecordsInput) -> None:
                reading.set()  # the first GetRecords on the start iterator answered
                seen.extend(r.data.decode() for r in batch.records)

        cfg = config(region.url, stream, call_process_records_even_for_empty_list=True, **position)
        store = SQLiteLeaseStore(tmp_path / f"{cfg.application_name}.db", cfg.application_name)
        scheduler = Scheduler(cfg, Collect, store)

        async def scenario() -> None:
            task = asyncio.create_task(scheduler.run())
            await asyncio.wait_for(reading.wait(), 30)
            put(region.url, stream, ["new"])
            deadline = time.monotonic() + 15
            while "new" not in seen and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            scheduler.shutdown()
            await task

        asyncio.run(scenario())
        return seen

    assert consume(initial_position="LATEST") == ["new"]
    assert consume(initial_position="AT_TIMESTAMP", initial_timestamp=cut) == ["middle", "new"]


def test_skip_policy_drops_the_failed_batch_and_goes_on(
    region: RegionProcess, tmp_path: Path
) -> None:
    stream = new_stream(region.url)
    put(region.url, stream, ["first"])
    seen: list[str] = []
    calls = [0]

    class FailOnce(RecordProcessor):
        async def process_records(self, batch: ProcessRecordsInput) -> None:
            calls[0] += 1
            if calls[0] == 1:
                raise RuntimeError("boom")
            seen.extend(r.data.decode() for r in batch.records)
            await batch.checkpointer.checkpoint()

    cfg = config(region.url, stream, on_processor_error="skip")
    scheduler = Scheduler(cfg, FailOnce, SQLiteLeaseStore(tmp_path / "l.db", cfg.application_name))

    async def scenario() -> None:
        task = asyncio.create_task(scheduler.run())
        while calls[0] == 0:
            await asyncio.sleep(0.05)
        put(region.url, stream, ["second"])
        deadline = time.monotonic() + 15
        while "second" not in seen and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        scheduler.shutdown()
        await task

    asyncio.run(scenario())
    assert seen == ["second"]  # "first" was skipped, as the KCL would


def test_the_retry_back_off_starts_over_after_a_successful_batch(
    region: RegionProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A processor that fails now and then waits task_backoff_s after each failure,
    not twice as long as after the one before (the back-off resets on success)."""
    stream = new_stream(region.url)
    failed: set[str] = set()
    done: list[str] = []

    class FailsOnFirstSight(RecordProcessor):
        async def process_records(self, batch: ProcessRecordsInput) -> None:
            values = [r.data.decode() for r in batch.records]
            fresh = [v for v in values if v not in failed]
            if fresh:
                failed.update(fresh)
                raise RuntimeError(f"first sight of {fresh}")
            done.extend(values)
            await batch.checkpointer.checkpoint()

    cfg = config(region.url, stream, task_backoff_s=0.05, max_backoff_s=30.0)
    scheduler = Scheduler(
        cfg, FailsOnFirstSight, SQLiteLeaseStore(tmp_path / "l.db", cfg.application_name)
    )

    async def scenario() -> None:
        task = asyncio.create_task(scheduler.run())
        try:
            for value in ["a", "b", "c", "d"]:  # one at a time: fail, succeed, fail, …
                put(region.url, stream, [value])
                deadline = time.monotonic() + 30
                while value not in done:
                    assert time.monotonic() < deadline, f"{value} was never processed"
                    assert not task.done(), task.exception()
                    await asyncio.sleep(0.05)
        finally:
            scheduler.shutdown()
            await task

    with caplog.at_level(logging.WARNING, logger="shardline.consumer.shard_consumer"):
        asyncio.run(scenario())
    delays = [
        float(r.getMessage().rsplit(" in ", 1)[1].removesuffix(" s"))
        for r in caplog.records
        if "restarting the processor" in r.getMessage()
    ]
    assert done == ["a", "b", "c", "d"]
    assert delays == [0.05] * 4


def test_metrics_and_finished_lease_cleanup(region: RegionProcess, tmp_path: Path) -> None:
    stream = new_stream(region.url)
    put(region.url, stream, [f"r{i}" for i in range(10)])
    kinesis_client(region.url).split_shard(
        StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    put(region.url, stream, [f"s{i}" for i in range(10)])
    seen: list[str] = []

    class Collect(RecordProcessor):
        async def process_records(self, batch: ProcessRecordsInput) -> None:
            seen.extend(r.data.decode() for r in batch.records)
            await batch.checkpointer.checkpoint()

    registry = CollectorRegistry()
    cfg = config(region.url, stream)
    store = SQLiteLeaseStore(tmp_path / "l.db", cfg.application_name)
    scheduler = Scheduler(cfg, Collect, store, ConsumerMetrics(cfg.application_name, "w", registry))

    async def scenario() -> None:
        task = asyncio.create_task(scheduler.run())
        await scheduler.started.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            keys = {lease.key for lease in await store.list_leases()}
            if len(seen) >= 20 and "shardId-000000000000" not in keys:
                break
            await asyncio.sleep(0.1)
        scheduler.shutdown()
        await task

    asyncio.run(scenario())
    assert sorted(seen) == sorted([f"r{i}" for i in range(10)] + [f"s{i}" for i in range(10)])
    sample = registry.get_sample_value(
        "RecordsProcessed_total", {"application": cfg.application_name, "worker": "w"}
    )
    assert sample == 20

    async def leftover() -> set[str]:
        reader = SQLiteLeaseStore(tmp_path / "l.db", cfg.application_name)
        try:
            return {lease.key for lease in await reader.list_leases()}
        finally:
            await reader.close()

    remaining = asyncio.run(leftover())
    # The finished parent's lease is deleted once both children have leases.
    assert remaining == {"shardId-000000000001", "shardId-000000000002"}


def test_fan_out_merges_events_that_arrive_while_a_batch_is_processed(
    region: RegionProcess, tmp_path: Path
) -> None:
    """Each PutRecords below is its own commit, so the server pushes one event per
    record; a processor busy with a batch must get the events that arrived meanwhile
    as one batch, not one by one (which falls further behind at every event)."""
    stream = new_stream(region.url)
    sizes: list[int] = []
    fed = asyncio.Event()

    class Slow(RecordProcessor):
        async def process_records(self, batch: ProcessRecordsInput) -> None:
            if batch.records:
                sizes.append(len(batch.records))
                if len(sizes) == 1:
                    # Busy until the next 20 records were put, however long that takes,
                    # then a little longer for the server to push their events.
                    await asyncio.wait_for(fed.wait(), 60)
                    await asyncio.sleep(0.5)

    async def scenario() -> None:
        store = SQLiteLeaseStore(tmp_path / "leases.db", "merge")
        scheduler = Scheduler(config(region.url, stream, retrieval="fanout"), Slow, store)

        async def feed() -> None:
            while not sizes:
                await asyncio.sleep(0.05)
            for i in range(20):
                await asyncio.to_thread(put, region.url, stream, [f"later-{i}"])
            fed.set()

        put(region.url, stream, ["first"])
        feeder = asyncio.create_task(feed())
        await run_until(scheduler, lambda: sum(sizes) >= 21, timeout=90)
        await feeder

    asyncio.run(scenario())
    assert sizes[0] == 1
    assert max(sizes[1:]) >= 10, sizes
