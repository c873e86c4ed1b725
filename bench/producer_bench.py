#!/usr/bin/env python3
"""Producer throughput: aggregation on/off and durable spool on/off, side by side.

Starts one ``shardline serve`` (RegionProcess, 127.0.0.1, port 0) and runs one
producer in this process against it. Each configuration puts ``--records`` records
of ``--size`` bytes with random partition keys into a fresh 4-shard stream, with
``put_many`` chunks of ``--chunk`` records (``--chunk 1`` is one ``put`` at a time),
and times put → flush (every outcome known). Each configuration runs ``--repeats``
times; the median is reported with ratios against the plain configuration.

    python bench/producer_bench.py
    python bench/producer_bench.py --records 100000 --chunk 1 --json out.json

The producer's per-shard rate limit (KPL default 150 % of 1,000 rec/s) is off here:
it would cap four shards at 6,000 Kinesis records/s, and this measures the producer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from shardline.framing import aggregation
from shardline.producer import Destination, Producer, ProducerConfig, Record
from shardline.testing import RegionProcess, kinesis_client, read_shard, wait_active

FAST = ("--create-delay-ms", "0", "--delete-delay-ms", "0", "--update-delay-ms", "0")
CREDS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
CONFIGS = [
    ("plain", False, False),
    ("aggregated", True, False),
    ("plain + spool", False, True),
    ("aggregated + spool", True, True),
]


def _stream(url: str, shards: int) -> str:
    kinesis = kinesis_client(url)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    wait_active(kinesis, name)
    return name


def _count(url: str, stream: str) -> int:
    kinesis = kinesis_client(url)
    total = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        for record in read_shard(kinesis, stream, shard["ShardId"]):
            total += len(aggregation.deaggregate(record["Data"], record["PartitionKey"]))
    return total


async def _run(
    url: str, stream: str, settings: ProducerConfig, records: list[Record], chunk: int
) -> float:
    async with Producer(Destination(stream, url), settings) as producer:
        begin = time.perf_counter()
        if chunk == 1:
            for record in records:
                await producer.put(record.data, record.partition_key)
        else:
            for start in range(0, len(records), chunk):
                await producer.put_many(records[start : start + chunk])
        await producer.flush()
        return time.perf_counter() - begin


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=100, help="payload bytes per record")
    parser.add_argument("--chunk", type=int, default=100, help="records per put_many call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument(
        "--spool-durability", choices=["fsync", "process"], default="fsync", help="spool commits"
    )
    parser.add_argument("--verify", action="store_true", help="count the records in the stream")
    parser.add_argument("--json", dest="json_path", help="also write the results as JSON here")
    args = parser.parse_args()

    rng = random.Random(1)
    records = [
        Record(rng.randbytes(args.size), uuid.UUID(int=rng.getrandbits(128)).hex)
        for _ in range(args.records)
    ]
    results: dict[str, dict[str, object]] = {}
    runs: dict[str, list[float]] = {label: [] for label, _, _ in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp, RegionProcess(Path(tmp) / "region", *FAST) as region:

        def measure(label: str, aggregate: bool, spool: bool, batch: list[Record]) -> float:
            stream = _stream(region.url, args.shards)
            settings = ProducerConfig(
                aggregation=aggregate,
                spool_path=Path(tmp) / f"spool-{stream}.sqlite" if spool else None,
                spool_durability=args.spool_durability,
                rate_limit_percent=None,
                client_options=CREDS,
                name=f"bench-{stream}",
            )
            seconds = asyncio.run(_run(region.url, stream, settings, batch, args.chunk))
            if args.verify and label:
                stored = _count(region.url, stream)
                if stored != len(batch):
                    print(f"WARNING {label}: {stored} records stored of {len(batch)}")
            return len(batch) / seconds

        for _, aggregate, spool in CONFIGS:  # warm-up: connections, caches, the server
            measure("", aggregate, spool, records[: len(records) // 10])
        # Configurations take turns in each round, so drift hits them all alike.
        for repeat in range(args.repeats):
            for label, aggregate, spool in CONFIGS:
                runs[label].append(measure(label, aggregate, spool, records))
                print(
                    f"round {repeat + 1}: {label:<20} {runs[label][-1]:>10,.0f} rec/s",
                    file=sys.stderr,
                )
    for label, rates in runs.items():
        results[label] = {"records_per_s": statistics.median(rates), "runs": rates}

    def rate(label: str) -> float:
        return float(results[label]["records_per_s"])  # type: ignore[arg-type]

    print(
        f"\nproducer → shardline serve: {args.records:,} records × {args.size} B, "
        f"{args.shards} shards, put_many chunks of {args.chunk}, median of {args.repeats}\n"
    )
    print(f"{'configuration':<20} {'rec/s':>10}  {'vs plain':>9}  {'spool cost':>10}")
    print(f"{'-' * 20} {'-' * 10}  {'-' * 9}  {'-' * 10}")
    for label, _, spool in CONFIGS:
        versus = rate(label) / rate("plain")
        base = label.replace(" + spool", "")
        cost = f"{rate(label) / rate(base):.2f}x" if spool else "-"
        print(f"{label:<20} {rate(label):>10,.0f}  {versus:>8.2f}x  {cost:>10}")
    summary = {
        "records": args.records,
        "size": args.size,
        "chunk": args.chunk,
        "shards": args.shards,
        "repeats": args.repeats,
        "spool_durability": args.spool_durability,
        "results": results,
        "aggregation_speedup": rate("aggregated") / rate("plain"),
        "spool_ratio_plain": rate("plain + spool") / rate("plain"),
        "spool_ratio_aggregated": rate("aggregated + spool") / rate("aggregated"),
    }
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
