"""Enhanced fan-out vs GetRecords polling on one Shardline server, in one run.

Workloads (1 shard, boto3 clients, everything on 127.0.0.1):

1. latency: a producer writes ``--rate`` records/s for ``--seconds`` (PutRecords batches
   every 10 ms, each record carrying its send time), once for a SubscribeToShard
   subscriber and once for a GetRecords poller (sleeping ``--poll-ms`` after an empty
   read, the KCL's floor is 200 ms); each reports put→receive latency p50/p99. The
   receiver runs in a process of its own, so that neither the producer nor the other
   receiver holds the interpreter lock when a record arrives (that wait, up to 5 ms
   per switch, would be measured as delivery latency).
2. drain: ``--backlog`` records already stored; records/s delivered to one
   subscription vs one polling loop.

Usage: ``python bench/fanout_bench.py [--rate 1000] [--seconds 10] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from shardline.testing import RegionProcess, wait_active

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import make_client  # noqa: E402

_STAMP = struct.Struct(">q")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def bench_client(url: str) -> Any:
    """A boto3 client that parses epoch timestamps cheaply (see workloads.make_client)."""
    return make_client(url)


def produce(url: str, stream: str, rate: int, seconds: float, stop: threading.Event) -> int:
    client = bench_client(url)
    per_tick = max(1, rate // 100)
    sent = 0
    start = time.perf_counter()
    tick = 0
    while not stop.is_set() and time.perf_counter() - start < seconds:
        records = [
            {"Data": _STAMP.pack(time.time_ns()) + b"x" * 92, "PartitionKey": str(i)}
            for i in range(per_tick)
        ]
        client.put_records(StreamName=stream, Records=records)
        sent += per_tick
        tick += 1
        delay = start + tick * 0.01 - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    return sent


def latency_ms(record: dict[str, Any]) -> float:
    sent_ns: int = _STAMP.unpack_from(record["Data"])[0]
    return (time.time_ns() - sent_ns) / 1e6


def subscribe_latencies(
    url: str, consumer_arn: str, expected: int, seconds: float, ready: Any, out: Any
) -> None:
    client = bench_client(url)
    stream = client.subscribe_to_shard(
        ConsumerARN=consumer_arn,
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "LATEST"},
    )["EventStream"]
    deadline = time.monotonic() + seconds + 10
    ready.set()
    latencies: list[float] = []
    try:
        for event in stream:
            for record in event["SubscribeToShardEvent"]["Records"]:
                latencies.append(latency_ms(record))
            if len(latencies) >= expected or time.monotonic() > deadline:
                break
    finally:
        stream.close()
        out.put(latencies)


def poll_latencies(
    url: str, stream_name: str, poll_ms: int, expected: int, seconds: float, ready: Any, out: Any
) -> None:
    client = bench_client(url)
    iterator = client.get_shard_iterator(
        StreamName=stream_name, ShardId="shardId-000000000000", ShardIteratorType="LATEST"
    )["ShardIterator"]
    deadline = time.monotonic() + seconds + 10
    ready.set()
    latencies: list[float] = []
    while len(latencies) < expected and time.monotonic() < deadline:
        result = client.get_records(ShardIterator=iterator)
        latencies.extend(latency_ms(r) for r in result["Records"])
        iterator = result["NextShardIterator"]
        if not result["Records"]:
            time.sleep(poll_ms / 1000)
    out.put(latencies)


def measure(
    url: str, receiver: Any, args: tuple[Any, ...], rate: int, seconds: float
) -> dict[str, Any]:
    """Run ``receiver`` in its own process while this one produces; its latencies."""
    context = multiprocessing.get_context("spawn")
    ready, out = context.Event(), context.Queue()
    expected = rate * int(seconds)
    process = context.Process(target=receiver, args=(url, *args, expected, seconds, ready, out))
    process.start()
    try:
        if not ready.wait(60):
            raise TimeoutError("the receiver did not start")
        time.sleep(0.5)
        sent = produce(url, "bench", rate, seconds, threading.Event())
        latencies = out.get(timeout=seconds + 30)
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
    return {
        "sent": sent,
        "received": len(latencies),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


def run_latency(
    url: str, consumer_arn: str, rate: int, seconds: float, poll_ms: int
) -> dict[str, Any]:
    push = measure(url, subscribe_latencies, (consumer_arn,), rate, seconds)
    poll = measure(url, poll_latencies, ("bench", poll_ms), rate, seconds)
    return {"sent": push["sent"], "push": push, "poll": dict(poll, idle_ms=poll_ms)}


def run_drain(url: str, consumer_arn: str, backlog: int) -> dict[str, Any]:
    client = bench_client(url)
    client.create_stream(StreamName="drain", ShardCount=1)
    wait_active(client, "drain")
    arn = client.describe_stream_summary(StreamName="drain")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    drain_consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName="d")["Consumer"][
        "ConsumerARN"
    ]
    batch = [{"Data": b"x" * 100, "PartitionKey": str(i)} for i in range(500)]
    for _ in range(backlog // 500):
        client.put_records(StreamName="drain", Records=batch)
    total = (backlog // 500) * 500
    started = time.perf_counter()
    got = 0
    stream = client.subscribe_to_shard(
        ConsumerARN=drain_consumer,
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "TRIM_HORIZON"},
    )["EventStream"]
    for event in stream:
        got += len(event["SubscribeToShardEvent"]["Records"])
        if got >= total:
            break
    stream.close()
    push_rate = got / (time.perf_counter() - started)
    started = time.perf_counter()
    iterator = client.get_shard_iterator(
        StreamName="drain", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    polled = 0
    while polled < total:
        result = client.get_records(ShardIterator=iterator)
        polled += len(result["Records"])
        iterator = result["NextShardIterator"]
    poll_rate = polled / (time.perf_counter() - started)
    return {"records": total, "push_rec_s": push_rate, "poll_rec_s": poll_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--poll-ms", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        RegionProcess(
            Path(tmp), "--create-delay-ms", "0", "--subscription-seconds", "300"
        ) as region,
    ):
        client = bench_client(region.url)
        client.create_stream(StreamName="bench", ShardCount=1)
        wait_active(client, "bench")
        arn = client.describe_stream_summary(StreamName="bench")["StreamDescriptionSummary"][
            "StreamARN"
        ]
        consumer = client.register_stream_consumer(StreamARN=arn, ConsumerName="bench")["Consumer"][
            "ConsumerARN"
        ]
        results = {
            "latency": run_latency(region.url, consumer, args.rate, args.seconds, args.poll_ms),
            "drain": run_drain(region.url, consumer, args.backlog),
        }
    lat, drain = results["latency"], results["drain"]
    print(
        f"put→receive latency at {args.rate} rec/s for {args.seconds:.0f} s "
        f"({lat['sent']} records sent)"
    )
    print(
        f"  SubscribeToShard push : p50 {lat['push']['p50_ms']:7.1f} ms   "
        f"p99 {lat['push']['p99_ms']:7.1f} ms   received {lat['push']['received']}"
    )
    print(
        f"  GetRecords poll ({args.poll_ms} ms idle): p50 {lat['poll']['p50_ms']:7.1f} ms   "
        f"p99 {lat['poll']['p99_ms']:7.1f} ms   received {lat['poll']['received']}"
    )
    print(f"drain of {drain['records']} stored records, one consumer")
    print(f"  SubscribeToShard: {drain['push_rec_s']:9.0f} rec/s")
    print(
        f"  GetRecords      : {drain['poll_rec_s']:9.0f} rec/s   "
        f"(push/poll {drain['push_rec_s'] / drain['poll_rec_s']:.2f}x)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
