"""A producer process for tests: puts numbered records and reports what put() accepted.

After each put_many() returns it prints ``accepted N`` (N = the highest record number
accepted so far), so a test that SIGKILLs this process knows exactly which records
the producer promised to deliver. ``--count 0`` only re-sends what the spool holds.

    python producer_worker.py --endpoint URL --stream S --spool FILE [--start 0]
        [--count 5000] [--chunk 50] [--buffered-time 0.5] [--aggregate]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from shardline.producer import Destination, Producer, ProducerConfig, Record


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--chunk", type=int, default=50)
    parser.add_argument("--buffered-time", type=float, default=0.5)
    parser.add_argument("--aggregate", action="store_true")
    args = parser.parse_args()
    config = ProducerConfig(
        spool_path=Path(args.spool),
        max_buffered_time_s=args.buffered_time,
        aggregation=args.aggregate,
        record_ids=True,
        client_options={"aws_access_key_id": "test", "aws_secret_access_key": "test"},
    )
    async with Producer(Destination(args.stream, endpoint_url=args.endpoint), config) as producer:
        print("ready", flush=True)
        end = args.start + args.count
        for first in range(args.start, end, args.chunk):
            numbers = range(first, min(first + args.chunk, end))
            await producer.put_many([Record(b"r-%d" % n, f"k{n % 16}") for n in numbers])
            print(f"accepted {numbers[-1]}", flush=True)
        await producer.flush()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
