"""A stateful consumer worker for the state tests and ``bench/state_bench.py``.

It counts records per partition key (and sums their integer payloads) in keyed
state, and the total in the whole-processor value, checkpointing every
``--interval`` seconds. SIGTERM stops it gracefully (final checkpoints); tests
also SIGKILL it.

    python state_worker.py --endpoint URL --stream S --app A --leases DB --store URL
        [--s3-endpoint URL] [--interval S] [--key-file F] [--fail-every N]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from shardline.consumer import ConsumerConfig, ConsumerRecord
from shardline.state import KeyRing, ShardState, StateConfig, StatefulJob, StatefulProcessor
from shardline.stores.sqlite_leases import SQLiteLeaseStore
from shardline.testing import script_command

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def command(
    endpoint: str, stream: str, app: str, leases: Path, store: str, *extra: str
) -> list[str]:
    """The command line that runs this worker (used by the tests and the bench)."""
    return script_command(
        __file__, *extra, endpoint=endpoint, stream=stream, app=app, leases=leases, store=store
    )


class Counter(StatefulProcessor):
    """Per key: [records, sum of payloads]; value: records in this shard's lineage."""

    calls = 0

    def __init__(self, fail_every: int) -> None:
        self.fail_every = fail_every

    def process(self, record: ConsumerRecord, state: ShardState) -> None:
        Counter.calls += 1
        if self.fail_every and Counter.calls % self.fail_every == 0:
            # fail halfway through a record: the state holds part of it now
            state.keyed[record.partition_key] = [-1, -1]
            raise RuntimeError(f"injected failure at call {Counter.calls}")
        count, total = state.keyed.get(record.partition_key, (0, 0))
        state.keyed[record.partition_key] = [count + 1, total + int(record.data)]
        state.value = (state.value or 0) + 1

    def combine_values(self, values: list[Any]) -> Any:
        return sum(v or 0 for v in values)


async def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--endpoint", "--stream", "--app", "--leases", "--store"):
        parser.add_argument(name, required=True)
    parser.add_argument("--s3-endpoint", default=None)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--key-file", default=None)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--at-timestamp", default=None, help="ISO time: start AT_TIMESTAMP")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
    consumer = ConsumerConfig(
        application_name=args.app,
        stream_name=args.stream,
        endpoint_url=args.endpoint,
        client_options=CREDENTIALS,
        worker_id=args.worker_id or f"worker-{os.getpid()}",
        initial_position="AT_TIMESTAMP" if args.at_timestamp else "TRIM_HORIZON",
        initial_timestamp=dt.datetime.fromisoformat(args.at_timestamp)
        if args.at_timestamp
        else None,
        idle_time_between_reads_s=0.2,
        failover_time_s=2.0,
        task_backoff_s=0.1,
        shard_sync_interval_s=1.0,
    )
    state = StateConfig(
        args.app,
        store_url=args.store,
        store_endpoint_url=args.s3_endpoint,
        store_options={"client_options": CREDENTIALS} if args.s3_endpoint else {},
        checkpoint_interval_s=args.interval,
        keys=KeyRing.from_file(args.key_file) if args.key_file else None,
    )
    async with StatefulJob(state, lambda: Counter(args.fail_every)) as job:
        scheduler = job.scheduler(consumer, SQLiteLeaseStore(Path(args.leases), args.app))
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, scheduler.shutdown)
        task = asyncio.create_task(scheduler.run())
        await scheduler.started.wait()
        print("worker ready", flush=True)
        await task


if __name__ == "__main__":
    asyncio.run(main())
