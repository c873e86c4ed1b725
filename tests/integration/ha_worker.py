"""Producer and consumer processes that follow the control state, for HA tests.

    python ha_worker.py produce TOPOLOGY --count N --rate R --acked FILE --spool FILE
    python ha_worker.py consume TOPOLOGY --region NAME --out FILE

``produce`` puts ``N`` records (record ids on) at about ``R`` records/s through a
:class:`~shardline.failover.producer.FailoverProducer` and writes the id of every
record a region acknowledged to ``--acked`` (one per line, flushed), then waits
until nothing is pending or held and prints ``producer done``.

``consume`` runs a :class:`~shardline.failover.consumer.RegionConsumer` in one
region; each processed record becomes a JSON line ``{"id", "region", "origin",
"payload", "t"}`` in ``--out``, flushed before the checkpoint. A payload is
``record-<i> <put time>`` (seconds since the epoch, when put() was called).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from shardline.consumer import ProcessRecordsInput, RecordProcessor
from shardline.failover.consumer import RegionConsumer
from shardline.failover.producer import FailoverProducer
from shardline.framing import envelope
from shardline.producer import ProducerConfig, PutOutcome
from shardline.stores.factory import control_store_for
from shardline.topology import load_topology


def command(*args: str) -> list[str]:
    return [sys.executable, __file__, *args]


async def produce(args: argparse.Namespace) -> None:
    topology = load_topology(args.topology)
    config = ProducerConfig(
        record_ids=True, spool_path=Path(args.spool), request_timeout_s=2.0, connect_timeout_s=1.0
    )
    acked = open(args.acked, "a")  # noqa: SIM115 - open for the whole run
    async with control_store_for(topology.stores) as store:
        producer = FailoverProducer(topology, store, config)
        await producer.start()
        print("producer ready", flush=True)

        def record(future: asyncio.Future[PutOutcome]) -> None:
            outcome = future.result()
            if outcome.succeeded:
                acked.write(outcome.record_id + "\n")
                acked.flush()

        interval = 1.0 / args.rate
        begin = time.monotonic()
        for i in range(args.count):
            # The put time travels in the payload (benchmarks measure put → processed).
            payload = f"record-{i} {time.time():.6f}".encode()
            future = await producer.put(payload, f"key-{i % 16}")
            future.add_done_callback(record)
            delay = begin + (i + 1) * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush(120)
        inner = producer.producer
        assert inner is not None
        for _ in range(1200):
            if inner.held == 0 and inner.pending == 0:
                break
            await asyncio.sleep(0.1)
        print(f"producer done held={inner.held}", flush=True)
        await producer.close()


class Recorder(RecordProcessor):
    def __init__(self, out: TextIO, region: str) -> None:
        self.out = out
        self.region = region

    async def process_records(self, batch: ProcessRecordsInput) -> None:
        if not batch.records:
            return
        for record in batch.records:
            opened = envelope.decode(record.data)
            line = {
                "id": opened.record_id,
                "region": self.region,
                "origin": record.origin_region,
                "payload": opened.payload.decode(errors="replace"),
                "t": time.time(),
            }
            self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        await batch.checkpointer.checkpoint()


async def consume(args: argparse.Namespace) -> None:
    topology = load_topology(args.topology)
    out = open(args.out, "a")  # noqa: SIM115 - open for the whole run
    async with control_store_for(topology.stores) as store:
        consumer = RegionConsumer(
            topology,
            store,
            args.region,
            "ha-test",
            lambda: Recorder(out, args.region),
            config_overrides={"failover_time_s": 3.0, "idle_time_between_reads_s": 0.2},
            report_interval_s=0.3,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, consumer.stop)
        print(f"consumer ready in {args.region}", flush=True)
        await consumer.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("produce")
    p.add_argument("topology")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--acked", required=True)
    p.add_argument("--spool", required=True)
    c = sub.add_parser("consume")
    c.add_argument("topology")
    c.add_argument("--region", required=True)
    c.add_argument("--out", required=True)
    args = parser.parse_args()
    asyncio.run(produce(args) if args.role == "produce" else consume(args))


if __name__ == "__main__":
    main()
