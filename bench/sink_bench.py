"""The idempotent sinks (shardline.sinks), one quick run per backend.

Writes ``--records`` ticker records over 50 symbols in batches of ``--batch`` with
one sink, then replays them all (every record a DUPLICATE), and reports records/s for
both. Backends: SQLite (a temporary file, ``synchronous=FULL``), PostgreSQL (a private
server from ``shardline.sinks.testing``, fsync on), DynamoDB (moto in server mode:
moto copies the whole table for every transaction, so its figure measures moto far
more than the sink and falls as the table grows).

Usage: ``python bench/sink_bench.py [--records 5000] [--batch 100] [--json out]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shardline.sinks import DynamoDBSink, IdempotentSink, PostgresSink, SinkRecord, SQLiteSink
from shardline.sinks.testing import LocalPostgres
from shardline.testing import moto_server

SERIAL_MOTO = Path(__file__).resolve().parents[1] / "tests/integration/sinks/serial_moto.py"


async def measure(sink: IdempotentSink, records: list[SinkRecord], batch: int) -> dict[str, Any]:
    async with sink:
        rates = {}
        for phase in ("write", "replay"):
            started = time.perf_counter()
            for start in range(0, len(records), batch):
                await sink.write(records[start : start + batch])
            rates[f"{phase}_rec_per_s"] = round(len(records) / (time.perf_counter() - started))
        counts = sink.counts
        assert counts.applied == len(records) and counts.duplicates == len(records)
        return {"records": len(records), **rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--dynamodb-records", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    records = [
        SinkRecord(f"SYM{i % 50}", uuid.uuid4().hex, i, {"price": 100 + i / 100}, "us-east-1")
        for i in range(args.records)
    ]
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    results: dict[str, Any] = {"batch": args.batch}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalPostgres() as pg,
        moto_server(lambda port: [sys.executable, str(SERIAL_MOTO), str(port)]) as url,
    ):
        backends: dict[str, Callable[[], IdempotentSink]] = {
            "sqlite": lambda: SQLiteSink(Path(tmp) / "sink.db", "prices"),
            "postgres": lambda: PostgresSink(pg.conninfo, "prices"),
            "dynamodb_moto": lambda: DynamoDBSink(
                "prices", endpoint_url=url, client_options=credentials
            ),
        }
        for name, make in backends.items():
            count = args.dynamodb_records if name == "dynamodb_moto" else args.records
            results[name] = asyncio.run(measure(make(), records[:count], args.batch))
            print(name, results[name], flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
