"""What the producer promises under failure: a SIGKILLed producer, a stopped region,
and per-key order while the region throttles."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from producer_helpers import config, new_stream, raw_records, spool_depth, user_payloads

from shardline.framing import aggregation
from shardline.producer import Destination, Producer, Record
from shardline.testing import RegionProcess

WORKER = Path(__file__).with_name("producer_worker.py")
FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")


def _worker(url: str, stream: str, spool: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            "--endpoint",
            url,
            "--stream",
            stream,
            "--spool",
            str(spool),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("aggregate", [False, True])
def test_every_record_accepted_before_a_sigkill_reaches_the_stream(
    region: RegionProcess, tmp_path: Path, aggregate: bool
) -> None:
    stream = new_stream(region.url, shards=2)
    spool = tmp_path / "spool.sqlite"
    flags = ["--aggregate"] if aggregate else []
    # Long buffering keeps accepted records unsent, so the kill catches them in the
    # spool; the count is more than a descheduled test could let it finish.
    first = _worker(
        region.url, stream, spool, "--count", "200000", "--buffered-time", "1.0", *flags
    )
    assert first.stdout is not None
    accepted = -1
    for line in first.stdout:
        if line.startswith("accepted "):
            accepted = int(line.split()[1])
            if accepted >= 3000:
                break
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert accepted >= 3000
    left = spool_depth(spool)
    assert left > 0, "the kill should find unacknowledged records in the spool"

    second = _worker(region.url, stream, spool, "--count", "0", "--buffered-time", "0.05", *flags)
    output, _ = second.communicate(timeout=60)
    assert second.returncode == 0 and "done" in output, output
    stored = set(user_payloads(region.url, stream))
    missing = [n for n in range(accepted + 1) if b"r-%d" % n not in stored]
    assert missing == []
    assert spool_depth(spool) == 0


def test_records_put_while_the_region_is_down_arrive_after_it_returns(
    fresh_region: Callable[..., RegionProcess], tmp_path: Path
) -> None:
    server = fresh_region(*FAST)
    stream = new_stream(server.url, shards=2)
    records = [Record(b"o-%d" % i, f"k{i % 8}") for i in range(1500)]

    async def scenario() -> list[object]:
        settings = config(spool_path=tmp_path / "spool.sqlite", backoff_max_s=0.5)
        async with Producer(Destination(stream, server.url), settings) as producer:
            futures = await producer.put_many(records[:500])
            await producer.flush()
            server.kill()  # SIGKILL: the region vanishes mid-stream
            for start in range(500, 1500, 100):
                futures += await producer.put_many(records[start : start + 100])
                await asyncio.sleep(0.2)
            assert producer.pending > 0
            window = producer.metrics.window(60)
            assert window.failed_calls > 0 and window.error_rate > 0
            await asyncio.to_thread(server.start)  # same data directory, same port
            await producer.flush(timeout=30)
            return [f.result() for f in futures]

    outcomes = asyncio.run(scenario())
    assert all(o.succeeded for o in outcomes)  # type: ignore[attr-defined]
    retried = [o for o in outcomes if len(o.attempts) > 1]  # type: ignore[attr-defined]
    assert retried and all(not o.attempts[0].succeeded for o in retried)  # type: ignore[attr-defined]
    assert set(user_payloads(server.url, stream)) == {r.data for r in records}


@pytest.mark.parametrize("aggregate", [False, True])
def test_ordered_mode_keeps_each_keys_order_while_throttled(
    fresh_region: Callable[..., RegionProcess], aggregate: bool
) -> None:
    server = fresh_region("--enforce-throughput", *FAST)
    stream = new_stream(server.url, shards=1)
    # Everything is buffered, then flushed, so the first PutRecords is full. Plain: one
    # 6 kB record per key, 200 keys, is 1.2 MB in that call. Aggregated: 2.5 MB in
    # aggregates of up to 500 kB. Either exceeds the shard's 1 MiB/s within the first
    # call, however slow this machine is.
    hold = {"max_buffered_time_s": 30.0}
    if aggregate:
        count, keys, padding = 2500, 24, b"." * 1000
        settings = config(
            ordering="per-key", aggregation=True, aggregation_max_size=500_000, **hold
        )
    else:
        count, keys, padding = 1200, 200, b"." * 6000
        settings = config(ordering="per-key", **hold)
    records = [Record(b"%d|" % i + padding, f"key-{i % keys}") for i in range(count)]

    async def scenario() -> int:
        async with Producer(Destination(stream, server.url), settings) as producer:
            for start in range(0, count, 250):
                await producer.put_many(records[start : start + 250])
            await producer.flush(timeout=60)
            return producer.metrics.window(120).throttled_entries

    throttled = asyncio.run(scenario())
    assert throttled > 0, "the region should have throttled some calls"
    order: dict[str, list[int]] = defaultdict(list)
    by_sequence = sorted(
        raw_records(server.url, stream), key=lambda pair: int(pair[1]["SequenceNumber"])
    )
    for _, record in by_sequence:
        for user in aggregation.deaggregate(record["Data"], record["PartitionKey"]):
            order[user.partition_key].append(int(user.data.split(b"|")[0]))
    assert sum(len(v) for v in order.values()) == count
    for key, numbers in order.items():
        assert numbers == sorted(numbers), f"{key} out of order"
