"""The consumer (shardline.consumer) on one Shardline server, in one run.

1. throughput: ``--records`` stored on 4 shards, drained by one in-process worker
   through a no-op processor, with polling and with fan-out; records/s.
2. takeover: two worker processes share 4 shards with the default 10 s failover
   time; a writer puts a record on every shard every 50 ms; one worker is SIGKILLed
   and we measure the time to the first record the other worker processes on a shard
   the dead one held (KCL's figure: 20–40 s).
3. handoff: the same with SIGTERM (graceful shutdown releases the leases).

Usage: ``python bench/consumer_bench.py [--records 100000] [--repeats 3] [--json out]``
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from shardline.consumer import ConsumerConfig, ProcessRecordsInput, RecordProcessor, Scheduler
from shardline.consumer.config import Retrieval
from shardline.stores.sqlite_leases import SQLiteLeaseStore
from shardline.testing import RegionProcess, kinesis_client, wait_active

WORKER = Path(__file__).resolve().parents[1] / "tests" / "integration" / "consumer_worker.py"


def _load_worker_command() -> Any:
    """``command()`` of the tests' worker script, which this bench runs as its workers."""
    spec = importlib.util.spec_from_file_location("consumer_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.command


worker_command = _load_worker_command()
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


def make_stream(url: str, shards: int) -> str:
    client = kinesis_client(url)
    name = f"b-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=shards)
    wait_active(client, name)
    return name


def fill(url: str, stream: str, count: int) -> None:
    client = kinesis_client(url)
    batch = [{"Data": b"x" * 100, "PartitionKey": str(i)} for i in range(500)]
    for _ in range(count // 500):
        client.put_records(StreamName=stream, Records=batch)


class Counting(RecordProcessor):
    def __init__(self, seen: list[int], done: asyncio.Event, target: int) -> None:
        self.seen, self.done, self.target = seen, done, target

    async def process_records(self, batch: ProcessRecordsInput) -> None:
        self.seen[0] += len(batch.records)
        if batch.records:
            await batch.checkpointer.checkpoint()
        if self.seen[0] >= self.target:
            self.done.set()


async def drain(url: str, stream: str, count: int, retrieval: Retrieval, leases: Path) -> float:
    config = ConsumerConfig(
        application_name=f"drain-{uuid.uuid4().hex[:6]}",
        stream_name=stream,
        endpoint_url=url,
        client_options=CREDENTIALS,
        initial_position="TRIM_HORIZON",
        retrieval=retrieval,
        idle_time_between_reads_s=0.2,
    )
    seen, done = [0], asyncio.Event()
    scheduler = Scheduler(
        config,
        lambda: Counting(seen, done, count),
        SQLiteLeaseStore(leases, config.application_name),
    )
    task = asyncio.create_task(scheduler.run())
    await scheduler.started.wait()
    started = time.perf_counter()
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - started
    scheduler.shutdown()
    await task
    return seen[0] / elapsed


class WorkerProcess:
    def __init__(self, url: str, stream: str, app: str, tmp: Path, name: str) -> None:
        self.out = tmp / f"{name}.jsonl"
        self.process = subprocess.Popen(
            worker_command(url, stream, app, tmp / "leases.db", self.out, name, "--idle", "0.2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        assert "worker ready" in self.process.stdout.readline()

    def lines(self) -> list[dict[str, Any]]:
        text = self.out.read_text() if self.out.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line]


def owners(leases: Path, app: str) -> dict[str, str | None]:
    async def read() -> dict[str, str | None]:
        store = SQLiteLeaseStore(leases, app)
        try:
            return {lease.key: lease.owner for lease in await store.list_leases()}
        finally:
            await store.close()

    return asyncio.run(read())


def move_time(url: str, graceful: bool) -> float:
    """Seconds from stopping one of two workers to the survivor's first record on its shards."""
    stream = make_stream(url, 4)
    app = f"move-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        a = WorkerProcess(url, stream, app, tmp, "a")
        b = WorkerProcess(url, stream, app, tmp, "b")
        stop = threading.Event()

        def writer() -> None:
            client = kinesis_client(url)
            for i in range(100_000):
                if stop.is_set():
                    return
                client.put_records(
                    StreamName=stream,
                    Records=[
                        {"Data": f"{i}".encode(), "PartitionKey": "k", "ExplicitHashKey": str(h)}
                        for h in (0, 2**126, 2**127, 2**127 + 2**126)
                    ],
                )
                time.sleep(0.05)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            deadline = time.monotonic() + 90
            while set(owners(tmp / "leases.db", app).values()) != {"a", "b"}:
                if time.monotonic() > deadline:
                    raise TimeoutError("workers did not share the shards")
                time.sleep(0.2)
            time.sleep(1.0)
            a_shards = {k for k, v in owners(tmp / "leases.db", app).items() if v == "a"}
            stopped_at = time.time()
            if graceful:
                a.process.send_signal(signal.SIGTERM)
            else:
                a.process.send_signal(signal.SIGKILL)
            a.process.wait(30)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                moved = [
                    r["t"] for r in b.lines() if r["shard"] in a_shards and r["t"] > stopped_at
                ]
                if moved:
                    return float(min(moved)) - stopped_at
                time.sleep(0.1)
            raise TimeoutError("the survivor never processed the stopped worker's shards")
        finally:
            stop.set()
            thread.join()
            b.process.send_signal(signal.SIGKILL)
            b.process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        RegionProcess(Path(tmp) / "region", "--create-delay-ms", "0") as region,
    ):
        retrievals: tuple[Retrieval, ...] = ("polling", "fanout")
        for retrieval in retrievals:
            rates = []
            for _ in range(args.repeats):
                stream = make_stream(region.url, 4)
                fill(region.url, stream, args.records)
                leases = Path(tmp) / f"{uuid.uuid4().hex}.db"
                rates.append(
                    asyncio.run(drain(region.url, stream, args.records, retrieval, leases))
                )
            results[f"throughput_{retrieval}_rec_s"] = statistics.median(rates)
        for label, graceful in (("takeover_sigkill_s", False), ("handoff_sigterm_s", True)):
            results[label] = statistics.median(
                move_time(region.url, graceful) for _ in range(args.repeats)
            )
    print(f"no-op processor, 4 shards, {args.records} records, median of {args.repeats}:")
    print(f"  polling (GetRecords)        {results['throughput_polling_rec_s']:9.0f} rec/s")
    print(f"  fan-out (SubscribeToShard)  {results['throughput_fanout_rec_s']:9.0f} rec/s")
    print("time to the first record processed on a stopped worker's shard (failover 10 s):")
    print(f"  SIGKILL (takeover)          {results['takeover_sigkill_s']:9.2f} s   (KCL: 20-40 s)")
    print(f"  SIGTERM (graceful handoff)  {results['handoff_sigterm_s']:9.2f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
