"""A consumer worker process for tests and ``bench/consumer_bench.py``: logs every
record it processes (with the time), then checkpoints.

Each processed record becomes one JSON line in ``--out`` (flushed before the
checkpoint), so a test can check at-least-once delivery record by record even
after this process is SIGKILLed.

    python consumer_worker.py --endpoint URL --stream S --app A --leases DB --out FILE
        [--worker-id W] [--fail-every N] [--retrieval polling|fanout] [--dynamodb URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import TextIO

from shardline.consumer import (
    ConsumerConfig,
    ProcessRecordsInput,
    RecordProcessor,
    Scheduler,
)
from shardline.stores.dynamodb_leases import DynamoDBLeaseStore
from shardline.stores.leases import LeaseStore
from shardline.stores.sqlite_leases import SQLiteLeaseStore
from shardline.testing import script_command


def command(
    endpoint: str, stream: str, app: str, leases: Path, out: Path, worker_id: str, *extra: str
) -> list[str]:
    """The command line that runs this worker (used by the tests and the bench)."""
    return script_command(
        __file__,
        *extra,
        endpoint=endpoint,
        stream=stream,
        app=app,
        leases=leases,
        out=out,
        worker_id=worker_id,
    )


class LoggingProcessor(RecordProcessor):
    def __init__(self, out: TextIO, worker: str, fail_every: int, batches: list[int]) -> None:
        self.out = out
        self.worker = worker
        self.fail_every = fail_every
        self.batches = batches

    async def process_records(self, batch: ProcessRecordsInput) -> None:
        if not batch.records:
            return
        self.batches[0] += 1
        if self.fail_every and self.batches[0] % self.fail_every == 0:
            raise RuntimeError(f"injected failure in batch {self.batches[0]}")
        for record in batch.records:
            line = {
                "worker": self.worker,
                "shard": batch.shard_id,
                "seq": record.sequence_number,
                "sub": record.sub_sequence_number,
                "key": record.partition_key,
                "data": record.data.decode(),
                "t": time.time(),
            }
            self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        os.fsync(self.out.fileno())
        await batch.checkpointer.checkpoint()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--leases", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--retrieval", default="polling")
    parser.add_argument("--dynamodb", default=None)
    parser.add_argument("--failover", type=float, default=10.0)
    parser.add_argument("--idle", type=float, default=0.2)
    args = parser.parse_args()
    options = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    config = ConsumerConfig(
        application_name=args.app,
        stream_name=args.stream,
        endpoint_url=args.endpoint,
        client_options=options,
        worker_id=args.worker_id or f"worker-{os.getpid()}",
        initial_position="TRIM_HORIZON",
        retrieval=args.retrieval,
        failover_time_s=args.failover,
        idle_time_between_reads_s=args.idle,
        task_backoff_s=0.1,
        shard_sync_interval_s=2.0,
    )
    store: LeaseStore
    if args.dynamodb:
        store = DynamoDBLeaseStore(args.app, endpoint_url=args.dynamodb, client_options=options)
    else:
        store = SQLiteLeaseStore(Path(args.leases), args.app)
    batches = [0]
    with open(args.out, "a", buffering=1) as out:
        scheduler = Scheduler(
            config,
            lambda: LoggingProcessor(out, config.worker_id, args.fail_every, batches),
            store,
        )
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, scheduler.shutdown)
        task = asyncio.create_task(scheduler.run())
        await scheduler.started.wait()
        print("worker ready", flush=True)
        await task


if __name__ == "__main__":
    asyncio.run(main())
