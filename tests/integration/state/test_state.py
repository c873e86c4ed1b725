"""Stateful processing with real servers, real worker processes and SIGKILL.

The worker counts records per partition key in keyed state. Exactly-once state
means its checkpointed counts equal the counts of what was put, whatever
happened to the worker in between: a checkpoint restores state and positions
together, so records after it are processed again and none before it twice.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from state_kit import Backend, StateWorker, cli

from shardline.state import KeyRing, latest_checkpoints, merged_keyed, open_store
from shardline.testing import RegionProcess, kinesis_client, wait_active

CREDENTIALS = {"client_options": {"aws_access_key_id": "test", "aws_secret_access_key": "test"}}


def make_stream(kinesis: Any, shards: int) -> str:
    name = f"st-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    wait_active(kinesis, name)
    return name


def put(kinesis: Any, stream: str, start: int, count: int, keys: int = 40) -> Counter[str]:
    """Records ``start..start+count-1`` (payload = the number); returns counts per key."""
    sent: Counter[str] = Counter()
    for first in range(start, start + count, 500):
        batch: list[dict[str, Any]] = [
            {"Data": str(i).encode(), "PartitionKey": f"key-{i % keys}"}
            for i in range(first, min(start + count, first + 500))
        ]
        assert kinesis.put_records(StreamName=stream, Records=batch)["FailedRecordCount"] == 0
        sent.update(record["PartitionKey"] for record in batch)
    return sent


def state_of(backend: Backend, app: str, key_file: Path | None = None) -> dict[str, list[int]]:
    """Every key's checkpointed [count, sum], flattened across the shard lineage."""
    keys = KeyRing.from_file(key_file) if key_file else None

    async def read() -> dict[str, list[int]]:
        options = CREDENTIALS if backend.s3_endpoint else {}
        store = open_store(backend.url, backend.s3_endpoint, **options)
        try:
            return dict(merged_keyed(await latest_checkpoints(store, app, keys)))
        finally:
            await store.close()

    return asyncio.run(read())


def wait_counted(backend: Backend, app: str, total: int, key_file: Path | None = None) -> None:
    deadline = time.monotonic() + 30
    counted = -1
    while time.monotonic() < deadline:
        counted = sum(count for count, _ in state_of(backend, app, key_file).values())
        if counted >= total:
            return
        time.sleep(0.3)
    raise AssertionError(f"{counted} of {total} records in the checkpointed state")


def expected(sent: Counter[str], keys: int = 40) -> dict[str, list[int]]:
    """[count, sum] per key for records 0..n-1 put by :func:`put`."""
    sums: Counter[str] = Counter()
    for i in range(sum(sent.values())):
        sums[f"key-{i % keys}"] += i
    return {key: [sent[key], sums[key]] for key in sent}


def test_sigkilled_counter_matches_an_uninterrupted_run(
    region: RegionProcess,
    start_worker: Callable[..., StateWorker],
    backend: Backend,
    key_file: Path,
) -> None:
    kinesis = kinesis_client(region.url)
    stream, app = make_stream(kinesis, 2), f"app-{uuid.uuid4().hex[:6]}"
    args = ("--interval", "0.3", "--key-file", str(key_file))
    worker = start_worker(region.url, stream, app, backend, *args)
    sent = put(kinesis, stream, 0, 1500)
    wait_counted(backend, app, 1, key_file)
    sent += put(kinesis, stream, 1500, 1500)
    time.sleep(0.2)
    worker.kill()  # records applied after the last checkpoint are lost with it
    sent += put(kinesis, stream, 3000, 1000)
    worker = start_worker(region.url, stream, app, backend, *args)
    wait_counted(backend, app, 4000, key_file)
    assert worker.stop(30) == 0
    assert state_of(backend, app, key_file) == expected(sent)
    assert "restored checkpoint" in worker.text()


def test_processor_failures_restore_the_latest_checkpoint(
    region: RegionProcess, start_worker: Callable[..., StateWorker], tmp_path: Path
) -> None:
    kinesis = kinesis_client(region.url)
    stream, app = make_stream(kinesis, 2), f"app-{uuid.uuid4().hex[:6]}"
    backend = Backend(str(tmp_path / "state"), None)
    args = ("--interval", "0.2", "--fail-every", "900")
    worker = start_worker(region.url, stream, app, backend, *args)
    sent: Counter[str] = Counter()
    for start in range(0, 3000, 300):  # small batches, so each can finish between failures
        sent += put(kinesis, stream, start, 300)
        time.sleep(0.2)
    wait_counted(backend, app, 3000)
    assert worker.stop(30) == 0
    assert state_of(backend, app) == expected(sent)
    assert "injected failure" in worker.text()


def test_snapshot_restore_rewinds_to_the_snapshot(
    region: RegionProcess,
    start_worker: Callable[..., StateWorker],
    backend: Backend,
    tmp_path: Path,
) -> None:
    kinesis = kinesis_client(region.url)
    stream, app = make_stream(kinesis, 2), f"app-{uuid.uuid4().hex[:6]}"
    state = [*backend.cli_args(), "--app", app]
    worker = start_worker(region.url, stream, app, backend, "--interval", "0.2")
    sent = put(kinesis, stream, 0, 1000)
    wait_counted(backend, app, 1000)
    [created] = cli("snapshot", "create", "before-b", *state)
    assert created["SnapshotStatus"] == "READY" and created["Keys"] == 40
    at_snapshot = state_of(backend, app)
    sent += put(kinesis, stream, 1000, 1000)
    wait_counted(backend, app, 2000)
    assert worker.stop(30) == 0
    [listed] = cli("snapshot", "list", *state)
    assert listed["SnapshotName"] == "before-b" and len(listed["Shards"]) == 2
    leases = ["--leases", str(tmp_path / "leases.db")]
    cli("snapshot", "restore", "before-b", *leases, *state)
    assert state_of(backend, app) == at_snapshot  # rewound: state and positions
    worker = start_worker(region.url, stream, app, backend, "--interval", "0.2")
    wait_counted(backend, app, 2000)
    assert worker.stop(30) == 0
    assert state_of(backend, app) == expected(sent)  # B once more, A not again
    cli("snapshot", "delete", "before-b", "--created", str(listed["Version"]), *state)
    assert cli("snapshot", "list", *state) == []


def test_tampered_checkpoint_is_detected_and_never_used(
    region: RegionProcess, start_worker: Callable[..., StateWorker], tmp_path: Path, key_file: Path
) -> None:
    kinesis = kinesis_client(region.url)
    stream, app = make_stream(kinesis, 1), f"app-{uuid.uuid4().hex[:6]}"
    backend = Backend(str(tmp_path / "state"), None)
    args = ("--interval", "0.2", "--key-file", str(key_file))
    worker = start_worker(region.url, stream, app, backend, *args)
    sent = put(kinesis, stream, 0, 600)
    wait_counted(backend, app, 600, key_file)
    sent += put(kinesis, stream, 600, 600)
    wait_counted(backend, app, 1200, key_file)
    assert worker.stop(30) == 0
    shard_dir = next((tmp_path / "state" / app / "checkpoints").iterdir())
    states = sorted(shard_dir.glob("*.state"))
    assert len(states) == 2
    newest = states[-1]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x01
    newest.write_bytes(bytes(data))
    worker = start_worker(region.url, stream, app, backend, *args)
    deadline = time.monotonic() + 20
    while "failed authentication" not in worker.text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "failed authentication" in worker.text()
    wait_counted(backend, app, 1200, key_file)
    assert worker.stop(30) == 0
    assert state_of(backend, app, key_file) == expected(sent)
    for path in shard_dir.glob("*.state"):
        path.write_bytes(path.read_bytes()[:-1] + bytes([path.read_bytes()[-1] ^ 1]))
    worker = start_worker(region.url, stream, app, backend, *args)
    deadline = time.monotonic() + 20
    while "failed verification" not in worker.text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "failed verification" in worker.text()  # refuses instead of starting empty


def test_resharding_hands_keyed_state_to_the_children(
    region: RegionProcess, start_worker: Callable[..., StateWorker], tmp_path: Path
) -> None:
    kinesis = kinesis_client(region.url)
    stream, app = make_stream(kinesis, 1), f"app-{uuid.uuid4().hex[:6]}"
    backend = Backend(str(tmp_path / "state"), None)
    worker = start_worker(region.url, stream, app, backend, "--interval", "0.2")
    sent = put(kinesis, stream, 0, 800)
    wait_counted(backend, app, 800)
    kinesis.update_shard_count(StreamName=stream, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    wait_active(kinesis, stream)
    sent += put(kinesis, stream, 800, 800)
    wait_counted(backend, app, 1600)
    assert worker.stop(30) == 0
    assert state_of(backend, app) == expected(sent)
    children = [s for s in asyncio.run(_latest(backend, app)).values() if s.manifest.parents]
    assert len(children) == 2
    assert sum(len(child.keyed) for child in children) == 40  # split by hash range
    assert (
        sum(child.value for child in children) == 2 * 800 + 800
    )  # both inherit the parent's total


async def _latest(backend: Backend, app: str) -> dict[str, Any]:
    store = open_store(backend.url)
    return await latest_checkpoints(store, app, None)


def test_standby_region_restores_state_by_time_through_the_cli(
    region: RegionProcess,
    fresh_region: Callable[..., RegionProcess],
    start_worker: Callable[..., StateWorker],
    tmp_path: Path,
) -> None:
    """Failover: the state moves to region B, positions mapped to AT_TIMESTAMP."""
    region_b = fresh_region("--create-delay-ms", "0")
    a, b = kinesis_client(region.url), kinesis_client(region_b.url)
    stream_a, stream_b = make_stream(a, 1), make_stream(b, 2)
    app = f"app-{uuid.uuid4().hex[:6]}"
    primary = Backend(str(tmp_path / "state-a"), None)
    standby = Backend(str(tmp_path / "state-b"), None)
    old = put(a, stream_a, 0, 500)
    put(b, stream_b, 0, 500)  # what the replicator copied
    time.sleep(1.5)
    recent = put(a, stream_a, 500, 500)
    put(b, stream_b, 500, 500)
    worker = start_worker(region.url, stream_a, app, primary, "--interval", "0.2")
    wait_counted(primary, app, 1000)
    assert worker.stop(30) == 0  # region A is lost now
    after = put(b, stream_b, 1000, 500)

    moved = cli(
        "snapshot",
        "restore-in-region",
        "--app",
        app,
        *primary.cli_args(),
        "--stream",
        stream_b,
        "--endpoint-url",
        region_b.url,
        "--target-store",
        standby.url,
        "--buffer-seconds",
        "0.5",
    )
    assert moved["initial_position"] == "AT_TIMESTAMP"
    assert sorted(moved["shards"]) == ["shardId-000000000000", "shardId-000000000001"]
    assert sum(moved["shards"].values()) == 40  # every key, split by hash range
    worker = start_worker(
        region_b.url,
        stream_b,
        app,
        standby,
        "--at-timestamp",
        moved["timestamp"],
        leases="standby-leases",  # a fresh lease table: B's shards are not A's
    )
    wait_counted(standby, app, 1000 + 500 + 500)
    assert worker.stop(30) == 0
    counts = {key: count for key, (count, _) in state_of(standby, app).items()}
    # nothing lost; only the last records before the failover were counted twice
    assert counts == dict(old + recent + recent + after)
