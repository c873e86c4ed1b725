"""Stateful processing benchmark: checkpoint time by state size, and throughput cost.

1. Checkpoint time at 10k / 100k / 1M small keys (``[count, sum]`` per partition
   key), encrypted (AES-256-GCM, envelope) into a local directory: the capture
   (serializing under the shard's lock, the only part that stops processing),
   the whole checkpoint (capture, seal, write, fsync, manifest), its size, and
   the time to restore it.
2. Throughput of the real record-processing path (``StatefulJob``'s shard
   runtime, a counting processor, 100k keys) without checkpoints and with a
   checkpoint every ``--interval`` seconds, over ``--duration`` seconds each.

    python bench/state_bench.py                      # ~70 s
    python bench/state_bench.py --sizes 10000,100000 --duration 12 --interval 4 --json out.json

Targets (issue 7): a checkpoint of 100k small keys under 1 s; less than 10%
throughput loss at a 10 s interval.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from shardline.consumer.checkpoint import Checkpointer
from shardline.consumer.config import ConsumerConfig
from shardline.consumer.positions import TRIM_HORIZON_POSITION, Position
from shardline.consumer.processor import InitializationInput, ProcessRecordsInput
from shardline.consumer.records import ConsumerRecord
from shardline.state import (
    CheckpointSeries,
    KeyedState,
    KeyRing,
    LocalStore,
    ShardState,
    StateConfig,
    StatefulJob,
    StatefulProcessor,
)
from shardline.state.manifest import Manifest
from shardline.stores.sqlite_leases import SQLiteLeaseStore

KEYS = KeyRing.parse(KeyRing.generate_line("bench"))
ARRIVAL = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class Count(StatefulProcessor):
    def process(self, record: ConsumerRecord, state: ShardState) -> None:
        count, total = state.keyed.get(record.partition_key, (0, 0))
        state.keyed[record.partition_key] = [count + 1, total + len(record.data)]


async def checkpoint_time(size: int, root: Path) -> dict[str, Any]:
    state = ShardState(
        "shardId-000000000000",
        KeyedState({f"user-{i:08d}": [i % 97, i] for i in range(size)}),
        value=size,
        position=Position("49590338271490256608559692538361571095921575989136588898"),
        last_arrival=ARRIVAL,
    )
    series = CheckpointSeries(LocalStore(root / str(size)), "bench", state.shard_id, KEYS)
    started = time.perf_counter()
    payload = state.serialize()
    captured = time.perf_counter()
    draft = Manifest(
        application="bench",
        shard_id=state.shard_id,
        checkpoint_id=1,
        created=dt.datetime.now(dt.UTC),
        position=state.position,
        last_arrival=ARRIVAL,
        finished=False,
        parents=(),
        hash_range=None,
        keys=size,
        state_size=0,
    )
    manifest, sealed = await series.write(draft, payload)
    written = time.perf_counter()
    restored = await series.load(1)
    loaded = time.perf_counter()
    assert len(restored.keyed) == size
    return {
        "keys": size,
        "capture_ms": round((captured - started) * 1000, 1),
        "checkpoint_ms": round((written - started) * 1000, 1),
        "restore_ms": round((loaded - written) * 1000, 1),
        "bytes": len(sealed),
    }


class _Writer:
    """Stands in for the lease coordinator: checkpoints accepted at once."""

    async def write_checkpoint(self, shard_id: str, token: str, position: Position) -> None:
        return None

    async def write_pending(self, *args: Any) -> None:
        return None


async def throughput(root: Path, interval: float | None, duration: float, keys: int) -> float:
    config = StateConfig(
        "bench",
        store_url=str(root / f"tp-{interval}"),
        checkpoint_interval_s=interval or 10**6,
        keys=KEYS,
    )
    async with StatefulJob(config, Count) as job:
        leases = SQLiteLeaseStore(root / f"leases-{interval}.db", "bench")
        job.scheduler(ConsumerConfig("bench", "bench"), leases)  # built, never run
        await leases.ensure_table()
        runtime = job.record_processor()
        shard = "shardId-000000000000"
        await runtime.initialize(InitializationInput(shard, TRIM_HORIZON_POSITION))
        checkpointer = Checkpointer(shard, "t", _Writer(), TRIM_HORIZON_POSITION)
        sequence, processed = 10**20, 0
        started = time.perf_counter()
        while time.perf_counter() - started < duration:
            batch = []
            for _ in range(1000):
                sequence += 1
                key = f"user-{sequence % keys:08d}"
                batch.append(ConsumerRecord(str(sequence), 0, key, b"x" * 20, ARRIVAL))
            checkpointer.delivered(batch[-1].position)
            await runtime.process_records(ProcessRecordsInput(shard, batch, checkpointer, 0))
            processed += len(batch)
            await asyncio.sleep(0)
        elapsed = time.perf_counter() - started
        await runtime.lease_lost()
        await leases.close()
        return processed / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument(
        "--repeats", type=int, default=3, help="throughput runs of each kind, alternated"
    )
    parser.add_argument("--keys", type=int, default=100_000, help="keys in the throughput run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, Any] = {"checkpoints": [], "throughput": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for size in (int(s) for s in args.sizes.split(",")):
            row = await checkpoint_time(size, root)
            results["checkpoints"].append(row)
            print(
                f"{size:>9,} keys: capture {row['capture_ms']:>7.1f} ms  checkpoint "
                f"{row['checkpoint_ms']:>7.1f} ms  restore {row['restore_ms']:>7.1f} ms  "
                f"{row['bytes']:>12,} B"
            )
        # Alternate the two kinds so drift in the machine's load hits both alike.
        without: list[float] = []
        with_: list[float] = []
        for _ in range(args.repeats):
            without.append(await throughput(root, None, args.duration, args.keys))
            with_.append(await throughput(root, args.interval, args.duration, args.keys))
    base, with_checkpoints = statistics.median(without), statistics.median(with_)
    loss = 1 - with_checkpoints / base
    results["throughput"] = {
        "records_per_s_without": round(base),
        "records_per_s_with": round(with_checkpoints),
        "runs_without": [round(v) for v in without],
        "runs_with": [round(v) for v in with_],
        "interval_s": args.interval,
        "loss": round(loss, 4),
    }
    print(
        f"throughput (median of {args.repeats}, alternated): {base:,.0f} rec/s without "
        f"checkpoints, {with_checkpoints:,.0f} rec/s with one every {args.interval:g} s "
        f"({loss:.1%} loss)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
