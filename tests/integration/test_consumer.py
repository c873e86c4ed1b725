"""The KCL-equivalent consumer with real worker processes and a real server.

Each worker logs every record it processes (``consumer_worker.py``); tests compare
those logs with what was put into the stream, record by record.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from consumer_worker import command as worker_command
from live_files import read_jsonl

from shardline.stores.leases import Lease
from shardline.stores.sqlite_leases import SQLiteLeaseStore
from shardline.testing import ChildProcess, RegionProcess, kinesis_client, wait_active


class Worker:
    """A consumer worker process; its output is read all along (a full pipe would
    block it)."""

    def __init__(
        self, region_url: str, stream: str, app: str, tmp: Path, name: str, *extra: str
    ) -> None:
        self.out = tmp / f"{name}.jsonl"
        self.name = name
        command = worker_command(region_url, stream, app, tmp / "leases.db", self.out, name, *extra)
        self.process = ChildProcess(command, ready="worker ready").start()

    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.out)

    def kill(self) -> None:
        self.process.kill()

    def terminate(self) -> int | None:
        return self.process.stop(30)


# A boto3 Kinesis client (built at run time by botocore, so Any), the factory of a fresh
# stream (its name, app name and worker factory) and the test's directory.
Setup = tuple[Any, Callable[..., dict[str, Any]], Path]


@pytest.fixture()
def setup(region: RegionProcess, tmp_path: Path) -> Iterator[Setup]:
    """A fresh stream, app name and worker factory; workers are stopped afterwards."""
    kinesis = kinesis_client(region.url)
    workers: list[Worker] = []

    def make(shards: int, **_: Any) -> dict[str, Any]:
        stream = f"c-{uuid.uuid4().hex[:8]}"
        kinesis.create_stream(StreamName=stream, ShardCount=shards)
        wait_active(kinesis, stream)
        app = f"app-{uuid.uuid4().hex[:6]}"

        def worker(name: str, *extra: str) -> Worker:
            w = Worker(region.url, stream, app, tmp_path, name, *extra)
            workers.append(w)
            return w

        return {"stream": stream, "app": app, "worker": worker}

    yield kinesis, make, tmp_path
    for w in workers:
        w.kill()


def put(kinesis: Any, stream: str, prefix: str, count: int, keys: int = 16) -> list[str]:
    sent: list[str] = []
    for start in range(0, count, 500):
        batch: list[dict[str, Any]] = [
            {"Data": f"{prefix}-{i}".encode(), "PartitionKey": f"k{i % keys}"}
            for i in range(start, min(count, start + 500))
        ]
        out = kinesis.put_records(StreamName=stream, Records=batch)
        assert out["FailedRecordCount"] == 0
        sent += [r["Data"].decode() for r in batch]
    return sent


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def processed(*workers: Worker) -> set[str]:
    return {r["data"] for w in workers for r in w.records()}


def leases(tmp: Path, app: str) -> list[Lease]:
    import asyncio

    store = SQLiteLeaseStore(tmp / "leases.db", app)

    async def read() -> list[Lease]:
        try:
            return await store.list_leases()
        finally:
            await store.close()

    return asyncio.run(read())


def owners(tmp: Path, app: str) -> set[str | None]:
    return {lease.owner for lease in leases(tmp, app)}


def test_one_worker_processes_every_record_in_per_shard_order(setup: Setup) -> None:
    kinesis, make, _ = setup
    env = make(shards=3)
    worker = env["worker"]("w1")
    sent = put(kinesis, env["stream"], "a", 1500)
    wait_for(lambda: processed(worker) >= set(sent), 30, "all records")
    by_shard: dict[str, list[int]] = {}
    for record in worker.records():
        by_shard.setdefault(record["shard"], []).append(int(record["seq"]))
    assert len(by_shard) == 3
    assert all(seqs == sorted(seqs) for seqs in by_shard.values())


def test_workers_converge_to_a_balanced_assignment(setup: Setup) -> None:
    kinesis, make, tmp = setup
    env = make(shards=6)
    for name in ("w1", "w2", "w3"):
        env["worker"](name)

    def balanced() -> bool:
        owners = [lease.owner for lease in leases(tmp, env["app"])]
        return len(owners) == 6 and sorted(owners.count(w) for w in ("w1", "w2", "w3")) == [2, 2, 2]

    wait_for(balanced, 45, "a 2/2/2 assignment")


def test_sigkilled_worker_shards_move_and_no_record_is_skipped(setup: Setup) -> None:
    kinesis, make, tmp = setup
    env = make(shards=4)
    w1 = env["worker"]("w1", "--failover", "3")
    w2 = env["worker"]("w2", "--failover", "3")
    wait_for(
        lambda: {lease.owner for lease in leases(tmp, env["app"])} == {"w1", "w2"}, 30, "sharing"
    )
    sent = put(kinesis, env["stream"], "before", 800)
    wait_for(lambda: processed(w1, w2) >= set(sent), 30, "first records")
    w1.kill()
    killed_at = time.monotonic()
    sent += put(kinesis, env["stream"], "after", 800)  # partly into orphaned shards
    wait_for(lambda: owners(tmp, env["app"]) == {"w2"}, 40, "w2 taking the dead worker's leases")
    took = time.monotonic() - killed_at
    assert took < 3 + 10  # failover time + scan and renewal slack
    wait_for(lambda: processed(w1, w2) >= set(sent), 40, "every record after the kill")


def test_raising_processor_loses_nothing(setup: Setup) -> None:
    kinesis, make, _ = setup
    env = make(shards=2)
    worker = env["worker"]("w1", "--fail-every", "3")
    sent = put(kinesis, env["stream"], "x", 1000)
    for i in range(5):
        sent += put(kinesis, env["stream"], f"y{i}", 40)
        time.sleep(0.3)
    wait_for(lambda: processed(worker) >= set(sent), 40, "every record despite failures")


def test_graceful_shutdown_hands_leases_over_at_once(setup: Setup) -> None:
    kinesis, make, tmp = setup
    env = make(shards=4)
    # Leases expire 30 s after their last renewal (every 10 s): a handover within
    # 15 s of the stop can only be the released leases being taken.
    w1 = env["worker"]("w1", "--failover", "30")
    w2 = env["worker"]("w2", "--failover", "30")
    wait_for(
        lambda: {lease.owner for lease in leases(tmp, env["app"])} == {"w1", "w2"}, 30, "sharing"
    )
    sent = put(kinesis, env["stream"], "g", 400)
    wait_for(lambda: processed(w1, w2) >= set(sent), 30, "records")
    assert w1.terminate() == 0
    stopped = time.monotonic()
    wait_for(lambda: owners(tmp, env["app"]) == {"w2"}, 30, "handover")
    assert time.monotonic() - stopped < 15
    sent += put(kinesis, env["stream"], "h", 400)
    wait_for(lambda: processed(w1, w2) >= set(sent), 30, "records after handover")


def test_split_and_merge_keep_per_key_order(setup: Setup) -> None:
    kinesis, make, _ = setup
    env = make(shards=2)
    worker = env["worker"]("w1")
    sent: list[str] = []
    for round_, target in enumerate((4, 2, 3)):
        for i in range(30):
            data = f"r{round_}-{i}"
            kinesis.put_record(StreamName=env["stream"], Data=data.encode(), PartitionKey="one-key")
            sent.append(data)
        kinesis.update_shard_count(
            StreamName=env["stream"], TargetShardCount=target, ScalingType="UNIFORM_SCALING"
        )
    for i in range(30):  # and into the children of the last reshard
        kinesis.put_record(
            StreamName=env["stream"], Data=f"last-{i}".encode(), PartitionKey="one-key"
        )
        sent.append(f"last-{i}")
    wait_for(lambda: processed(worker) >= set(sent), 60, "records across reshards")
    seen = [r["data"] for r in worker.records() if r["key"] == "one-key"]
    first = [seen.index(d) for d in sent]
    assert first == sorted(first), "per-key order broken across parent → child"


def test_fan_out_retrieval_delivers_everything(setup: Setup) -> None:
    kinesis, make, _ = setup
    env = make(shards=2)
    worker = env["worker"]("w1", "--retrieval", "fanout")
    sent = put(kinesis, env["stream"], "f", 1000)
    wait_for(lambda: processed(worker) >= set(sent), 30, "fan-out records")


def test_dynamodb_lease_store_runs_the_same_protocol(setup: Setup, dynamodb_url: str) -> None:
    kinesis, make, _ = setup
    env = make(shards=4)
    w1 = env["worker"]("w1", "--dynamodb", dynamodb_url, "--failover", "3")
    w2 = env["worker"]("w2", "--dynamodb", dynamodb_url, "--failover", "3")
    sent = put(kinesis, env["stream"], "d", 800)
    wait_for(lambda: processed(w1, w2) >= set(sent), 30, "records with DynamoDB leases")
    w1.kill()
    sent += put(kinesis, env["stream"], "e", 800)
    wait_for(lambda: processed(w1, w2) >= set(sent), 40, "records after the kill")
